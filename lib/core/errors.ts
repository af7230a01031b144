/**
 * The one error type of multiverse. Every failure that crosses a module
 * boundary is an {@link AppError} with a stable `code`; the API maps the code
 * to an HTTP status and the client maps it to an exit status.
 */

/** Stable error codes. They appear on the wire in `{ "error": { "code" } }`. */
export type ErrorCode =
  | "E_USAGE" // bad input from a user or a caller: 400
  | "E_UNAUTHORIZED" // missing or wrong token: 401
  | "E_FORBIDDEN" // a valid credential, but the request is refused (a cross-site request with the cookie): 403
  | "E_NOT_FOUND" // no such node or instance: 404
  | "E_AMBIGUOUS" // a bare name matches several nodes: 409
  | "E_CONFLICT" // the name is taken, the instance is busy: 409
  | "E_TOO_LARGE" // a request body over the limit: 413
  | "E_RATE_LIMITED" // too many failed attempts: 429
  | "E_MULTIPASS" // multipass failed on the node: 502
  | "E_UNREACHABLE" // a node or the master cannot be reached: 502
  | "E_PROTOCOL" // a peer sent something we cannot parse: 502
  | "E_TIMEOUT" // a node or multipass did not answer in time: 504
  | "E_UNAVAILABLE" // the feature is not available on this node: 501
  | "E_STORAGE" // the master cannot write its data dir (audit trail): 503
  | "E_CANCELLED" // the call or session ended before its work did (a peer left): 499
  | "E_INTERNAL"; // a bug: 500

const STATUS: Record<ErrorCode, number> = {
  E_USAGE: 400,
  E_UNAUTHORIZED: 401,
  E_FORBIDDEN: 403,
  E_NOT_FOUND: 404,
  E_AMBIGUOUS: 409,
  E_CONFLICT: 409,
  E_TOO_LARGE: 413,
  E_RATE_LIMITED: 429,
  E_MULTIPASS: 502,
  E_UNREACHABLE: 502,
  E_PROTOCOL: 502,
  E_TIMEOUT: 504,
  E_UNAVAILABLE: 501,
  E_STORAGE: 503,
  E_CANCELLED: 499,
  E_INTERNAL: 500,
};

/** Extra, machine-readable facts that travel with an error (candidates of an ambiguous name, …). */
export type ErrorDetails = Record<string, unknown>;

export class AppError extends Error {
  override name = "AppError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: ErrorDetails } = {},
  ) {
    super(message, { cause: options.cause });
    this.details = options.details;
  }
  readonly details: ErrorDetails | undefined;

  /** The HTTP status the API answers with for this error. */
  get status(): number {
    return STATUS[this.code];
  }
}

/** Whether `value` names a known error code (used when parsing errors off the wire). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(STATUS, value);
}

/** An E_USAGE error: bad input from a user or a caller. */
export function usageError(message: string, options: { cause?: unknown; details?: ErrorDetails } = {}): AppError {
  return new AppError("E_USAGE", message, options);
}

/** The errno code (`"ENOENT"`, `"ECONNRESET"`, …) of a system or network error, or null. */
export function errnoOf(error: unknown): string | null {
  if (typeof error !== "object" || error === null || !("code" in error)) return null;
  return typeof error.code === "string" ? error.code : null;
}

/** The message of anything thrown, for logs and one-line reports. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ConnectionRefused: "connection refused",
  ECONNRESET: "connection reset",
  ECONNABORTED: "connection aborted",
  ConnectionClosed: "connection closed",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed for now",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EADDRNOTAVAIL: "address not available",
  FailedToOpenSocket: "cannot open a socket",
  EPIPE: "connection closed",
  EPROTO: "the TLS handshake failed",
};

/**
 * A network failure in a few words, never fetch's advice: Bun's messages end
 * in questions ("Is the computer able to access the url?", "Was there a typo
 * in the url or port?") that read as if multiverse asked them.
 */
export function describeNetworkError(error: unknown): string {
  const code = errnoOf(error);
  if (code !== null && NETWORK_CODES[code]) return NETWORK_CODES[code];
  const text = messageOf(error).slice(0, 500);
  const withoutCode = code !== null && text.startsWith(`${code}: `) ? text.slice(code.length + 2) : text;
  const statement = withoutCode
    .split(/(?<=[.?!])\s+/)
    .find((s) => s.trim() !== "" && !s.trim().endsWith("?"))
    ?.trim()
    .replace(/\.$/, "")
    .slice(0, 200);
  if (!statement) return code === null ? "network error" : `network error (${code})`;
  return code === null || statement.includes(code) ? statement : `${statement} (${code})`;
}

/** Wraps anything thrown into an AppError, keeping AppErrors as they are. */
export function toAppError(error: unknown, fallback: ErrorCode = "E_INTERNAL"): AppError {
  if (error instanceof AppError) return error;
  return new AppError(fallback, messageOf(error), { cause: error });
}
