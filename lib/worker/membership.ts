/**
 * The agent secrets of this worker's memberships: the current one, which the
 * agent server accepts, and the last few before it, which it recognises.
 *
 * A worker that stalls (SIGSTOP, a long GC, a suspended VM) loses its
 * membership and rejoins with a new secret; calls the master made under the
 * old one may still be queued in the socket and are read after the rejoin.
 * Such a call is refused with a clear reason — the node rejoined, the call
 * did not run — never as a refused token, and without counting as a failed
 * attempt of an unknown caller.
 */
import { tokensEqual } from "../net/tokens.ts";

/** How many past secrets are recognised; older ones are just refused tokens. */
const PAST_KEPT = 8;

export type TokenStanding = "current" | "past" | "unknown";

export interface Membership {
  /** The current membership's secret; null while not joined. */
  current(): string | null;
  /** A new membership (its secret) or its end (null); the secret before it joins the past ones. */
  set(agentToken: string | null): void;
  /** Whether `token` is the current secret, one of a past membership, or neither. */
  standing(token: string): TokenStanding;
}

export function createMembership(): Membership {
  let current: string | null = null;
  const past: string[] = [];
  return {
    current: () => current,
    set(agentToken) {
      if (current !== null && current !== agentToken) {
        past.unshift(current);
        past.length = Math.min(past.length, PAST_KEPT);
      }
      current = agentToken;
    },
    standing(token) {
      if (current !== null && tokensEqual(token, current)) return "current";
      // Every past secret is compared, so the time taken says nothing about which matched.
      return past.reduce((found, secret) => tokensEqual(token, secret) || found, false) ? "past" : "unknown";
    },
  };
}
