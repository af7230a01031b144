/**
 * `multiverse cp [-r] [-p] SRC... DST` (issue 14): files between this
 * machine and instances, and between instances on any nodes, through the
 * master. A remote side is written `NAME[@NODE]:PATH` (a relative or `~/`
 * path is in the instance user's home); `-` is stdin as SRC (one file's
 * bytes) or stdout as DST (the one file's bytes, not a tar).
 *
 * - local → instance: the client streams a tar of the local files from disk
 *   (copy-in route); the guest extracts it beside the target and renames.
 * - instance → local: the client extracts the guest's tar (copy-out route)
 *   beside the target and renames once it is all here (cp-local.ts).
 * - instance → instance: `POST /api/v1/copy`: the master pipes one into the
 *   other, never staged on a disk.
 * A stopped instance is not started (as `multipass transfer`). Exit 0 only
 * when everything is in place.
 */
import { defineCommand } from "citty";
import { withNotes } from "../cli/help.ts";
import { EXIT } from "../cli/run.ts";
import { AppError, isErrorCode, usageError } from "../core/errors.ts";
import { parseInstanceRef } from "../core/validate.ts";
import { parseCopyLine } from "../protocol/copy.ts";
import { SEND_BACKLOG_BYTES } from "../protocol/session.ts";
import type { ApiClient } from "./api-client.ts";
import { apiFor, resolveRef, type ClientContext } from "./context.ts";
import { runCopyLink, type CopyLinkResult } from "./cp-link.ts";
import { checkSources, LocalExtract, memberName, placeLocal, tarOf } from "./cp-local.ts";
import { createCopyProgress } from "./cp-progress.ts";
import { diagnoser, sessionArgs } from "./sessions.ts";
import type { TerminalIo } from "./terminal-io.ts";
import { TarDecoder } from "../core/tar-decode.ts";

/** One operand: a local path, `-`, or `NAME[@NODE]:PATH`. */
export type Operand = { kind: "local"; path: string } | { kind: "stdio" } | { kind: "remote"; ref: string; path: string };

const REMOTE = /^([^/:\s]+):(.*)$/s;

/** @throws AppError E_USAGE for a remote side whose instance name is invalid */
export function parseOperand(text: string): Operand {
  if (text === "-") return { kind: "stdio" };
  const m = REMOTE.exec(text);
  if (m === null) return { kind: "local", path: text };
  parseInstanceRef(m[1]);
  return { kind: "remote", ref: m[1]!, path: m[2]! };
}

const BOTH_LOCAL = "cp needs an instance on one side: NAME[@NODE]:PATH (a local file with a colon in its name: ./NAME:PATH)";

interface CopyJob {
  ctx: ClientContext;
  api: ApiClient;
  recursive: boolean;
  parents: boolean;
  signal: AbortSignal;
  progress: ReturnType<typeof createCopyProgress>;
}

function linkTarget(api: ApiClient, path: string) {
  return { url: `${api.baseUrl.replace(/^http/, "ws")}${path}`, token: api.token, tls: api.tls };
}

/** Throws why a copy session failed; returns when it succeeded. @throws AppError */
function settle(result: CopyLinkResult, ref: string): void {
  if (result.localError) throw result.localError;
  if (result.code === 0 && result.error === null) return;
  throw result.stderr.explain(ref, result.code, result.error === null ? null : { code: result.error.code, message: result.error.message });
}

/** Stdin as chunks, read no faster than they are taken. */
async function* stdinChunks(io: TerminalIo): AsyncGenerator<Uint8Array> {
  const queue: Uint8Array[] = [];
  let queued = 0;
  let ended = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const stop = io.readStdin(
    (bytes) => {
      queue.push(bytes);
      queued += bytes.length;
      if (queued > SEND_BACKLOG_BYTES) io.pauseStdin();
      wake?.();
    },
    () => {
      ended = true;
      wake?.();
    },
    (error) => {
      failure = error;
      wake?.();
    },
  );
  try {
    for (;;) {
      const next = queue.shift();
      if (next !== undefined) {
        queued -= next.length;
        if (queued <= SEND_BACKLOG_BYTES / 2) io.resumeStdin();
        yield next;
        continue;
      }
      if (failure) throw new AppError("E_USAGE", `Cannot read stdin: ${(failure as Error).message}`);
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
  } finally {
    stop();
  }
}

async function toInstance(job: CopyJob, sources: Operand[], target: Extract<Operand, { kind: "remote" }>): Promise<void> {
  const raw = sources.some((s) => s.kind === "stdio");
  if (raw && sources.length > 1) throw usageError("Only one source with '-' (stdin)");
  const paths = sources.map((s) => (s.kind === "local" ? s.path : "-"));
  const total = raw ? null : await checkSources(paths, job.recursive);
  const ref = await resolveRef(job.api, target.ref);
  const query = new URLSearchParams({ path: target.path || "~", parents: job.parents ? "1" : "0", several: sources.length > 1 ? "1" : "0", raw: raw ? "1" : "0" });
  const path = `/api/v1/instances/${encodeURIComponent(ref)}/copy-in?${query}`;
  const result = await runCopyLink({
    target: linkTarget(job.api, path),
    path,
    diagnose: diagnoser(job.api),
    source: raw ? stdinChunks(job.ctx.terminal) : tarOf(paths),
    onProgress: (bytes) => job.progress.update(bytes, total),
    signal: job.signal,
  });
  settle(result, ref);
}

async function fromInstance(job: CopyJob, sources: Extract<Operand, { kind: "remote" }>[], target: Operand): Promise<void> {
  const toStdout = target.kind === "stdio";
  if (toStdout && sources.length > 1) throw usageError("Only one source when the target is '-' (stdout)");
  const placement = target.kind === "local" ? await placeLocal(target.path, sources.length > 1, job.parents) : null;
  const ref = await resolveRef(job.api, sources[0]!.ref);
  const query = new URLSearchParams(sources.map((s): [string, string] => ["path", s.path || "~"]));
  query.set("recursive", job.recursive ? "1" : "0");
  const path = `/api/v1/instances/${encodeURIComponent(ref)}/copy-out?${query}`;
  const extract = placement === null ? null : await LocalExtract.create(placement);
  const onStdout = extract !== null ? (bytes: Uint8Array) => extract.push(bytes) : stdoutWriter(job.ctx.terminal);
  let total: number | null = null;
  try {
    const result = await runCopyLink({
      target: linkTarget(job.api, path),
      path,
      diagnose: diagnoser(job.api),
      onStdout,
      onProgress: (bytes, size) => job.progress.update(bytes, (total = size ?? total)),
      signal: job.signal,
    });
    settle(result, ref);
    await extract?.commit();
  } finally {
    await extract?.abort();
  }
  if (toStdout) await job.ctx.terminal.flush();
}

/** Writes the one file of a tar stream to stdout, waiting for stdout to take it. */
function stdoutWriter(io: TerminalIo): (bytes: Uint8Array) => Promise<void> {
  const decoder = new TarDecoder();
  let files = 0;
  return async (bytes) => {
    for (const event of decoder.push(bytes)) {
      if (event.kind === "entry" && (event.entry.type !== "file" || ++files > 1)) {
        throw new AppError("E_CONFLICT", `${event.entry.name}: only one file can be written to stdout ('-')`);
      }
      if (event.kind === "data" && !io.writeStdout(event.bytes)) {
        await new Promise<void>((resolve) => {
          const off = io.onWritable(() => {
            off();
            resolve();
          });
        });
      }
    }
  };
}

async function betweenInstances(job: CopyJob, sources: Extract<Operand, { kind: "remote" }>[], target: Extract<Operand, { kind: "remote" }>): Promise<void> {
  const body = {
    from: { instance: sources[0]!.ref, paths: sources.map((s) => s.path || "~"), recursive: job.recursive },
    to: { instance: target.ref, path: target.path || "~", parents: job.parents },
  };
  const lines = await job.api.stream("/api/v1/copy", body, { signal: job.signal });
  for await (const text of lines) {
    const line = parseCopyLine(text);
    if (line.type === "progress") job.progress.update(line.bytes, line.total);
    else if (line.type === "done") return;
    else throw new AppError(isErrorCode(line.code) ? line.code : "E_INTERNAL", line.message);
  }
  throw new AppError("E_UNREACHABLE", "The master ended the copy without saying how it went");
}

/** Runs one copy as the operands say. @throws AppError */
export async function copy(job: CopyJob, operands: Operand[]): Promise<void> {
  const target = operands[operands.length - 1]!;
  const sources = operands.slice(0, -1);
  const remote = sources.filter((s): s is Extract<Operand, { kind: "remote" }> => s.kind === "remote");
  if (remote.length > 0 && remote.length < sources.length) throw usageError("Sources must all be local or all in one instance");
  if (remote.some((s) => s.ref !== remote[0]!.ref)) throw usageError("All sources must be in one instance");
  const names = remote.map((s) => memberName(s.path || "~"));
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw usageError(`Two sources are named "${twice}": they would land on the same target`);
  if (target.kind === "remote" && remote.length > 0) return betweenInstances(job, remote, target);
  if (target.kind === "remote") return toInstance(job, sources, target);
  if (remote.length > 0) return fromInstance(job, remote, target);
  throw usageError(BOTH_LOCAL);
}

export function cpCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes({ name: "cp", description: "Copy files between this machine and instances, or between instances: cp [-r] [-p] SRC... DST" }, [
      "A path in an instance is NAME[@NODE]:PATH; a relative or ~/ path is in the instance user's home. '-' is stdin (as SRC) or stdout (as DST).",
      "A stopped instance is not started. The target is written beside itself and renamed into place: a failed copy leaves it as it was.",
    ]),
    args: {
      sources: { type: "positional", required: true, valueHint: "SRC...", description: "What to copy: local paths, NAME[@NODE]:PATH, or -" },
      target: { type: "positional", required: true, valueHint: "DST", description: "Where: a local path, NAME[@NODE]:PATH, or -" },
      recursive: { type: "boolean", alias: "r", default: false, description: "Copy directories and what they hold" },
      parents: { type: "boolean", alias: "p", default: false, description: "Create the target's missing parent directories" },
      ...sessionArgs,
    },
    async run({ args }) {
      const operands = args._.map(String).map(parseOperand);
      if (operands.length < 2) throw usageError("cp needs a source and a target: cp [-r] [-p] SRC... DST");
      const api = apiFor({ ...args, json: false }, ctx);
      const controller = new AbortController();
      const unsubscribe = ctx.terminal.onSignal(() => controller.abort());
      const shown = args._.map(String);
      const progress = createCopyProgress(`${shown.slice(0, -1).join(" ")} → ${shown[shown.length - 1]}`, {
        live: ctx.stderrIsTTY,
        stderr: ctx.stderr,
        cols: () => ctx.terminal.size().cols,
      });
      try {
        await copy({ ctx, api, recursive: args.recursive, parents: args.parents, signal: controller.signal, progress }, operands);
        return EXIT.ok;
      } catch (error) {
        if (controller.signal.aborted) {
          progress.stop();
          ctx.stderr("multiverse: interrupted; nothing was left half-written\n");
          return EXIT.interrupted;
        }
        throw error;
      } finally {
        progress.stop();
        unsubscribe();
      }
    },
  });
}
