/**
 * What the client says when it leaves a kept shell (issue 12), or when the
 * shell leaves it: each note says what became of the shell and, when it goes
 * on, how to come back to it. The session prefixes them with `multiverse: `
 * and strips control characters.
 */
import { formatElapsed } from "../core/format.ts";

/** A shell the worker keeps: its id (the master's session id) and node, once known. */
export interface KeptShell {
  id: string;
  node: string | null;
}

/** The command that takes shell `id` back. */
export function attachCommand(id: string): string {
  return `multiverse attach ${id}`;
}

/** The notes of the session on instance `ref` (`NAME@NODE`). */
export function sessionNotes(ref: string) {
  const where = (kept: KeptShell) => `shell ${kept.id} on ${ref}`;
  return {
    /** Enter ~ d, or a `detached` from the worker. */
    detached: (kept: KeptShell) => `detached from ${where(kept)}; reattach with: ${attachCommand(kept.id)}`,
    /** A read-only watch whose shell was detached (its writer left). */
    shellDetached: (kept: KeptShell) => `${where(kept)} was detached by its client; stopped watching (attach with: ${attachCommand(kept.id)})`,
    stoppedWatching: (kept: KeptShell | null) => (kept ? `stopped watching ${where(kept)}` : "stopped watching"),
    /** Enter ~ . */
    disconnected(kept: KeptShell | null, readOnly: boolean, reconnecting: boolean): string {
      if (kept === null) return "disconnected; the shell was not kept, so it ends";
      if (readOnly) return `disconnected; stopped watching ${where(kept)}`;
      if (reconnecting) return `gave up reconnecting; if ${where(kept)} is still kept, reattach with: ${attachCommand(kept.id)}`;
      return `disconnected; ${where(kept)} goes on, detached — reattach with: ${attachCommand(kept.id)}`;
    },
    /** This client went (its terminal, a signal): what became of the shell. */
    leftBehind: (kept: KeptShell | null) => (kept === null ? "session closed" : `${where(kept)} goes on, detached — reattach with: ${attachCommand(kept.id)}`),
    notKept: "this shell is not kept (its worker keeps no shells), so it cannot be detached; Enter ~ . disconnects",
    /** A reattach refused as not found while its node is there. */
    shellGone: (why: string) => `the shell ended while this client was disconnected, or its grace period passed (${why})`,
    gaveUp: (kept: KeptShell | null, elapsedMs: number, why: string) =>
      `could not reconnect within ${formatElapsed(elapsedMs)}${why ? ` (${why})` : ""}` + (kept ? `; if the shell is still kept, reattach with: ${attachCommand(kept.id)}` : ""),
  };
}
