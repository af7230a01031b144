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
import { parseErrorBody, parseHealthRole, type HealthRole } from "../protocol/api.ts";

/** TLS options of the client's connections to an https master (fetch and WebSocket take them as they are). */
export type ClientTls = { ca?: string; checkServerIdentity?: (host: string, cert: { fingerprint256?: string }) => Error | undefined };

export interface ApiClientOptions {
  /** `http://host:port` of the master API. */
  baseUrl: string;
  token: string | null;
  /** Without a token: why there is none and where to give one, for the error of a refused call. */
  missingToken?: string;
  /** With a token: where it came from ("given with --token", "found in FILE …"), for the error of a refused call. */
  tokenSource?: string;
  /** Limit of a short call: its whole answer must arrive within it. */
  timeoutMs: number;
  /** How long a streamed answer may stay silent before the master is taken for lost (default STREAM_SILENCE_MS). */
  silenceMs?: number;
  /** Trust for an https master: its CA, or its self-signed certificate, and a check of its certificate's pinned fingerprint. */
  tls?: ClientTls;
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
  readonly tls: ClientTls | undefined;
  /**
   * GET `path` (with its query), answered within the client's limit or `timeoutMs`.
   * @throws AppError E_UNREACHABLE when the master cannot be reached,
   *   E_TIMEOUT when it does not answer in time, E_UNAUTHORIZED when the
   *   token is missing or refused, or the API's error.
   */
  get(path: string, options?: { timeoutMs?: number }): Promise<ApiAnswer>;
  /** POST a JSON body, answered within the client's limit; same errors as `get`. */
  post(path: string, body: unknown): Promise<ApiAnswer>;
  /** DELETE `path` (with its query), answered within the client's limit; same errors as `get`. */
  delete(path: string): Promise<ApiAnswer>;
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
  const call = (path: string, body: unknown, extra: { accept?: string; signal?: AbortSignal; method?: "DELETE" }) =>
    fetchPeer(doFetch, { url: baseUrl + path, token: options.token, ...(options.tls ? { tls: options.tls } : {}), json: body, ...extra });

  async function request(path: string, body: unknown, timeoutMs: number, method?: "DELETE"): Promise<ApiAnswer> {
    let response: Response;
    let text: string;
    try {
      response = await call(path, body, { signal: AbortSignal.timeout(timeoutMs), ...(method ? { method } : {}) });
      text = await response.text();
    } catch (error) {
      throw unreachable(baseUrl, options.tls, error);
    }
    return answer(response, text);
  }

  async function answer(response: Response, text: string): Promise<ApiAnswer> {
    let json: unknown;
    try {
      json = parseJson(text, "answer");
    } catch {
      throw new AppError("E_PROTOCOL", `The master at ${baseUrl} answered HTTP ${response.status} with something that is not JSON; is this a multiverse master?`);
    }
    if (response.ok) return { text, json };
    const e = parseErrorBody(json)?.error;
    if (response.status === 401) throw unauthorized(baseUrl, options, e?.message ?? "unauthorized");
    if (!e) throw new AppError("E_PROTOCOL", `The master at ${baseUrl} answered HTTP ${response.status}`);
    if (response.status === 404 && e.code === "E_NOT_FOUND" && e.message.startsWith("No route ")) {
      const probe = () => call("/healthz", undefined, { signal: AbortSignal.timeout(Math.min(options.timeoutMs, HEALTH_PROBE_MS)) });
      throw await noRoute(baseUrl, probe, e.message);
    }
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
    delete: (path) => request(path, undefined, options.timeoutMs, "DELETE"),
    async stream(path, body, streamOptions = {}) {
      const watch = watchSilence(silenceMs);
      const user = streamOptions.signal;
      const signal = user ? AbortSignal.any([watch.signal, user]) : watch.signal;
      let response: Response;
      try {
        response = await call(path, body, { accept: "application/x-ndjson", signal });
      } catch (error) {
        watch.stop();
        if (!user?.aborted && !watch.silent && neverDelivered(error)) throw unreachable(baseUrl, options.tls, error);
        // The call may have reached the master, which may be carrying it out.
        throw broken(error, watch, user);
      }
      if (!response.ok || !response.body) {
        watch.stop();
        await answer(response, await response.text());
        throw new AppError("E_PROTOCOL", `The master at ${baseUrl} answered HTTP ${response.status} without a stream`);
      }
      return lines(response.body, watch, user);
    },
  };
}

/** A 401: no token was found (and where the client looked), or the one sent was refused (and where it came from). */
function unauthorized(baseUrl: string, options: ApiClientOptions, message: string): AppError {
  if (!options.token) {
    const why = options.missingToken || "no token was given: give one with --token or --token-file, or set MULTIVERSE_API_TOKEN";
    return new AppError("E_UNAUTHORIZED", `The master at ${baseUrl} needs an API token and ${why}`);
  }
  const from = options.tokenSource ? ` ${options.tokenSource}` : "";
  return new AppError("E_UNAUTHORIZED", `The master at ${baseUrl} refused the token${from}: ${message}`);
}

/** Which server answers on the port, when it says (its `GET /healthz`); null when it cannot be told. */
async function roleOfPort(probe: () => Promise<Response>): Promise<HealthRole | null> {
  try {
    const response = await probe();
    return parseHealthRole(parseJson(await response.text(), "health"));
  } catch {
    return null;
  }
}

/** A route the master does not know: said plainly when the port is not the master's API at all. */
async function noRoute(baseUrl: string, probe: () => Promise<Response>, message: string): Promise<AppError> {
  const role = await roleOfPort(probe);
  const api = `the master's API port (its --api-addr, default ${DEFAULT_API_PORT})`;
  if (role === "master-cluster") {
    return new AppError("E_NOT_FOUND", `${baseUrl} is the master's cluster port, where workers join; the client API is on ${api}: point --master there`);
  }
  if (role === "worker-agent") return new AppError("E_NOT_FOUND", `${baseUrl} is a worker's agent port, not a master; point --master at ${api}`);
  return new AppError("E_NOT_FOUND", message);
}

/** How long the client waits for `GET /healthz` when it asks which server answered on a port. */
const HEALTH_PROBE_MS = 5_000;

/** Where a master with default settings serves its API on this machine. */
export const DEFAULT_MASTER = "http://localhost:1338";

/** The API port of a master with default settings, for messages. */
const DEFAULT_API_PORT = new URL(DEFAULT_MASTER).port;

/** Connection failures that come before a request is sent: the master cannot have seen it. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * Whether a failed call certainly never reached the master (no connection,
 * or a certificate refused before anything was sent). Anything else — a
 * reset, a close — may have come after the master took the call.
 */
function neverDelivered(error: unknown): boolean {
  const code = errnoOf(error);
  return code !== null && (NOT_SENT.has(code) || isCertificateError(code));
}

/** Whether an error code says the master's certificate failed verification (Bun uses OpenSSL's names). */
function isCertificateError(code: string | null): boolean {
  return code !== null && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME/.test(code);
}

function unreachable(baseUrl: string, tls: ClientTls | undefined, error: unknown): AppError {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return new AppError("E_TIMEOUT", `The master at ${baseUrl} did not answer in time`);
  }
  const code = errnoOf(error);
  const cannot = `Cannot reach the master at ${baseUrl}`;
  if (isCertificateError(code)) {
    const why = describeNetworkError(error);
    const fix = tls
      ? "the CA given (--ca or MULTIVERSE_CA) does not vouch for it: give the master's own certificate or the CA that signed it"
      : "if you trust it, pass the master's certificate or its CA with --ca FILE (or set MULTIVERSE_CA)";
    return new AppError("E_UNREACHABLE", `${cannot}: its TLS certificate is not trusted: ${why}; ${fix}`, { cause: error });
  }
  if (code === "EPROTO" && baseUrl.startsWith("https:")) {
    return new AppError("E_UNREACHABLE", `${cannot}: ${describeNetworkError(error)}; if the master does not use TLS, use an http:// URL`, { cause: error });
  }
  return new AppError("E_UNREACHABLE", `${cannot}: ${describeNetworkError(error)}`, { cause: error });
}
