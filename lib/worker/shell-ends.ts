/**
 * The ends of kept shells on their way to the master's audit trail
 * (protocol/join.ts `sessionEnded`). A shell may end while no master is
 * joined (its grace period passed during a master restart): its end waits
 * here, bounded, and goes out at the next join. Past the bound the oldest are
 * dropped, and counted in the log.
 */
import type { ShellEnded } from "../protocol/join.ts";

/** Ends kept for the next join at most. */
export const MAX_PENDING_SHELL_ENDS = 100;

export class ShellEndOutbox {
  readonly #pending: ShellEnded[] = [];
  #listener: (() => void) | null = null;
  #dropped = 0;

  constructor(readonly max = MAX_PENDING_SHELL_ENDS) {}

  /** A kept shell has ended; whoever is listening (the joined link) is told. */
  push(ended: ShellEnded): void {
    this.#pending.push(ended);
    if (this.#pending.length > this.max) {
      this.#pending.shift();
      this.#dropped++;
    }
    this.#listener?.();
  }

  /** Everything pending, oldest first, and how many were dropped since the last take. */
  take(): { ends: ShellEnded[]; dropped: number } {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return { ends: this.#pending.splice(0), dropped };
  }

  /** One listener at a time (the joined link); returns what removes it. */
  listen(listener: () => void): () => void {
    this.#listener = listener;
    return () => {
      if (this.#listener === listener) this.#listener = null;
    };
  }
}
