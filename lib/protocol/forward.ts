/**
 * Forwards (issue 14), on the session wire of session.ts: a `forward`
 * session carries one TCP connection to a port of the instance.
 *
 * - Binary frames are the connection's bytes as they are, both ways (no
 *   stream byte).
 * - `eof` from the client half-closes the connection towards the service;
 *   `eof` from the worker says the service has half-closed its side.
 * - The connection's own end is `exit` 0; a failure (refused, reset, timed
 *   out, the instance going down) is `error` then `exit` null.
 * - The start frame (and the route's query) names a port and nothing else:
 *   the worker dials only the address Multipass reports for the instance,
 *   so an address — or any field it does not know — is refused.
 */
import { AppError } from "../core/errors.ts";
import { arrayOf, boolean, field, integer, ParseError, string, type JsonObject } from "../core/parse.ts";
import type { SessionSpec } from "./session.ts";

/** A forward has no terminal: the size and TERM its spec carries are placeholders. */
const NO_TERMINAL = { cols: 80, rows: 24, term: "dumb" } as const;

/** The fields a forward's start frame may carry; anything else (an address above all) is refused. */
const FORWARD_FIELDS: ReadonlySet<string> = new Set(["type", "kind", "instance", "port", "command", "tty", "cols", "rows", "term", "id", "owner"]);
/** What a forward's query may carry. */
const FORWARD_QUERY: ReadonlySet<string> = new Set(["port", "keepalive"]);

/** The refusal of a field or parameter a forward does not take; naming an address says why it never will. */
function forwardRefusal(key: string): AppError {
  const name = JSON.stringify(key.slice(0, 40));
  if (/addr|host|ip|target|dest/i.test(key)) {
    return new AppError("E_USAGE", `A forward reaches only the instance's own address, as Multipass reports it: it takes a port, never an address (${name} refused)`);
  }
  return new AppError("E_USAGE", `A forward takes only a port: ${name} refused`);
}

/** Checks a TCP port number. @throws AppError E_USAGE */
export function validatePort(port: number, what = "port"): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new AppError("E_USAGE", `Invalid ${what} ${String(port).slice(0, 20)}: expected a number between 1 and 65535`);
  return port;
}

/** What every new session's start frame carries, parsed by session.ts. */
export type CommonStart = Pick<SessionSpec, "instance" | "cols" | "rows" | "term" | "id" | "owner">;

/**
 * A forward's start frame: a port of the instance, no command, no terminal,
 * no field it does not know (checked first); `common` parses the rest.
 * @throws ParseError / AppError E_USAGE
 */
export function parseForwardSpec(o: JsonObject, common: () => CommonStart): SessionSpec {
  for (const key of Object.keys(o)) if (!FORWARD_FIELDS.has(key)) throw forwardRefusal(key);
  if (field(o, "command", "start", arrayOf(string)).length > 0) throw new ParseError("start.command", "a forward takes no command", "E_USAGE");
  if (field(o, "tty", "start", boolean)) throw new ParseError("start.tty", "a forward has no terminal", "E_USAGE");
  return { kind: "forward", ...common(), command: [], tty: false, port: validatePort(field(o, "port", "start", integer)) };
}

/**
 * The start frame of `GET /api/v1/instances/:ref/forward?port=N`: `port`
 * (and `keepalive`) and nothing else; an address is refused.
 * @throws AppError E_USAGE
 */
export function forwardFromQuery(instance: string, query: URLSearchParams): SessionSpec {
  for (const key of query.keys()) if (!FORWARD_QUERY.has(key)) throw forwardRefusal(key);
  const text = query.get("port");
  if (text === null) throw new AppError("E_USAGE", "No port given: forward?port=N");
  if (!/^\d{1,5}$/.test(text)) throw new AppError("E_USAGE", `Invalid port "${text.slice(0, 20)}": expected a number between 1 and 65535`);
  return { kind: "forward", instance, command: [], tty: false, ...NO_TERMINAL, port: validatePort(Number(text)) };
}
