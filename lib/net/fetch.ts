/**
 * The one way multiverse makes an HTTP call to a peer (master → agent,
 * client → master, worker → master): a bearer token in the header (never in
 * the URL), an optional JSON body, an optional TLS setting for pinned or
 * private certificates, and an abort signal.
 */

/** Bun's TLS options of `fetch` (a CA, a pinned certificate check). */
export type FetchTls = NonNullable<BunFetchRequestInit["tls"]>;

export interface PeerRequest {
  url: string;
  /** Sent as `Authorization: Bearer …`; omitted when null or undefined. */
  token?: string | null;
  tls?: FetchTls;
  /** Serialized as JSON and sent with POST; without it the call is a GET. */
  json?: unknown;
  /** Overrides the method `json` implies (a DELETE, which carries no body). */
  method?: "DELETE";
  accept?: string;
  /** Further headers (the master's request id on calls that change a host). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Calls a peer. Throws what fetch throws (a network error, an abort). */
export function fetchPeer(doFetch: typeof fetch, request: PeerRequest): Promise<Response> {
  const headers: Record<string, string> = { ...request.headers };
  if (request.token) headers["authorization"] = `Bearer ${request.token}`;
  if (request.json !== undefined) headers["content-type"] = "application/json";
  if (request.accept !== undefined) headers["accept"] = request.accept;
  return doFetch(request.url, {
    ...(request.tls ? { tls: request.tls } : {}),
    method: request.method ?? (request.json === undefined ? "GET" : "POST"),
    headers,
    ...(request.json === undefined ? {} : { body: JSON.stringify(request.json) }),
    ...(request.signal ? { signal: request.signal } : {}),
  });
}
