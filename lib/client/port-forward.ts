/**
 * `port-forward NAME[@NODE] [LOCAL:]REMOTE...` (issue 14): listens on local
 * ports and carries each accepted TCP connection through the master and the
 * instance's worker to the instance's own address (forward-link.ts: one
 * session socket per connection). A connection that fails ends alone, its
 * reason on stderr; the forward goes on until Ctrl-C (or SIGTERM, SIGHUP),
 * which closes the listeners and every connection and exits 130, the
 * client's status for an interrupted command (lib/cli/run.ts EXIT).
 */
import type { Socket, TCPSocketListener } from "bun";
import { defineCommand } from "citty";
import { withNotes } from "../cli/help.ts";
import { EXIT } from "../cli/run.ts";
import { formatHostPort } from "../core/address.ts";
import { AppError, usageError } from "../core/errors.ts";
import { stripControl } from "../core/format.ts";
import { SocketWriter, socketFailure } from "../net/tcp.ts";
import { validatePort } from "../protocol/forward.ts";
import type { ApiClient } from "./api-client.ts";
import { apiFor, resolveRef, type ClientContext } from "./context.ts";
import { ForwardLink, type ForwardOutcome, type LocalEnd } from "./forward-link.ts";
import { diagnoser, sessionArgs } from "./sessions.ts";

/** A local port and the instance's port it forwards to; local 0: any free port. */
export interface PortPair {
  local: number;
  remote: number;
}

/** Connections one forward carries at once; more are closed as they come, with a line saying so. */
export const MAX_CONNECTIONS = 512;

/**
 * `8080` (8080 → 8080), `9000:80`, or `:80` / `0:80` (any free local port).
 * @throws AppError E_USAGE
 */
export function parsePortPair(text: string): PortPair {
  const match = /^(?:(\d{0,5}):)?(\d{1,5})$/.exec(text);
  if (!match) throw usageError(`Invalid port pair "${text.slice(0, 40)}": expected [LOCAL:]REMOTE, as in 8080, 9000:80 or :80`);
  const remote = validatePort(Number(match[2]), "remote port");
  const localText = match[1];
  if (localText === undefined) return { local: remote, remote };
  const local = localText === "" ? 0 : Number(localText);
  return { local: local === 0 ? 0 : validatePort(local, "local port"), remote };
}

/** The route of a forward to `port` of `ref` (`NAME@NODE`). */
export function forwardPath(ref: string, port: number): string {
  return `/api/v1/instances/${encodeURIComponent(ref)}/forward?port=${port}`;
}

/** One forwarded connection on the master's session route, its local end given. */
export function openForward(api: ApiClient, ref: string, port: number, local: LocalEnd, onEnd: (outcome: ForwardOutcome) => void): ForwardLink {
  const path = forwardPath(ref, port);
  const target = { url: `${api.baseUrl.replace(/^http/, "ws")}${path}`, token: api.token, tls: api.tls };
  return new ForwardLink({ target, path, local, onEnd, diagnose: diagnoser(api) });
}

interface Connection {
  link: ForwardLink | null;
  writer: SocketWriter;
}

export interface Forwarder {
  /** `ADDRESS:PORT -> NAME@NODE:PORT`, one per pair, with the ports actually bound. */
  readonly lines: string[];
  /** Closes the listeners and every connection. Idempotent. */
  close(): void;
}

export interface ForwarderOptions {
  api: ApiClient;
  ref: string;
  address: string;
  pairs: PortPair[];
  /** A connection failed: why, as a line for stderr. */
  failed: (line: string) => void;
}

/**
 * Listens on every pair; a pair that cannot listen (its port in use) closes
 * those already listening. @throws AppError E_CONFLICT, E_USAGE
 */
export function startForwarder(options: ForwarderOptions): Forwarder {
  const { api, ref, address } = options;
  const connections = new Map<Socket<undefined>, Connection>();
  const listeners: TCPSocketListener<undefined>[] = [];
  const lines: string[] = [];
  let closed = false;

  const close = () => {
    if (closed) return;
    closed = true;
    for (const listener of listeners) listener.stop(true);
    for (const [socket, conn] of [...connections]) {
      conn.link?.close("client interrupted");
      socket.terminate();
    }
    connections.clear();
  };

  const listen = (pair: PortPair) => {
    const label = (local: number) => `${formatHostPort({ host: address, port: local })} -> ${ref}:${pair.remote}`;
    let listener: TCPSocketListener<undefined>;
    try {
      listener = Bun.listen({
        hostname: address,
        port: pair.local,
        allowHalfOpen: true,
        socket: {
          binaryType: "uint8array",
          open(socket) {
            if (closed) return socket.terminate();
            if (connections.size >= MAX_CONNECTIONS) {
              options.failed(`${label(listener.port)}: refused a connection: ${MAX_CONNECTIONS} are open already`);
              return socket.terminate();
            }
            const conn: Connection = { link: null, writer: new SocketWriter(socket) };
            connections.set(socket, conn);
            conn.link = openForward(api, ref, pair.remote, tcpEnd(socket, conn.writer), (outcome) => {
              connections.delete(socket);
              if (!outcome.ok && !closed) options.failed(`${ref}:${pair.remote}: ${outcome.failure.message}`);
            });
          },
          data: (socket, bytes: Uint8Array) => connections.get(socket)?.link?.input(bytes),
          drain(socket) {
            const conn = connections.get(socket);
            if (conn?.writer.drain()) conn.link?.writable();
          },
          end: (socket) => connections.get(socket)?.link?.inputEnded(),
          close: (socket, error) => connections.get(socket)?.link?.localClosed(error !== undefined),
          error: () => {},
        },
      });
    } catch (error) {
      const where = pair.local === 0 ? `${address} (any port)` : formatHostPort({ host: address, port: pair.local });
      throw new AppError("E_CONFLICT", `Cannot listen on ${where}: ${socketFailure(error)}`, { cause: error });
    }
    listeners.push(listener);
    lines.push(`Forwarding ${label(listener.port)}`);
  };

  try {
    const locals = new Set<number>();
    for (const pair of options.pairs) {
      if (pair.local !== 0 && locals.has(pair.local)) throw usageError(`Local port ${pair.local} is given twice`);
      locals.add(pair.local);
    }
    for (const pair of options.pairs) listen(pair);
  } catch (error) {
    close();
    throw error;
  }
  return { lines, close };
}

/** The local end of a forwarded connection: an accepted TCP socket. */
function tcpEnd(socket: Socket<undefined>, writer: SocketWriter): LocalEnd {
  return {
    write: (bytes) => writer.write(bytes),
    end: () => writer.end(),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    close(failed) {
      // A failure resets the local connection, so the program on it sees one too, not a clean end.
      if (failed) socket.terminate();
      else writer.end();
    },
  };
}

export function portForwardCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes(
      { name: "port-forward", description: "Forward local ports to an instance's ports: port-forward NAME [LOCAL:]REMOTE..." },
      [
        "8080 forwards local 8080 to the instance's 8080; 9000:80 local 9000 to its 80; :80 any free local port to its 80.",
        "Only the instance's own address is reached, never another. A connection that fails ends alone, its reason on stderr.",
        "Ctrl-C closes the listeners and every connection (exit status 130).",
      ],
    ),
    args: {
      name: { type: "positional", required: true, description: "Instance, NAME or NAME@NODE" },
      ports: { type: "positional", required: true, valueHint: "[LOCAL:]REMOTE...", description: "Port pairs: local port, then the instance's" },
      address: { type: "string", default: "127.0.0.1", valueHint: "ADDR", description: "Local address to listen on" },
      ...sessionArgs,
    },
    async run({ args }) {
      const pairs = args._.slice(1).map((p) => parsePortPair(String(p)));
      if (pairs.length === 0) throw usageError("No ports given: port-forward NAME [LOCAL:]REMOTE...");
      const api = apiFor({ ...args, json: false }, ctx);
      const ref = await resolveRef(api, args.name);
      const forwarder = startForwarder({ api, ref, address: args.address, pairs, failed: (line) => ctx.stderr(stripControl(line) + "\n") });
      for (const line of forwarder.lines) ctx.stdout(stripControl(line) + "\n");
      return new Promise<number>((resolve) => {
        const off = ctx.terminal.onSignal(() => {
          off();
          forwarder.close();
          resolve(EXIT.interrupted);
        });
      });
    },
  });
}
