/**
 * Retry timing for long-lived connections: capped exponential backoff with
 * full jitter, so a fleet of workers that lost the master at the same moment
 * comes back spread out instead of in one thundering herd.
 */

export interface BackoffPolicy {
  /** First delay cap, in ms. */
  baseMs: number;
  /** Largest delay, in ms. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 10_000 };

/** No retry comes sooner than this, so a peer that fails at once is never hammered. */
export const MIN_DELAY_MS = 50;

/**
 * The delay before attempt `attempt` (0 = first retry): "full jitter",
 * uniformly random in [MIN_DELAY_MS, cap] with cap = min(max, base·2^attempt).
 * Spreading even the first retry over the whole window is what keeps a fleet
 * that lost its master in the same instant from reconnecting in the same instant.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(MIN_DELAY_MS, Math.round(random() * cap));
}

/** Resolves after `ms`, or at once when `signal` aborts; the timer never outlives either. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
