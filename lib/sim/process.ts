/**
 * Runs the "remote" side of exec/shell as a real local process with inherited
 * stdio, and makes sure it never outlives the stand-in: SIGINT is passed on (or
 * left to the terminal, which already delivers it to the foreground group),
 * SIGHUP/SIGTERM make the child get SIGHUP and, a second later, SIGKILL; and
 * where util-linux's setpriv exists the child also gets SIGHUP if the stand-in
 * dies without a chance to react (SIGKILL).
 */

import { constants } from "node:os";
import { isatty } from "node:tty";

/** What to run. */
export interface ChildSpec {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Record<string, string>;
}

const KILL_GRACE_MS = 1000;

/** A signal-death of the remote side is reported as 255 (-1 truncated), like the client does. */
const SIGNAL_EXIT = 255;

let setprivPath: string | null | undefined;

function setpriv(): string | null {
  if (setprivPath === undefined) setprivPath = Bun.which("setpriv");
  return setprivPath;
}

/** Runs the child to completion and returns its exit status (255 when a signal killed it). */
export async function runChild(spec: ChildSpec): Promise<number> {
  const guard = setpriv();
  const argv = guard === null ? [...spec.argv] : [guard, "--pdeathsig", "HUP", "--", ...spec.argv];
  // With a terminal on stdin the child must stay in the terminal's foreground group (job control,
  // Ctrl-C straight from the terminal). Otherwise it gets its own group, so that a shutdown reaches
  // everything it started, not just the shell.
  const terminalDelivers = isatty(0);
  const child = Bun.spawn(argv, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: ["inherit", "inherit", "inherit"],
    detached: !terminalDelivers,
  });
  const send = (signal: NodeJS.Signals): void => {
    try {
      if (terminalDelivers) child.kill(signal);
      else process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  let fatal: NodeJS.Signals | null = null;
  let killTimer: ReturnType<typeof setTimeout> | undefined;

  const onInterrupt = (): void => {
    if (!terminalDelivers) send("SIGINT");
  };
  const onFatal = (signal: NodeJS.Signals) => (): void => {
    if (fatal !== null) return;
    fatal = signal;
    send("SIGHUP");
    killTimer = setTimeout(() => send("SIGKILL"), KILL_GRACE_MS);
  };
  const onHangup = onFatal("SIGHUP");
  const onTerminate = onFatal("SIGTERM");
  process.on("SIGINT", onInterrupt);
  process.on("SIGHUP", onHangup);
  process.on("SIGTERM", onTerminate);
  try {
    await child.exited;
  } finally {
    clearTimeout(killTimer);
    process.off("SIGINT", onInterrupt);
    process.off("SIGHUP", onHangup);
    process.off("SIGTERM", onTerminate);
  }
  if (fatal !== null) {
    if (!terminalDelivers) send("SIGKILL");
    await dieOf(fatal);
  }
  return child.signalCode !== null ? SIGNAL_EXIT : (child.exitCode ?? SIGNAL_EXIT);
}

/** Ends the stand-in by the signal it received, as an unhandled signal would have. */
async function dieOf(signal: NodeJS.Signals): Promise<never> {
  process.kill(process.pid, signal);
  await Bun.sleep(200);
  process.exit(128 + (constants.signals[signal] ?? 15));
}
