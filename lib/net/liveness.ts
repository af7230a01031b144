/**
 * Application-level keepalive for one session hop: send `ping` every
 * interval, and declare the peer gone after a stretch of silence. Any frame
 * from the peer counts as a sign of life.
 */
import { MIN_PEER_TIMEOUT_MS, PEER_TIMEOUT_MS, PING_INTERVAL_MS } from "../protocol/session.ts";

export interface LivenessTimes {
  pingIntervalMs: number;
  peerTimeoutMs: number;
}

export const DEFAULT_LIVENESS: LivenessTimes = { pingIntervalMs: PING_INTERVAL_MS, peerTimeoutMs: PEER_TIMEOUT_MS };

/** How to watch a peer that pings every `keepaliveMs` (protocol/session.ts keepaliveFromQuery): four missed pings, at least MIN_PEER_TIMEOUT_MS. */
export function livenessForKeepalive(keepaliveMs: number): LivenessTimes {
  return { pingIntervalMs: Math.min(PING_INTERVAL_MS, keepaliveMs), peerTimeoutMs: Math.max(MIN_PEER_TIMEOUT_MS, 4 * keepaliveMs) };
}

export interface Liveness {
  /** Call on every frame from the peer. */
  heard(): void;
  /** Stops the timer; idempotent. */
  stop(): void;
}

/** Starts pinging; calls `onSilent` once if the peer stays silent too long. */
export function watchPeer(times: LivenessTimes, ping: () => void, onSilent: () => void): Liveness {
  let lastHeard = Date.now();
  let stopped = false;
  const timer = setInterval(() => {
    if (Date.now() - lastHeard > times.peerTimeoutMs) {
      stop();
      onSilent();
      return;
    }
    ping();
  }, Math.min(times.pingIntervalMs, Math.max(50, Math.floor(times.peerTimeoutMs / 3))));
  function stop() {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
  }
  return {
    heard: () => (lastHeard = Date.now()),
    stop,
  };
}
