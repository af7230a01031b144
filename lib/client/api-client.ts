/**
 * The client's connection to the master API: one place that turns transport
 * failures, refused tokens and error bodies into one-line AppErrors.
 *
 * Two kinds of call. A short one (a listing from the master's cache, a
 * launch plan) must be answered whole within a time limit. A call that waits
 * for a host (a launch, a lifecycle verb, a purge) streams: it may take as
 * long as the daemon does, and the master is taken for lost only when its
 * answer stays silent — not even a keepalive — for STREAM_SILENCE_MS.
 */
import { AppError, describeNetworkError, errnoOf } from "../core/errors.ts";
import { formatDuration } from "../core/duration.ts";
import { readLines } from "../core/ndjson.ts";
import { parseJson } from "../core/parse.ts";
import { STREAM_SILENCE_MS } from "../core/timers.ts";
import { fetchPeer } from "../net/fetch.ts";
import { heardChunks, watchSilence, type SilenceWatch } from "../net/silence.ts";
import { parseErrorBody } from "../protocol/api.ts";

export interface ApiClientOptions {
  /** `http://host:port` of the master API. */
  baseUrl: string;
  token: string | null;
  /** Without a token: why there is none and where to give one, for the error of a refused call. */
  missingToken?: string;
  /** Limit of a short call: its whole answer must arrive within it. */
  timeoutMs: number;
  /** How long a streamed answer may stay silent before the master is taken for lost (default STREAM_SILENCE_MS). */
  silenceMs?: number;
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
   * GET `path` (with its query), answered within the client's limit or `timeoutMs`.
   * @throws AppError E_UNREACHABLE when the master cannot be reached,
   *   E_TIMEOUT when it does not answer in time, E_UNAUTHORIZED when the
   *   token is missing or refused, or the API's error.
   */
  get(path: string, options?: { timeoutMs?: number }): Promise<ApiAnswer>;
  /** POST a JSON body, answered within the client's limit; same errors as `get`. */
  post(path: string, body: unknown): Promise<ApiAnswer>;
  /**
   * POSTs a JSON body for an NDJSON answer. Resolves once the master has
   * accepted the call, with the answer's lines (without their newline) as
   * they stream; keepalives are skipped.
   * @throws AppError, from the promise: as `post` for a refused call,
   *   E_UNREACHABLE when the master cannot be reached; from the lines: a
   *   {@link isLostMaster} error when the stream breaks or stays silent
   *   before it ends, E_PROTOCOL for a line past the NDJSON bound; from
   *   either: E_CANCELLED once `signal` aborts.
   */
  stream(path: string, body: unknown, options?: { signal?: AbortSignal }): Promise<AsyncIterable<string>>;
}

/** Whether `error` says the master was lost in the middle of a streamed call (which may go on without us). */
export function isLostMaster(error: unknown): error is AppError {
  return error instanceof AppError && error.code === "E_UNREACHABLE" && error.details?.["lostMaster"] === true;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const doFetch = options.fetch ?? fetch;
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const silenceMs = options.silenceMs ?? STREAM_SILENCE_MS;
  const call = (path: string, body: unknown, extra: { accept?: string; signal?: AbortSignal }) =>
    fetchPeer(doFetch, { url: baseUrl + path, token: options.token, ...(options.tls ? { tls: options.tls } : {}), json: body, ...extra });

  async function request(path: string, body: unknown, timeoutMs: number): Promise<ApiAnswer> {
    let response: Response;
    let text: string;
    try {
      response = await call(path, body, { signal: AbortSignal.timeout(timeoutMs) });
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
      if (!options.token) {
        const why = options.missingToken || "no token was given: give one with --token or --token-file, or set MULTIVERSE_API_TOKEN";
        throw new AppError("E_UNAUTHORIZED", `The master at ${baseUrl} needs an API token and ${why}`);
      }
      throw new AppError("E_UNAUTHORIZED", `The master at ${baseUrl} refused the token: ${e?.message ?? "unauthorized"}`);
    }
    if (!e) throw new AppError("E_PROTOCOL", `The master at ${baseUrl} answered HTTP ${response.status}`);
    throw new AppError(e.code, e.message, { details: e.candidates ? { candidates: e.candidates } : undefined });
  }

  /** Why a streamed call broke: the user stopped watching, or the master was lost. */
  function broken(error: unknown, watch: SilenceWatch, signal: AbortSignal | undefined): AppError {
    if (signal?.aborted) return new AppError("E_CANCELLED", "Stopped watching");
    const why = watch.silent ? `nothing heard for ${formatDuration(silenceMs)}` : describeNetworkError(error);
    return new AppError("E_UNREACHABLE", `Lost the connection to the master at ${baseUrl} (${why})`, { cause: error, details: { lostMaster: true } });
  }

  async function* lines(body: ReadableStream<Uint8Array>, watch: SilenceWatch, signal: AbortSignal | undefined): AsyncGenerator<string> {
    try {
      yield* readLines(heardChunks(body, watch));
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw broken(error, watch, signal);
    } finally {
      watch.stop();
    }
  }

  return {
    baseUrl,
    token: options.token,
    tls: options.tls,
    get: (path, limits) => request(path, undefined, limits?.timeoutMs ?? options.timeoutMs),
    post: (path, body) => request(path, body, options.timeoutMs),
    async stream(path, body, streamOptions = {}) {
      const watch = watchSilence(silenceMs);
      const user = streamOptions.signal;
      const signal = user ? AbortSignal.any([watch.signal, user]) : watch.signal;
      let response: Response;
      try {
        response = await call(path, body, { accept: "application/x-ndjson", signal });
      } catch (error) {
        watch.stop();
        if (!user?.aborted && !watch.silent && neverDelivered(error)) throw unreachable(baseUrl, error);
        // The call may have reached the master, which may be carrying it out.
        throw broken(error, watch, user);
      }
      if (!response.ok || !response.body) {
        watch.stop();
        answer(response, await response.text());
        throw new AppError("E_PROTOCOL", `The master at ${baseUrl} answered HTTP ${response.status} without a stream`);
      }
      return lines(response.body, watch, user);
    },
  };
}

/** Connection failures that come before a request is sent: the master cannot have seen it. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * Whether a failed call certainly never reached the master (no connection,
 * or a certificate refused before anything was sent). Anything else — a
 * reset, a close — may have come after the master took the call.
 */
function neverDelivered(error: unknown): boolean {
  const code = errnoOf(error);
  return code !== null && (NOT_SENT.has(code) || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code));
}

function unreachable(baseUrl: string, error: unknown): AppError {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return new AppError("E_TIMEOUT", `The master at ${baseUrl} did not answer in time`);
  }
  return new AppError("E_UNREACHABLE", `Cannot reach the master at ${baseUrl}: ${describeNetworkError(error)}`);
}
