/**
 * Which shells a worker keeps while nobody is attached to them, and for how
 * long (issue 12: shells that survive a lost client).
 *
 * A shell whose client goes away is detached, not ended: its process and PTY
 * stay, its screen is mirrored (screen-mirror.ts), and any client of the
 * token that opened it may attach again within the grace period. Bounds:
 * - a detached shell ends when its grace period passes (0: at once, the old
 *   behaviour);
 * - at most `maxDetached` detached shells, holding at most `maxDetachedBytes`
 *   of mirrors between them: past either, the detached shell idle the
 *   longest ends first, with the reason logged;
 * - every kept shell has this keeper as its owner: `closeAll` ends them all.
 * An attached shell is never evicted, and a shell whose program exits leaves
 * at once (`remove`).
 */
import type { ConsolaInstance } from "consola";
import { AppError } from "../core/errors.ts";
import { formatBytes } from "../core/format.ts";
import { formatDuration } from "../core/duration.ts";

/** How long a detached shell is kept by default: a laptop lid, a Wi-Fi hop, a master restart. */
export const DEFAULT_SESSION_GRACE_MS = 10 * 60_000;
export const DEFAULT_MAX_DETACHED = 32;
export const DEFAULT_MAX_DETACHED_BYTES = 256 * 1024 * 1024;

/** What the keeper needs of a shell. */
export interface Keepable {
  readonly id: string;
  readonly instance: string;
  /** The token id of the client that opened it: only that token may attach. */
  readonly owner: string;
  /** Epoch ms it opened. */
  readonly startedAt: number;
  /** Epoch ms of the last byte in or out. */
  lastActivityAt(): number;
  /** What its screen mirror holds. */
  memoryBytes(): number;
  /** Ends it (the process is hung up); `reason` says why, for its log and audit. */
  end(reason: string): void;
}

export type KeptState = "attached" | "detached";

/** A kept shell as `sessions` lists it. */
export interface KeptView {
  id: string;
  instance: string;
  owner: string;
  state: KeptState;
  startedAt: number;
  lastActivityAt: number;
  /** Epoch ms it was detached; null while attached. */
  detachedAt: number | null;
}

export interface SessionKeeperOptions {
  /** 0: a shell ends with its client. */
  graceMs: number;
  maxDetached?: number;
  maxDetachedBytes?: number;
  log: Pick<ConsolaInstance, "info" | "warn">;
  now?: () => number;
}

interface Entry<T extends Keepable> {
  shell: T;
  state: KeptState;
  detachedAt: number | null;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Keeps shells of type `T` (the session host's kept shells; tests use stand-ins). */
export class SessionKeeper<T extends Keepable = Keepable> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #options: Required<Omit<SessionKeeperOptions, "log">> & Pick<SessionKeeperOptions, "log">;

  constructor(options: SessionKeeperOptions) {
    this.#options = {
      maxDetached: DEFAULT_MAX_DETACHED,
      maxDetachedBytes: DEFAULT_MAX_DETACHED_BYTES,
      now: Date.now,
      ...options,
    };
  }

  /** Whether shells outlive their client at all. */
  get keeps(): boolean {
    return this.#options.graceMs > 0;
  }

  /** How long a detached shell is kept. */
  get graceMs(): number {
    return this.#options.graceMs;
  }

  /** A shell that has just opened, attached. */
  add(shell: T): void {
    this.#entries.set(shell.id, { shell, state: "attached", detachedAt: null, timer: undefined });
  }

  /**
   * Its client went away: it is kept for the grace period, within the bounds
   * (which may end it, or an older one, at once). With no grace it ends now.
   */
  detach(id: string, why: string): void {
    const entry = this.#entries.get(id);
    if (!entry || entry.state === "detached") return;
    if (!this.keeps) return this.#end(entry, `its client went away (${why})`);
    entry.state = "detached";
    entry.detachedAt = this.#options.now();
    const grace = this.#options.graceMs;
    entry.timer = setTimeout(() => this.#end(entry, `nobody attached within ${formatDuration(grace)}`), grace);
    entry.timer.unref?.();
    this.#options.log.info(`shell ${id} on "${entry.shell.instance}" detached (${why}); kept for ${formatDuration(grace)}`);
    this.#enforceBounds();
  }

  /**
   * A client of `owner` takes the shell back. One attached already is taken
   * over (its writer is told and leaves, as `screen -d -r` does): it may be a
   * connection its client has already given up for lost, which the master has
   * not noticed yet, and only the same token may attach.
   * @throws AppError E_NOT_FOUND when there is no such shell (or it is not
   *   `owner`'s: the answer does not tell another token that it exists)
   */
  attach(id: string, owner: string): T {
    const entry = this.#owned(id, owner);
    if (entry.state === "attached") {
      this.#options.log.info(`shell ${id} on "${entry.shell.instance}" taken over by another client of its token`);
      return entry.shell;
    }
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.state = "attached";
    entry.detachedAt = null;
    this.#options.log.info(`shell ${id} on "${entry.shell.instance}" reattached`);
    return entry.shell;
  }

  /** Its program exited, or it was ended: it leaves the keeper. */
  remove(id: string): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#entries.delete(id);
  }

  /**
   * A shell of `owner`'s to watch read-only: it stays as it is (a detached
   * shell's grace clock goes on).
   * @throws AppError E_NOT_FOUND as {@link attach} does
   */
  find(id: string, owner: string): T {
    return this.#owned(id, owner).shell;
  }

  get(id: string): T | null {
    return this.#entries.get(id)?.shell ?? null;
  }

  list(): KeptView[] {
    return [...this.#entries.values()].map(({ shell, state, detachedAt }) => ({
      id: shell.id,
      instance: shell.instance,
      owner: shell.owner,
      state,
      startedAt: shell.startedAt,
      lastActivityAt: shell.lastActivityAt(),
      detachedAt,
    }));
  }

  /** Ends every kept shell (the worker is stopping). */
  closeAll(reason: string): void {
    for (const entry of [...this.#entries.values()]) this.#end(entry, reason);
  }

  #owned(id: string, owner: string): Entry<T> {
    const entry = this.#entries.get(id);
    if (!entry || entry.shell.owner !== owner) throw new AppError("E_NOT_FOUND", `No shell ${id} of yours on this node`);
    return entry;
  }

  #end(entry: Entry<T>, reason: string): void {
    this.remove(entry.shell.id);
    this.#options.log.info(`shell ${entry.shell.id} on "${entry.shell.instance}" ended: ${reason}`);
    entry.shell.end(reason);
  }

  /** Past a bound, the detached shells idle the longest end first. */
  #enforceBounds(): void {
    const { maxDetached, maxDetachedBytes } = this.#options;
    const detached = [...this.#entries.values()].filter((e) => e.state === "detached").sort((a, b) => a.shell.lastActivityAt() - b.shell.lastActivityAt());
    let bytes = detached.reduce((sum, e) => sum + e.shell.memoryBytes(), 0);
    let count = detached.length;
    for (const entry of detached) {
      if (count <= maxDetached && bytes <= maxDetachedBytes) break;
      const why = count > maxDetached ? `more than ${maxDetached} detached shells` : `detached shells over ${formatBytes(maxDetachedBytes)}`;
      this.#options.log.warn(`shell ${entry.shell.id} on "${entry.shell.instance}" evicted: ${why}, and it was idle the longest`);
      // Counted before the end, which may free the mirror.
      bytes -= entry.shell.memoryBytes();
      count--;
      this.#end(entry, `evicted: ${why}, and it was idle the longest`);
    }
  }
}
