/**
 * The fan-out of a fleet exec (issue 15): one command on many instances, at
 * most `parallel` sessions at a time, each the client's ordinary exec session
 * (session.ts) without a terminal, on a {@link FleetIo} of its own. A node
 * that is down fails its sessions at once (the master refuses them); a node
 * that does not accept a session fails it within the master's limit
 * (AGENT_HEADERS_MS in lib/master/agent-client.ts); a session that opens and
 * then never ends is bounded only by `timeoutMs`, when given. None of them
 * holds back the others: each result is written when it comes.
 *
 * A signal to the client (Ctrl-C) hangs every open session up, starts no
 * more, and the run ends as interrupted.
 */
import { formatDuration } from "../core/duration.ts";
import { AppError } from "../core/errors.ts";
import { formatBytes } from "../core/format.ts";
import { FleetIo } from "./fleet-io.ts";
import type { FleetOutput, FleetResult, Outcome } from "./fleet-output.ts";
import { runSession, type SessionRequest } from "./session.ts";
import type { TerminalIo } from "./terminal-io.ts";

/** Sessions open at once unless `--parallel` says otherwise. */
export const DEFAULT_PARALLEL = 16;
/** Most sessions open at once: each holds a socket on the client, the master and a node. */
export const MAX_PARALLEL = 256;

export interface FleetTarget {
  name: string;
  node: string;
}

export interface FleetRun {
  /** In the order of the output's labels. */
  targets: readonly FleetTarget[];
  command: string[];
  parallel: number;
  /** Per instance, from the start of its session; null: wait as long as the session lasts. */
  timeoutMs: number | null;
  /** What every session gets on its stdin. */
  stdin: Uint8Array;
  output: FleetOutput;
  /** The master, its trust, and how to explain a refused session. */
  base: Pick<SessionRequest, "baseUrl" | "token" | "tls" | "diagnose">;
  /** The real terminal: its signals end the run; it is flushed at the end. */
  terminal: TerminalIo;
  now?: () => number;
}

/** Where one instance's session is. */
type Slot = { state: "queued" } | { state: "running"; io: FleetIo; timedOut: boolean } | { state: "ended"; result: FleetResult };

/**
 * Runs the command on every target; resolves with each one's result once all
 * have ended (or, interrupted, once the open ones have hung up).
 */
export async function runFleet(run: FleetRun): Promise<{ results: FleetResult[]; interrupted: boolean }> {
  const now = run.now ?? Date.now;
  const slots: Slot[] = run.targets.map(() => ({ state: "queued" }));
  let interrupted = false;
  let next = 0;

  const unsubscribe = run.terminal.onSignal((signal) => {
    interrupted = true;
    for (const slot of slots) if (slot.state === "running") slot.io.hangUp(signal);
  });
  const unsubscribeWritable = run.terminal.onWritable(() => {
    for (const slot of slots) if (slot.state === "running") slot.io.writable();
  });

  async function one(index: number): Promise<void> {
    const target = run.targets[index]!;
    const io = new FleetIo({ index, output: run.output, term: run.terminal.term, stdin: run.stdin });
    const slot: Slot & { state: "running" } = { state: "running", io, timedOut: false };
    slots[index] = slot;
    const started = now();
    const timer = run.timeoutMs === null ? undefined : setTimeout(() => ((slot.timedOut = true), io.hangUp("SIGTERM")), run.timeoutMs);
    const code = await runSession({ ...run.base, io, kind: "exec", ref: `${target.name}@${target.node}`, command: run.command, tty: false });
    clearTimeout(timer);
    const result = resultOf(target, code, io, { timedOut: slot.timedOut, interrupted, timeoutMs: run.timeoutMs, durationMs: now() - started });
    slots[index] = { state: "ended", result };
    run.output.end(index, result);
  }

  async function worker(): Promise<void> {
    while (!interrupted && next < run.targets.length) await one(next++);
  }

  try {
    await Promise.all(Array.from({ length: Math.min(run.parallel, run.targets.length) }, worker));
  } finally {
    unsubscribe();
    unsubscribeWritable();
  }
  await run.terminal.flush();
  const results = slots.map((slot, i): FleetResult => {
    if (slot.state === "ended") return slot.result;
    const target = run.targets[i]!;
    return { instance: target.name, node: target.node, outcome: "interrupted", exitCode: null, error: "not started", durationMs: 0 };
  });
  return { results, interrupted };
}

/** What a session's end means for the summary, from its status and what its terminal saw. */
function resultOf(
  target: FleetTarget,
  code: number,
  io: FleetIo,
  end: { timedOut: boolean; interrupted: boolean; timeoutMs: number | null; durationMs: number },
): FleetResult {
  const base = { instance: target.name, node: target.node, durationMs: end.durationMs };
  const ended = (outcome: Outcome, exitCode: number | null, error: string | null): FleetResult => ({ ...base, outcome, exitCode, error });
  if (end.timedOut) return ended("timeout", null, `no end within ${formatDuration(end.timeoutMs ?? 0)}${io.opened ? "" : " (the session did not open)"}`);
  if (end.interrupted && io.note !== null) return ended("interrupted", null, io.note);
  // The session's own note means no status of the remote command came back: the master refused the
  // session (the node is Down), the node did not accept it or stopped answering, or the link was lost.
  if (io.note !== null) return ended("unreachable", null, io.note);
  return ended(code === 0 ? "ok" : "failed", code, null);
}

/** Most piped input a fleet exec reads, to send to every instance. */
export const MAX_FLEET_STDIN_BYTES = 8 * 1024 * 1024;

/**
 * Reads all of piped stdin, once, for every session; empty from a terminal
 * (nothing is sent then, and each command sees the end of its input). Other
 * commands that read a whole piped input (`apply -f -`) pass their own limit
 * and the reason for it.
 * @throws AppError E_USAGE past {@link MAX_FLEET_STDIN_BYTES} (or `limit`), or when stdin fails
 */
export function readFleetStdin(io: TerminalIo, limit = MAX_FLEET_STDIN_BYTES, why = "exec on several instances sends at most that to each of them"): Promise<Uint8Array> {
  if (io.stdinIsTTY) return Promise.resolve(new Uint8Array(0));
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const stop = io.readStdin(
      (bytes) => {
        size += bytes.length;
        if (size > limit) {
          stop();
          reject(new AppError("E_USAGE", `Standard input is larger than ${formatBytes(limit)}: ${why}`));
          return;
        }
        chunks.push(bytes.slice());
      },
      () => {
        stop();
        resolve(Buffer.concat(chunks));
      },
      (error) => {
        stop();
        reject(new AppError("E_USAGE", `Cannot read stdin: ${error.message}`));
      },
    );
  });
}
