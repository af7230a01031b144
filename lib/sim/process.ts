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
  /** argv[0] is looked up on `hostPath`, not on the child's own PATH. */
  readonly argv: readonly string[];
  readonly cwd: string;
  /** The child's whole environment (nothing is inherited). */
  readonly env: Record<string, string>;
  /** The stand-in's own PATH, where it finds the program and setpriv. */
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

/** Runs the child to completion and returns its exit status (255 when a signal killed it). */
export async function runChild(spec: ChildSpec): Promise<number> {
  const [program = "", ...rest] = spec.argv;
  const command = [onHostPath(program, spec.hostPath), ...rest];
  const guard = Bun.which("setpriv", { PATH: spec.hostPath ?? "" });
  const argv = guard === null ? command : [guard, "--pdeathsig", "HUP", "--", ...command];
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
