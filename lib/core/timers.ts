/**
 * The timers every hop of a long operation shares (client → master → worker →
 * multipass). Real Multipass is slow and serial (lib/multipass/CONTRACT.md
 * §3.3): a start, stop, restart, suspend or delete may take up to the daemon's
 * own 300 s bound, a launch waits up to 300 s for SSH and again for cloud-init
 * after a download of minutes, and `list`, `info` and `get` queue behind a
 * running stop. So no hop measures a healthy operation by the wall clock:
 * streams say they are alive every KEEPALIVE_MS, readers give up only after
 * STREAM_SILENCE_MS of nothing at all, and the bounds that remain sit above
 * the daemon's. The README's timer table lists where each is used.
 */

/** The daemon's bound on one start, stop, restart, suspend or delete, and on each of a launch's SSH and cloud-init waits. */
export const DAEMON_BOUND_MS = 300_000;

/** How often a streamed answer with nothing else to say writes a keepalive (a blank NDJSON line, an SSE comment). */
export const KEEPALIVE_MS = 5_000;

/**
 * How long a reader of a stream waits for any byte (a keepalive counts)
 * before it takes the writer for gone: six missed keepalives.
 */
export const STREAM_SILENCE_MS = 30_000;

/**
 * `Bun.serve`'s `idleTimeout` on every listener, in seconds: a connection that
 * carries no bytes for this long is closed. Streams outlive it with
 * keepalives; a handler that waits longer without streaming lifts it for its
 * own request (net/http.ts `holdOpen`).
 */
export const SERVER_IDLE_TIMEOUT_S = 60;
