/**
 * HOST:PORT addresses as users type them on the command line.
 */
import { AppError } from "./errors.ts";

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

/**
 * The master as a worker names it: `HOST:PORT` (plain), or an `http://` or
 * `https://` URL (TLS). @throws AppError E_USAGE
 */
export function parseMasterAddress(text: string, flag: string): { url: string; addr: HostPort; tls: boolean } {
  const m = /^(https?):\/\/([^/]+)\/?$/i.exec(text.trim());
  if (m) {
    const tls = m[1]!.toLowerCase() === "https";
    const addr = parseHostPort(m[2]!, flag);
    return { url: `${tls ? "https" : "http"}://${formatHostPort(addr)}`, addr, tls };
  }
  const addr = parseHostPort(text, flag);
  return { url: httpUrl(addr), addr, tls: false };
}
