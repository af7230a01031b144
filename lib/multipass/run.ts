/**
 * The one place that starts `multipass` processes. Everything else in the
 * driver is pure and gets a {@link Runner} injected, so tests can swap it.
 */
import { formatDuration } from "../core/duration.ts";
import { errnoOf, messageOf } from "../core/errors.ts";
import { commandOf } from "./failure.ts";
import { MultipassError } from "./driver.ts";

export interface RunOptions {
  /** The process is killed (SIGKILL) after this long. */
  timeoutMs: number;
  /** Aborting kills the process (SIGKILL). */
  signal?: AbortSignal;
  /** Receives stdout as it arrives, decoded as UTF-8, in order. */
  onStdout?: (chunk: string) => void;
  /** Bytes for the process's stdin; without it stdin is /dev/null. */
  stdin?: string | Uint8Array;
}

export interface RunResult {
  /** The exit status; 128 + N when the process died from signal N. */
  exitCode: number;
  /** At most {@link MAX_OUTPUT_BYTES} of it; the rest is dropped. */
  stdout: string;
  stderr: string;
}

/**
 * Runs `argv` (binary first) to completion and reports its exit status,
 * whatever it is. Throws only when the process could not run to the end.
 * @throws MultipassError kind "not-installed" (cannot start), "timeout" (killed
 *   after `timeoutMs`) or "failed" (aborted through `signal`).
 */
export type Runner = (argv: string[], options: RunOptions) => Promise<RunResult>;

/** Per stream: far above any real `info` document, low enough to bound a worker's memory. */
export const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;
/** After the process has exited, how long a grandchild may keep its pipes open before we stop reading. */
const PIPE_GRACE_MS = 2000;

interface Collector {
  done: Promise<string>;
  cancel(): void;
}

function collect(stream: ReadableStream<Uint8Array>, onChunk?: (chunk: string) => void): Collector {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  const done = (async (): Promise<string> => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done: finished, value } = await reader.read();
      if (finished) break;
      if (onChunk) onChunk(decoder.decode(value, { stream: true }));
      // Keep reading past the cap so the child never blocks on a full pipe.
      if (size < MAX_OUTPUT_BYTES) {
        const kept = value.subarray(0, MAX_OUTPUT_BYTES - size);
        chunks.push(kept);
        size += kept.length;
      }
    }
    if (onChunk) {
      const rest = decoder.decode();
      if (rest !== "") onChunk(rest);
    }
    return new TextDecoder().decode(Buffer.concat(chunks));
  })();
  // Awaited later; until then a read error must not count as unhandled.
  done.catch(() => {});
  return {
    done,
    cancel() {
      reader.cancel().catch(() => {});
    },
  };
}

/** The error of a process that could not be started at all. */
export function notInstalled(binary: string, argv: string[], error: unknown): MultipassError {
  const message =
    errnoOf(error) === "ENOENT"
      ? `multipass not found at ${JSON.stringify(binary)}`
      : `multipass at ${JSON.stringify(binary)} could not be started: ${messageOf(error)}`;
  return new MultipassError({ kind: "not-installed", message, argv, exitCode: null, stderr: "", cause: error });
}

function aborted(label: string, argv: string[], stderr: string, reason: unknown): MultipassError {
  // AbortSignal.timeout() is a deadline, not a cancellation.
  const isDeadline = reason instanceof DOMException && reason.name === "TimeoutError";
  return new MultipassError({
    kind: isDeadline ? "timeout" : "failed",
    message: `${label} was aborted${isDeadline ? " (deadline passed)" : ""}`,
    argv,
    exitCode: null,
    stderr,
    cause: reason,
  });
}

function spawn(binary: string, argv: string[], stdin: RunOptions["stdin"]) {
  try {
    return Bun.spawn(argv, {
      stdin: typeof stdin === "string" ? new TextEncoder().encode(stdin) : (stdin ?? "ignore"),
      stdout: "pipe",
      stderr: "pipe",
      windowsHide: true,
    });
  } catch (error) {
    throw notInstalled(binary, argv, error);
  }
}

/**
 * The default {@link Runner}: `Bun.spawn` with an argv array (never a shell),
 * stdout and stderr piped and collected, SIGKILL on timeout or abort.
 */
export const runProcess: Runner = async (argv, options) => {
  const binary = argv[0];
  if (binary === undefined || binary === "") throw notInstalled("", argv, new Error("empty argv"));
  const label = `multipass ${commandOf(argv)}`;
  if (options.signal?.aborted) throw aborted(label, argv, "", options.signal.reason);

  const proc = spawn(binary, argv, options.stdin);

  let killedFor: "timeout" | "abort" | null = null;
  const kill = (why: "timeout" | "abort"): void => {
    if (killedFor !== null || proc.exitCode !== null || proc.signalCode !== null) return;
    killedFor = why;
    proc.kill("SIGKILL");
  };
  const timer = setTimeout(() => kill("timeout"), options.timeoutMs);
  const onAbort = (): void => kill("abort");
  options.signal?.addEventListener("abort", onAbort, { once: true });

  const listener: { failed: boolean; error?: unknown } = { failed: false };
  const { onStdout } = options;
  const forward =
    onStdout &&
    ((chunk: string): void => {
      if (listener.failed) return;
      try {
        onStdout(chunk);
      } catch (error) {
        // Nobody is listening any more, so the process must not outlive the call.
        listener.failed = true;
        listener.error = error;
        proc.kill("SIGKILL");
      }
    });

  const stdout = collect(proc.stdout, forward);
  const stderr = collect(proc.stderr);
  let result: RunResult;
  try {
    const exitCode = await proc.exited;
    let grace: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<void>((resolve) => {
      grace = setTimeout(resolve, PIPE_GRACE_MS);
    });
    const streams = Promise.all([stdout.done, stderr.done]);
    const finished = await Promise.race([streams.then(() => true), graceOver.then(() => false)]);
    clearTimeout(grace);
    if (!finished) {
      stdout.cancel();
      stderr.cancel();
    }
    const [out, err] = await streams;
    result = { exitCode, stdout: out, stderr: err };
  } catch (error) {
    proc.kill("SIGKILL");
    stdout.cancel();
    stderr.cancel();
    throw error;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }

  if (listener.failed) throw listener.error;
  if (killedFor === "timeout") {
    throw new MultipassError({
      kind: "timeout",
      message: `${label} timed out after ${formatDuration(options.timeoutMs)}`,
      argv,
      exitCode: null,
      stderr: result.stderr,
    });
  }
  if (killedFor === "abort") throw aborted(label, argv, result.stderr, options.signal?.reason);
  return result;
};
