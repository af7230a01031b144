/**
 * Lockout after repeated authentication failures from one address: a client
 * that keeps presenting wrong tokens is answered 429 for a while. It
 * throttles failures, never the valid credential (net/http.ts
 * `requireToken` lets a request with the right token through a lockout):
 * otherwise anyone who can make requests from, or on behalf of, a caller's
 * address — 30 unauthenticated requests to a worker's agent port, a fake node
 * advertising that agent's address — could lock the master out of a worker.
 * Memory stays bounded however many addresses try.
 */

export interface FailureLimits {
  /** Failures within `windowMs` that lock an address out. */
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
}

export const DEFAULT_FAILURE_LIMITS: FailureLimits = { maxFailures: 30, windowMs: 60_000, lockoutMs: 60_000 };

/** Most addresses remembered; the oldest are forgotten first. */
const MAX_KEYS = 10_000;

export interface FailureLimiter {
  /** Milliseconds left of `key`'s lockout, or 0 when it may try. */
  lockedFor(key: string): number;
  /** Records one failure of `key`. */
  fail(key: string): void;
}

interface Record {
  windowStart: number;
  failures: number;
  lockedUntil: number;
}

export function createFailureLimiter(limits: FailureLimits = DEFAULT_FAILURE_LIMITS, now: () => number = Date.now): FailureLimiter {
  const records = new Map<string, Record>();
  return {
    lockedFor(key) {
      const r = records.get(key);
      return r ? Math.max(0, r.lockedUntil - now()) : 0;
    },
    fail(key) {
      const t = now();
      let r = records.get(key);
      if (!r || t - r.windowStart > limits.windowMs) {
        records.delete(key);
        r = { windowStart: t, failures: 0, lockedUntil: r?.lockedUntil ?? 0 };
        records.set(key, r);
        if (records.size > MAX_KEYS) {
          // Map iteration is insertion order: drop the oldest tenth.
          let drop = Math.ceil(MAX_KEYS / 10);
          for (const k of records.keys()) {
            if (drop-- <= 0) break;
            records.delete(k);
          }
        }
      }
      r.failures++;
      if (r.failures >= limits.maxFailures) r.lockedUntil = t + limits.lockoutMs;
    },
  };
}
