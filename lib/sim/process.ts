/**
 * Runs the "remote" side of exec/shell as a real local process with inherited
 * stdio, and makes sure it never outlives the stand-in, as a command in a
 * real instance does not outlive its SSH session:
 *
 * - SIGINT is passed on (or left to the terminal, which already delivers it to
 *   the foreground group);
 * - SIGHUP/SIGTERM hang up the child's process group (SIGHUP, then SIGKILL a
 *   second later), and the stand-in then dies of the same signal. The handlers
 *   are in place before the child is spawned: a hang-up that came during the
 *   spawn, with no handler yet, killed the stand-in with the child already
 *   started and its group left running (seen when a worker hung up a session
 *   whose master died while its stand-in was still starting);
 * - when the stand-in dies without a chance to react (SIGKILL, e.g. with its
 *   worker): without a terminal, a guard (guardGroup) hangs up the child's
 *   whole group, grandchildren included; with one, the kernel hangs up the
 *   terminal's foreground group when its session leader dies (the stand-in,
 *   under the worker's PTY). Where util-linux's setpriv exists the child also
 *   gets a parent-death SIGHUP.
 */

import { readdirSync, readFileSync } from "node:fs";
import { constants } from "node:os";
import { isatty } from "node:tty";

/** A spawned process (the type of `Bun.spawn`'s answer; sim/ imports no package, `bun` included). */
type Subprocess = ReturnType<typeof Bun.spawn>;

/** What to run. */
export interface ChildSpec {
  /** argv[0] is looked up on `hostPath`, not on the child's own PATH. */
  readonly argv: readonly string[];
  readonly cwd: string;
  /** The child's whole environment (nothing is inherited). */
  readonly env: Record<string, string>;
  /** The stand-in's own PATH, where it finds the program, setpriv and sh. */
  readonly hostPath: string | undefined;
}

const KILL_GRACE_MS = 1000;

/** A signal-death of the remote side is reported as 255 (-1 truncated), like the client does. */
const SIGNAL_EXIT = 255;

/** `program` as found on the stand-in's PATH (left as it is when not found: the spawn then fails as it would). */
function onHostPath(program: string, hostPath: string | undefined): string {
  if (program.includes("/")) return program;
  return Bun.which(program, { PATH: hostPath ?? "" }) ?? program;
}

/**
 * The guard's script (`$1`: the process group): it reads a pipe that only the
 * stand-in holds. `done` means the stand-in has dealt with the group itself;
 * the end of the pipe without it means the stand-in is gone, so the group is
 * hung up, and SIGKILLed a second later (as the stand-in itself would; whether
 * it is still there cannot be told from a shell while its dead members wait
 * to be reaped).
 */
const GUARD_SCRIPT = [
  'read -r word; [ "$word" = done ] && exit 0',
  'kill -s HUP -- "-$1" 2>/dev/null || exit 0',
  "sleep 1",
  'kill -s KILL -- "-$1" 2>/dev/null; exit 0',
].join("\n");

/**
 * A running guard of one process group; `release` tells it the stand-in needs
 * it no more, and resolves once it has gone: a `multipass exec` that has
 * returned leaves nothing of its own behind.
 */
interface GroupGuard {
  release(): Promise<void>;
}

/** How long a released guard may take to go before it is killed (it exits at once on "done"). */
const GUARD_EXIT_MS = 2_000;

/**
 * Starts the guard of process group `group` in a session of its own (no
 * hang-up of the stand-in's reaches it), tagged with the child's
 * environment. Null when it cannot start: the group then has only its
 * leader's parent-death signal.
 */
function guardGroup(group: number, spec: ChildSpec): GroupGuard | null {
  let guard;
  try {
    guard = Bun.spawn([onHostPath("sh", spec.hostPath), "-c", GUARD_SCRIPT, "multipass-hangup", String(group)], {
      env: { ...spec.env, PATH: spec.hostPath ?? "" },
      stdio: ["pipe", "ignore", "ignore"],
      detached: true,
    });
  } catch {
    return null;
  }
  return {
    async release() {
      try {
        guard.stdin.write("done\n");
        void guard.stdin.end();
      } catch {
        // The guard is gone already.
      }
      const late = setTimeout(() => guard.kill("SIGKILL"), GUARD_EXIT_MS);
      await guard.exited;
      clearTimeout(late);
    },
  };
}

/**
 * Spawns the child. With a terminal on stdin it stays in the terminal's
 * foreground group (job control, Ctrl-C straight from the terminal);
 * otherwise it leads a group of its own, so that a hang-up reaches
 * everything it started, not just the shell.
 */
function spawnChild(spec: ChildSpec, terminalDelivers: boolean): Subprocess {
  const [program = "", ...rest] = spec.argv;
  const command = [onHostPath(program, spec.hostPath), ...rest];
  const setpriv = Bun.which("setpriv", { PATH: spec.hostPath ?? "" });
  const argv = setpriv === null ? command : [setpriv, "--pdeathsig", "HUP", "--", ...command];
  return Bun.spawn(argv, { cwd: spec.cwd, env: spec.env, stdio: ["inherit", "inherit", "inherit"], detached: !terminalDelivers });
}

/** Runs the child to completion and returns its exit status (255 when a signal killed it). */
export async function runChild(spec: ChildSpec): Promise<number> {
  const terminalDelivers = isatty(0);
  let child: Subprocess | null = null;
  const send = (signal: NodeJS.Signals): void => {
    if (child === null) return;
    try {
      if (terminalDelivers) child.kill(signal);
      else process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  let fatal: NodeJS.Signals | null = null;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  let graceOver: () => void = () => {};
  const grace = new Promise<void>((resolve) => (graceOver = resolve));
  const onFatal = (signal: NodeJS.Signals) => (): void => {
    if (fatal !== null) return;
    fatal = signal;
    send("SIGHUP");
    killTimer = setTimeout(() => {
      send("SIGKILL");
      graceOver();
    }, KILL_GRACE_MS);
  };
  const listeners: [NodeJS.Signals, () => void][] = [
    ["SIGINT", () => (terminalDelivers ? undefined : send("SIGINT"))],
    ["SIGHUP", onFatal("SIGHUP")],
    ["SIGTERM", onFatal("SIGTERM")],
  ];
  for (const [signal, listener] of listeners) process.on(signal, listener);
  let guard: GroupGuard | null = null;
  let ended: Subprocess;
  try {
    ended = child = spawnChild(spec, terminalDelivers);
    if (!terminalDelivers) guard = guardGroup(child.pid, spec);
    await child.exited;
  } finally {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  }
  if (fatal !== null && !terminalDelivers) {
    // The rest of the group keeps its grace even when the leader went at once (a shell without a
    // trap dies of the hang-up): a script's own trap may still be cleaning up, as it could in an
    // instance, where the hang-up of an SSH session is not followed by a SIGKILL at all.
    let waiting = true;
    await Promise.race([grace, groupGone(ended.pid, () => waiting)]);
    waiting = false;
    send("SIGKILL");
  }
  clearTimeout(killTimer);
  await guard?.release();
  if (fatal !== null) await dieOf(fatal);
  return ended.signalCode !== null ? SIGNAL_EXIT : (ended.exitCode ?? SIGNAL_EXIT);
}

/**
 * Whether process group `group` has a live member. Zombies do not count: a
 * member whose parent died waits for init to reap it, and some containers'
 * init never does. Without /proc, any member counts.
 */
function groupAlive(group: number): boolean {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    try {
      process.kill(-group, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      // After "(comm)": state, ppid, pgrp.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === group && state !== "Z") return true;
    } catch {
      // Gone while looking.
    }
  }
  return false;
}

/** Resolves once process group `group` has no live process left, or `waiting` says to stop looking. */
async function groupGone(group: number, waiting: () => boolean): Promise<void> {
  while (waiting() && groupAlive(group)) await Bun.sleep(20);
}

/** Ends the stand-in by the signal it received, as an unhandled signal would have. */
async function dieOf(signal: NodeJS.Signals): Promise<never> {
  process.kill(process.pid, signal);
  await Bun.sleep(200);
  process.exit(128 + (constants.signals[signal] ?? 15));
}
