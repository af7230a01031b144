/**
 * The console's calls to the master's API: same origin, authenticated by the
 * session cookie. Every answer goes through a parser of lib/protocol, every
 * failure becomes an {@link ApiError} with the master's own words.
 */
import { isErrorCode, type ErrorCode } from "../core/errors.ts";
import { readLines } from "../core/ndjson.ts";
import { parseJson } from "../core/parse.ts";
import { parseErrorBody } from "../protocol/api.ts";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | null,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** Called when the master answers 401 to a call made with the cookie: the session ended. */
let onUnauthorized: () => void = () => {};

export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

async function failure(response: Response, what: string): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  let body = null;
  try {
    body = parseErrorBody(parseJson(text, "error"));
  } catch {
    body = null;
  }
  const code = body?.error.code ?? null;
  const message = body?.error.message ?? `${what} failed: the master answered ${response.status} ${response.statusText}`.trim();
  return new ApiError(response.status, code !== null && isErrorCode(code) ? code : null, message);
}

/**
 * One call; resolves with the response when it is 2xx.
 * @throws ApiError with the master's message, or E_UNREACHABLE words when the master cannot be reached
 */
export async function call(path: string, init: RequestInit = {}, what = "The request"): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, { credentials: "same-origin", ...init });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, "E_UNREACHABLE", `${what} failed: the master cannot be reached`);
  }
  if (response.ok) return response;
  const err = await failure(response, what);
  if (response.status === 401 && !path.startsWith("/api/v1/session")) onUnauthorized();
  throw err;
}

/** GET a JSON answer and parse it. @throws ApiError, ParseError */
export async function getJson<T>(path: string, parse: (value: unknown) => T, signal?: AbortSignal): Promise<T> {
  const response = await call(path, { headers: { Accept: "application/json" }, ...(signal ? { signal } : {}) });
  return parse(parseJson(await response.text(), path));
}

/** POST a JSON body and parse the JSON answer (null for 204). @throws ApiError, ParseError */
export async function postJson<T>(path: string, body: unknown, parse: (value: unknown) => T, signal?: AbortSignal): Promise<T> {
  const response = await call(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  const text = await response.text();
  return parse(text === "" ? null : parseJson(text, path));
}

async function* chunksOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * POST a JSON body asking for NDJSON, and hand each parsed line to `onEvent`
 * as it arrives. @throws ApiError before the stream, ParseError on a bad line
 */
export async function postStream<T>(path: string, body: unknown, parse: (value: unknown) => T, onEvent: (event: T) => void, signal?: AbortSignal): Promise<void> {
  const response = await call(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/x-ndjson" },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  if (response.body === null) return;
  for await (const line of readLines(chunksOf(response.body))) onEvent(parse(parseJson(line, "stream line")));
}

/** The words of any failure, for the page. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
