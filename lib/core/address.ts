/**
 * HOST:PORT addresses as users type them on the command line.
 */
import { AppError, usageError } from "./errors.ts";

export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses `HOST:PORT`, `[v6]:PORT`, or `:PORT` (host = `defaultHost`).
 * Port 0 is allowed where `allowZero` is set (listen on any free port).
 * @throws AppError E_USAGE naming the flag and the value.
 */
export function parseHostPort(
  text: string,
  flag: string,
  options: { defaultHost?: string; allowZero?: boolean } = {},
): HostPort {
  const bad = (why: string) => new AppError("E_USAGE", `Invalid ${flag} "${text}": ${why}`);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw bad("expected HOST:PORT");
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  if (port > 65535 || (port === 0 && !options.allowZero)) throw bad(`port must be 1-65535`);
  if (host === "") {
    if (options.defaultHost === undefined) throw bad("missing host");
    return { host: options.defaultHost, port };
  }
  if (!/^[A-Za-z0-9.-]+$/.test(host) && !m[1]) throw bad("host may contain only letters, digits, '.' and '-'");
  return { host, port };
}

/** Formats an address so it can be parsed back (IPv6 in brackets). */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A base URL (`http://host:port`) for an address. */
export function httpUrl(addr: HostPort, scheme: "http" | "ws" = "http"): string {
  return `${scheme}://${formatHostPort(addr)}`;
}

/** Loopback hosts, where tokens never leave the machine. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host) || host === "::ffff:127.0.0.1";
}

/** Strips the IPv4-mapped prefix Bun reports for IPv4 peers on dual-stack sockets. */
export function normalizePeerAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/** Where a worker or a client finds the master. */
export interface MasterAddress {
  /**
   * The base URL that paths are appended to: the scheme in lower case, then
   * `HOST:PORT` (or `HOST` when a URL left the port out), then the path prefix
   * if any.
   */
  url: string;
  /** The host and port dialled; a URL without a port means 80 (http) or 443 (https). */
  addr: HostPort;
  tls: boolean;
}

const MASTER_SCHEME = /^(https?):\/\//i;
/** `[IPv6]` or a name or IPv4 address (the URL parser has the last word), then an optional port. */
const MASTER_AUTHORITY = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s/?#@[\]:]+))(?::(\d{1,5}))?$/;
const MASTER_PATH = /^[^\s?#]*$/;

/**
 * The master's address, as the worker's `--master` and the client's
 * `--master` (or MULTIVERSE_MASTER) take it. One set of rules:
 * - `HOST:PORT` (`[IPv6]:PORT` for IPv6) is a master on plain http;
 * - an `http://` or `https://` URL (the scheme in any case) says which; https
 *   means TLS. Its port may be left out (80 or 443), and it may have a path
 *   (a master behind a proxy, under a prefix);
 * - HOST is a host name or an IP address, without user info; PORT is 1-65535;
 *   there is no query or fragment;
 * - surrounding whitespace, and slashes at the end, are dropped.
 * @throws AppError E_USAGE naming `flag` and quoting the value.
 */
export function parseMasterAddress(text: string, flag: string): MasterAddress {
  const bad = (why: string) => usageError(`Invalid ${flag} "${text.slice(0, 200)}": ${why}`);
  const expected = "expected HOST:PORT, or a URL such as https://HOST:PORT";
  const t = text.trim();
  const scheme = MASTER_SCHEME.exec(t);
  const tls = scheme?.[1]?.toLowerCase() === "https";
  const rest = scheme ? t.slice(scheme[0].length) : t;
  const slash = rest.indexOf("/");
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? "" : rest.slice(slash).replace(/\/+$/, "");
  const m = MASTER_AUTHORITY.exec(authority);
  if (!m || !MASTER_PATH.test(path)) throw bad(expected);
  // Without a scheme, the port is what tells an address from a word.
  if (!scheme && (m[3] === undefined || path !== "")) throw bad(expected);
  const host = m[1] ?? m[2] ?? "";
  const port = m[3] === undefined ? (tls ? 443 : 80) : Number(m[3]);
  if (port < 1 || port > 65535) throw bad("port must be 1-65535");
  const addr = { host, port };
  const url = `${tls ? "https" : "http"}://${m[3] === undefined ? authority : formatHostPort(addr)}${path}`;
  if (!URL.canParse(url)) throw bad(expected);
  return { url, addr, tls };
}
