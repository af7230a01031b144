/**
 * The ledger of live session processes (`multipass exec`), kept in a file so
 * that a worker restarted after `kill -9` can end what its previous run left
 * behind. Each process is kept with its start time (field 22 of
 * `/proc/PID/stat`, clock ticks since boot), so a pid the kernel has since
 * given to another program is never killed.
 *
 * Where there is no `/proc` (macOS, Windows) nothing is recorded: those hosts
 * rely on Multipass ending a session whose client died.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { ExecSpawner } from "../multipass/exec.ts";

export interface ProcessLedger {
  /** Records a live process (nothing when its start time cannot be read). */
  add(pid: number): void;
  /** Forgets a process that has exited. */
  remove(pid: number): void;
  /**
   * SIGKILLs the recorded processes still alive with the same start time, and
   * their process groups, then empties the ledger.
   * @returns the pids killed. Never throws: an unreadable ledger is empty.
   */
  reap(): number[];
}

/** Field 22 of /proc/PID/stat (the process's start time), or null when it is gone or there is no /proc. */
export function processStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return rest[19] ?? null;
}

/** The ledger's lines: `PID STARTTIME`; anything else is skipped. */
export function parseLedger(text: string): Map<number, string> {
  const entries = new Map<number, string>();
  for (const line of text.split("\n")) {
    const match = /^(\d{1,10}) (\d{1,20})$/.exec(line.trim());
    if (match && Number(match[1]) > 1) entries.set(Number(match[1]), match[2]!);
  }
  return entries;
}

function formatLedger(entries: Map<number, string>): string {
  return [...entries].map(([pid, start]) => `${pid} ${start}\n`).join("");
}

/**
 * A ledger kept in `path`, rewritten whole (through a temporary file) on each change.
 * `onError` hears a failed write; the session goes on without the record.
 */
export function createProcessLedger(path: string, onError: (error: unknown) => void = () => {}): ProcessLedger {
  const live = new Map<number, string>();
  const save = (): void => {
    const temp = `${path}.tmp`;
    try {
      writeFileSync(temp, formatLedger(live));
      renameSync(temp, path);
    } catch (error) {
      onError(error);
    }
  };
  return {
    add(pid) {
      const start = processStartTime(pid);
      if (start === null) return;
      live.set(pid, start);
      save();
    },
    remove(pid) {
      if (live.delete(pid)) save();
    },
    reap() {
      let recorded: Map<number, string>;
      try {
        recorded = parseLedger(readFileSync(path, "utf8"));
      } catch {
        recorded = new Map();
      }
      const killed: number[] = [];
      for (const [pid, start] of recorded) {
        if (processStartTime(pid) !== start) continue;
        killTree(pid);
        killed.push(pid);
      }
      save();
      return killed;
    },
  };
}

/** SIGKILL to a session process's group (it leads one: a PTY's session, or a detached group), then to itself. */
function killTree(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** `spawn`, with every process it starts kept in `ledger` until it has exited. */
export function withLedger(spawn: ExecSpawner, ledger: ProcessLedger): ExecSpawner {
  return (argv, options) => {
    const child = spawn(argv, options);
    const pid = child.pid;
    if (pid !== undefined) {
      ledger.add(pid);
      void child.exited.then(() => ledger.remove(pid));
    }
    return child;
  };
}
