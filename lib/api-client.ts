/**
 * The client's connection to the master API: one place that turns transport
 * failures, refused tokens and error bodies into one-line AppErrors.
 */
import { AppError, messageOf } from "./errors.ts";
import { parseErrorBody } from "./protocol.ts";

export interface ApiClientOptions {
  /** `http://host:port` of the master API. */
  baseUrl: string;
  token: string | null;
  timeoutMs: number;
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
  /**
   * GET `path` (with its query).
   * @throws AppError E_UNREACHABLE when the master cannot be reached,
   *   E_UNAUTHORIZED when the token is missing or refused, or the API's error.
   */
  get(path: string): Promise<ApiAnswer>;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const doFetch = options.fetch ?? fetch;
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  return {
    baseUrl,
    token: options.token,
    async get(path) {
      let response: Response;
      let text: string;
      try {
        response = await doFetch(baseUrl + path, {
          headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        text = await response.text();
      } catch (error) {
        throw unreachable(baseUrl, error);
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
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
    },
  };
}

function unreachable(baseUrl: string, error: unknown): AppError {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return new AppError("E_TIMEOUT", `The master at ${baseUrl} did not answer in time`);
  }
  const code = (error as { code?: unknown }).code;
  const why =
    code === "ECONNREFUSED" ? "connection refused" : code === "ENOTFOUND" ? "host not found" : messageOf(error);
  return new AppError("E_UNREACHABLE", `Cannot reach the master at ${baseUrl}: ${why}`);
}
