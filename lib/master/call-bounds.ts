/**
 * The outer bounds of the master's calls that change a host. They are not
 * how a lost node is noticed — the silence watchdog of each stream does that
 * in STREAM_SILENCE_MS (agent-client.ts) — but a backstop above everything a
 * healthy host may legitimately take (CONTRACT.md §3.3):
 *
 * - a verb on one instance (start, stop, restart, suspend, delete, recover)
 *   is bounded by the daemon at DAEMON_BOUND_MS;
 * - the daemon serialises: a call queues behind the others on the same host
 *   (a bulk stop of five VMs runs one stop after another), so each call this
 *   master already has in flight on the node adds one DAEMON_BOUND_MS;
 * - a launch downloads its image first (minutes for several hundred MB; its
 *   percentage moves, so it is never silent), then waits up to its
 *   `--timeout` (default DAEMON_BOUND_MS) for SSH and again for cloud-init;
 * - a margin covers the driver's own minute above the daemon (multipass/cli.ts),
 *   the fresh listing after the change, and the network.
 *
 * A call that passes its bound is not recorded as failed: the master asks the
 * node how it ended (outcomes.ts).
 */
import { DAEMON_BOUND_MS } from "../core/timers.ts";

/** Above the daemon's bounds: the driver's own margin, the fresh listing after the change, the network. */
export const BOUND_MARGIN_MS = 2 * 60_000;

/** What a launch may spend on its image before the daemon's waits start. */
export const LAUNCH_DOWNLOAD_MS = 20 * 60_000;

/** A verb on one instance, or a purge, with `queued` calls of this master already in flight on its node. */
export function actionBoundMs(queued: number): number {
  return (queued + 1) * DAEMON_BOUND_MS + BOUND_MARGIN_MS;
}

/** A launch with Multipass's `--timeout` (or its default), with `queued` calls already in flight on its node. */
export function launchBoundMs(timeoutSeconds: number | undefined, queued: number): number {
  const wait = timeoutSeconds === undefined ? DAEMON_BOUND_MS : timeoutSeconds * 1000;
  return LAUNCH_DOWNLOAD_MS + 2 * wait + queued * DAEMON_BOUND_MS + BOUND_MARGIN_MS;
}

/** The calls this master has in flight on each node, so each call's bound counts the queue it joins. */
export interface NodeLoad {
  /** Counts a call on `node` until `end`; `queued` is how many were in flight before it. */
  begin(node: string): { queued: number; end(): void };
}

export function createNodeLoad(): NodeLoad {
  const counts = new Map<string, number>();
  return {
    begin(node) {
      const queued = counts.get(node) ?? 0;
      counts.set(node, queued + 1);
      let ended = false;
      return {
        queued,
        end() {
          if (ended) return;
          ended = true;
          const left = (counts.get(node) ?? 1) - 1;
          if (left === 0) counts.delete(node);
          else counts.set(node, left);
        },
      };
    },
  };
}
