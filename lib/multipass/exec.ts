/**
 * Interactive `multipass exec` processes, the second way (beside `run.ts`)
 * the driver starts processes: one per shell or exec session, under a real
 * PTY or with three pipes, alive as long as the session wants it.
 *
 * The remote command is wrapped so that its status comes back in a trailer
 * and never as 4 (exec-status.ts): the trailer is removed from the output on
 * its way through, and {@link ExecProcess.exited} reports the remote status.
 *
 * Ending a process: {@link ExecProcess.hangUp} closes the PTY (a shell
 * ignores SIGTERM but not a hang-up) or sends SIGHUP to a piped process,
 * then SIGKILLs its process group after a grace period. Once the process has
 * exited, its group is SIGKILLed too, so no grandchild outlives the session.
 *
 * Nor does it outlive the worker: where util-linux's `setpriv` is on the
 * PATH (Linux), the process is started through it with a parent-death
 * signal, so a worker killed with SIGKILL takes its sessions with it (and
 * Multipass, losing its client, ends the command in the instance). What a
 * killed worker still leaves is reaped on its next start (worker/leftovers.ts).
 */
import { newNonce, TrailerFilter, wrapCommand, wrapLoginShell } from "./exec-status.ts";
import { LOGIN_SHELL, type ExecProcess, type ExecRequest, type ExecStream } from "./driver.ts";
import { notInstalled } from "./run.ts";

/** What an {@link ExecSpawner} needs besides the argv: the request, and the nonce its wrapper prints. */
export type ExecSpawnOptions = Omit<ExecRequest, "instance" | "command"> & { nonce: string };

/**
 * Starts one interactive process from a whole argv (binary first).
 * @throws MultipassError kind "not-installed" when the process cannot be started.
 */
export type ExecSpawner = (argv: string[], options: ExecSpawnOptions) => ExecProcess;

/** Time between a hang-up and the SIGKILL of the process group, unless the request says otherwise. */
const DEFAULT_GRACE_MS = 1000;
/** After the process has exited, how long output still in flight (or held by a grandchild) is awaited. */
const OUTPUT_GRACE_MS = 500;
/** What a terminal sends for Ctrl-D: the end of input. */
const CTRL_D = 4;

/**
 * Wraps the request's command with a fresh nonce, turns the remote argv into
 * the whole argv with `argvOf` (e.g. `multipass exec NAME … --`), and spawns.
 * @throws whatever `argvOf` and `spawn` throw.
 */
export function startExec(request: ExecRequest, argvOf: (remote: string[]) => string[], spawn: ExecSpawner = spawnExec): ExecProcess {
  const nonce = newNonce();
  const remote = request.command === LOGIN_SHELL ? wrapLoginShell(nonce) : wrapCommand([...request.command], nonce);
  const { instance: _instance, command: _command, ...options } = request;
  return spawn(argvOf(remote), { ...options, nonce });
}

/**
 * Input the program has not taken yet, beyond which {@link ExecProcess.write}
 * asks the caller to wait: the bound of what a session holds for its program.
 */
export const INPUT_BACKLOG_BYTES = 1024 * 1024;

interface Child {
  proc: Bun.Subprocess;
  /** Settles once all output has been read. */
  outputDone: Promise<void>;
}

type Env = Record<string, string | undefined>;

/**
 * Whether output is read: pipe pumps wait at {@link wait} while it is paused.
 * (A terminal cannot be left unread in Bun: its process group is stopped instead.)
 */
class OutputGate {
  #paused = false;
  #waiters: (() => void)[] = [];

  get paused(): boolean {
    return this.#paused;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Resolves at once when reading, else when reading resumes. */
  wait(): Promise<void> | null {
    if (!this.#paused) return null;
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/** Counts input not yet taken by the program, and says when a backlog has cleared. */
class InputBacklog {
  #bytes = 0;
  #full = false;
  constructor(readonly onReady: () => void) {}

  /** `n` more bytes wait; returns whether more may come. */
  add(n: number): boolean {
    this.#bytes += n;
    if (this.#bytes > INPUT_BACKLOG_BYTES) this.#full = true;
    return !this.#full;
  }

  /** `n` bytes (or all, with no argument) have been taken. */
  taken(n: number = this.#bytes): void {
    this.#bytes = Math.max(0, this.#bytes - n);
    if (this.#full && this.#bytes <= INPUT_BACKLOG_BYTES / 2) {
      this.#full = false;
      this.onReady();
    }
  }
}

function spawnWithTerminal(argv: string[], env: Env, size: { cols: number; rows: number }, options: ExecSpawnOptions, filter: TrailerFilter, input: InputBacklog): Child {
  let eof: () => void = () => {};
  const outputDone = new Promise<void>((resolve) => (eof = resolve));
  const proc = Bun.spawn(argv, {
    env,
    terminal: {
      cols: size.cols,
      rows: size.rows,
      name: options.term,
      data: (_terminal, bytes) => {
        const out = filter.push(bytes);
        if (out.length > 0) options.onOutput("terminal", out);
      },
      // Bun holds what the PTY could not take yet; `drain` says it has all gone in.
      drain: () => input.taken(),
      exit: () => eof(),
    },
  });
  return { proc, outputDone };
}

function spawnWithPipes(argv: string[], env: Env, options: ExecSpawnOptions, filter: TrailerFilter, gate: OutputGate): Child {
  // Detached: its own process group, which a hang-up can kill whole.
  const proc = Bun.spawn(argv, { env, stdin: "pipe", stdout: "pipe", stderr: "pipe", detached: true });
  // The trailer is printed on stderr.
  const pump = async (stream: ReadableStream<Uint8Array>, name: Exclude<ExecStream, "terminal">): Promise<void> => {
    for await (const chunk of stream) {
      const out = name === "stderr" ? filter.push(chunk) : chunk;
      if (out.length > 0) options.onOutput(name, out);
      // Paused, the pipe is not read: it fills and the program blocks writing.
      await gate.wait();
    }
    if (name === "stderr") {
      const rest = filter.flush();
      if (rest.length > 0) options.onOutput(name, rest);
    }
  };
  const outputDone = Promise.all([pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr")]).then(() => {});
  return { proc, outputDone };
}

/** Writes to a piped process's stdin, counting what the pipe has not taken yet. */
function writePipe(sink: Bun.FileSink, bytes: Uint8Array, input: InputBacklog): boolean {
  const written = sink.write(bytes);
  const flushed = sink.flush();
  const pending = [written, flushed].filter((r): r is Promise<number> => typeof r !== "number");
  if (pending.length === 0) return input.add(0);
  const more = input.add(bytes.length);
  void Promise.all(pending).then(
    () => input.taken(bytes.length),
    () => input.taken(bytes.length),
  );
  return more;
}

/** SIGKILL to the process's group (the PTY's session, or the detached group), then to the process itself. */
function killGroup(proc: Bun.Subprocess): void {
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {
    // The group is already gone.
  }
  proc.kill("SIGKILL");
}

/**
 * `argv` run through `setpriv --pdeathsig SIGKILL` when setpriv is on the
 * PATH: setpriv sets the signal and execs the program, which then dies with
 * the process that spawned it, even one killed without a chance to react.
 */
export function withParentDeathSignal(argv: string[], path: string | undefined): string[] {
  const setpriv = Bun.which("setpriv", { PATH: path ?? "" });
  // A program that cannot be found is spawned bare, so that the spawn fails as "not installed".
  if (setpriv === null || Bun.which(argv[0] ?? "", { PATH: path ?? "" }) === null) return argv;
  return [setpriv, "--pdeathsig", "KILL", "--", ...argv];
}

/**
 * The default {@link ExecSpawner}: `Bun.spawn` with an argv array (never a
 * shell), TERM set, under a PTY when the request asks for one.
 */
export const spawnExec: ExecSpawner = (argv, options) => {
  const env = { ...options.env, TERM: options.term };
  const filter = new TrailerFilter(options.nonce);
  const size = options.terminal;
  const tty = size !== null;
  const gate = new OutputGate();
  const input = new InputBacklog(() => options.onInputReady?.());
  let child: Child;
  try {
    const guarded = withParentDeathSignal(argv, options.env?.["PATH"]);
    child = size !== null ? spawnWithTerminal(guarded, env, size, options, filter, input) : spawnWithPipes(guarded, env, options, filter, gate);
  } catch (error) {
    throw notInstalled(argv[0] ?? "", argv, error);
  }
  const { proc, outputDone } = child;
  let done = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  // A terminal cannot be left unread, so its process group (the PTY's session) is stopped.
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-proc.pid, signal);
    } catch {
      // The group is gone.
    }
  };
  const resumeOutput = (): void => {
    if (!gate.paused) return;
    gate.resume();
    if (tty) signalGroup("SIGCONT");
  };

  const exited = proc.exited.then(async (status) => {
    done = true;
    resumeOutput();
    // Output written just before exit is still in flight; a grandchild holding the
    // terminal or a pipe open must not hold the exit back for long.
    await Promise.race([outputDone, Bun.sleep(OUTPUT_GRACE_MS)]);
    if (tty) {
      const rest = filter.flush();
      if (rest.length > 0) options.onOutput("terminal", rest);
      proc.terminal?.close();
    }
    clearTimeout(killTimer);
    killGroup(proc);
    return filter.status ?? (proc.signalCode ? 255 : status);
  });

  return {
    write(bytes) {
      if (proc.terminal) {
        proc.terminal.write(bytes);
        return input.add(bytes.length);
      }
      if (proc.stdin && typeof proc.stdin !== "number") return writePipe(proc.stdin, bytes, input);
      return true;
    },
    endInput() {
      if (proc.terminal) proc.terminal.write(new Uint8Array([CTRL_D]));
      else if (proc.stdin && typeof proc.stdin !== "number") void proc.stdin.end();
    },
    resize(cols, rows) {
      proc.terminal?.resize(cols, rows);
    },
    pauseOutput() {
      if (done || gate.paused) return;
      gate.pause();
      if (tty) signalGroup("SIGSTOP");
    },
    resumeOutput,
    hangUp() {
      if (done || killTimer) return;
      // A stopped program cannot react to the hang-up.
      resumeOutput();
      if (proc.terminal) proc.terminal.close();
      else proc.kill("SIGHUP");
      killTimer = setTimeout(() => killGroup(proc), options.graceMs ?? DEFAULT_GRACE_MS);
    },
    exited,
    pid: proc.pid,
  };
};
