/**
 * The client's connection to the master API: one place that turns transport
 * failures, refused tokens and error bodies into one-line AppErrors.
 */
import { AppError, describeNetworkError } from "../core/errors.ts";
import { readLines } from "../core/ndjson.ts";
import { parseJson } from "../core/parse.ts";
import { fetchPeer } from "../net/fetch.ts";
import { parseErrorBody } from "../protocol/api.ts";

export interface ApiClientOptions {
  /** `http://host:port` of the master API. */
  baseUrl: string;
  token: string | null;
  timeoutMs: number;
  /** Trust for an https master: its CA, or its self-signed certificate. */
  tls?: { ca: string };
  fetch?: typeof fetch;
}

/** A successful answer: its exact text (for `--json`) and the parsed JSON. */
export interface ApiAnswer {
  text: string;
  json: unknown;
}

export interface ApiClient {
  readonly baseUrl: string;
  /** The token requests carry, for other connections to the same master (sessions). */
  readonly token: string | null;
  /** The TLS trust requests use, for other connections to the same master. */
  readonly tls: { ca: string } | undefined;
  /**
   * GET `path` (with its query).
   * @throws AppError E_UNREACHABLE when the master cannot be reached,
   *   E_UNAUTHORIZED when the token is missing or refused, or the API's error.
   */
  get(path: string): Promise<ApiAnswer>;
  /** POST a JSON body; same errors as `get`. */
  post(path: string, body: unknown): Promise<ApiAnswer>;
  /**
   * POST a JSON body and read an NDJSON answer: its lines as they stream,
   * without their newline.
   * @throws AppError as `get` for a refused call; E_UNREACHABLE when the
   *   stream breaks before it ends, E_PROTOCOL for a line past the NDJSON bound.
   */
  lines(path: string, body: unknown): AsyncGenerator<string>;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const doFetch = options.fetch ?? fetch;
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const call = (path: string, body: unknown, extra: { accept?: string; signal?: AbortSignal }) =>
    fetchPeer(doFetch, { url: baseUrl + path, token: options.token, ...(options.tls ? { tls: options.tls } : {}), json: body, ...extra });

  async function request(path: string, body?: unknown): Promise<ApiAnswer> {
    let response: Response;
    let text: string;
    try {
      response = await call(path, body, { signal: AbortSignal.timeout(options.timeoutMs) });
      text = await response.text();
    } catch (error) {
      throw unreachable(baseUrl, error);
    }
    return answer(response, text);
  }

  function answer(response: Response, text: string): ApiAnswer {
    let json: unknown;
    try {
      json = parseJson(text, "answer");
    } catch {
      throw new AppError("E_PROTOCOL", `The master at ${baseUrl} answered HTTP ${response.status} with something that is not JSON; is this a multiverse master?`);
    }
    if (response.ok) return { text, json };
    const e = parseErrorBody(json)?.error;
    if (response.status === 401) {
      const hint = options.token ? "" : " (no token given: pass --token or set MULTIVERSE_API_TOKEN)";
      throw new AppError("E_UNAUTHORIZED", `The master at ${baseUrl} refused the token: ${e?.message ?? "unauthorized"}${hint}`);
    }
    if (!e) throw new AppError("E_PROTOCOL", `The master at ${baseUrl} answered HTTP ${response.status}`);
    throw new AppError(e.code, e.message, { details: e.candidates ? { candidates: e.candidates } : undefined });
  }

  return {
    baseUrl,
    token: options.token,
    tls: options.tls,
    get: (path) => request(path),
    post: (path, body) => request(path, body),
    async *lines(path, body) {
      let response: Response;
      try {
        response = await call(path, body, { accept: "application/x-ndjson" });
      } catch (error) {
        throw unreachable(baseUrl, error);
      }
      if (!response.ok || !response.body) {
        answer(response, await response.text());
        throw new AppError("E_PROTOCOL", `The master at ${baseUrl} answered HTTP ${response.status} without a stream`);
      }
      try {
        yield* readLines(response.body);
      } catch (error) {
        if (error instanceof AppError) throw error;
        throw new AppError("E_UNREACHABLE", `Lost the connection to the master at ${baseUrl} (${describeNetworkError(error)})`);
      }
    },
  };
}

function unreachable(baseUrl: string, error: unknown): AppError {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return new AppError("E_TIMEOUT", `The master at ${baseUrl} did not answer in time`);
  }
  return new AppError("E_UNREACHABLE", `Cannot reach the master at ${baseUrl}: ${describeNetworkError(error)}`);
}
