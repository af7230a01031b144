/**
 * API routes of `multiverse cp` (issue 14). A copy is an exec session whose
 * command the master builds (protocol/copy.ts), never the caller: the
 * caller names paths, and the guest runs a fixed script with them as
 * arguments. Copies never start a stopped instance (as `multipass transfer`
 * does not): the node answers E_CONFLICT `instance "web" is not running`.
 *
 * - `GET /api/v1/instances/:ref/copy-out?path=P[&path=Q…][&recursive=1]` —
 *   WebSocket (session wire, protocol/session.ts): stdout frames carry a
 *   pax tar of the paths, each member named by its basename; stderr frames
 *   carry `multiverse-cp:size:N` first, or `multiverse-cp:error:REASON:PATH`
 *   and a status of its own (protocol/copy.ts COPY_STATUS). Send `eof`.
 *   `websocat -b "ws://…/copy-out?path=notes.txt" -H "Authorization: Bearer $T"`
 * - `GET /api/v1/instances/:ref/copy-in?path=T[&parents=1][&several=1][&raw=1]`
 *   — WebSocket: binary frames in are a tar (or, raw, one file's bytes),
 *   then `eof`; the `exit` frame says whether it is in place (0).
 * - `POST /api/v1/copy` — JSON `{from:{instance,paths,recursive?},
 *   to:{instance,path,parents?}}` (instances as NAME or NAME@NODE): instance
 *   to instance, streamed through the master (copy-pipe.ts); NDJSON out:
 *   `{type:"progress",bytes,total}` about once a second, then
 *   `{type:"done",bytes}` or `{type:"error",code,message}`.
 *   `curl -N -H "Authorization: Bearer $T" -d '{"from":{"instance":"web","paths":["logs"],"recursive":true},"to":{"instance":"db@n2","path":"~"}}' http://…/api/v1/copy`
 *
 * Each copy is one "cp" record in the audit trail, with its paths.
 */
import type { Context, Hono } from "hono";
import { AppError, toAppError } from "../core/errors.ts";
import { parseInstanceRef } from "../core/validate.ts";
import { readBody } from "../net/http.ts";
import { streamedResponse } from "../net/stream.ts";
import type { BunEnv } from "../net/ws.ts";
import { copyInCommand, copyInFromQuery, copyOutCommand, copyOutFromQuery, parseCopyBody, type CopyLine } from "../protocol/copy.ts";
import { DEFAULT_COLS, DEFAULT_ROWS, type SessionSpec } from "../protocol/session.ts";
import type { AuditedCall } from "./audit-policy.ts";
import { CopyPipe } from "./copy-pipe.ts";
import type { NodeEntry, Registry } from "./registry.ts";
import type { SessionOutcome } from "./session-ends.ts";
import type { SessionRelay } from "./session-relay.ts";
import { sessionTarget } from "./targets.ts";

/** Largest `POST /api/v1/copy` body. */
const MAX_COPY_BODY_BYTES = 1024 * 1024;
/** How often a copy between instances reports its progress. */
const PROGRESS_MS = 1000;

export type CopyCall = Omit<AuditedCall, "token">;

export interface CopyRouteDeps {
  registry: Registry;
  relay: SessionRelay;
  /** Records `call` (E_STORAGE when it cannot be); returns what records its end. */
  record: (c: Context<BunEnv>, call: CopyCall, refused: string) => (outcome: SessionOutcome) => void;
  /** Upgrades the client's request to a relayed session of `spec` on `node`, once `call` is recorded (session-routes.ts). */
  upgrade: (c: Context<BunEnv>, node: NodeEntry, spec: SessionSpec, call: CopyCall, refused: string) => Response;
}

/** An exec of the copy script: no terminal, and never a start of a stopped instance. */
function copySpec(instance: string, command: string[]): SessionSpec {
  return { kind: "exec", instance, command, tty: false, cols: DEFAULT_COLS, rows: DEFAULT_ROWS, term: "dumb", autoStart: false };
}

export function registerCopyRoutes(app: Hono<BunEnv>, deps: CopyRouteDeps): void {
  const { registry } = deps;

  app.get("/api/v1/instances/:ref/copy-out", (c) => {
    const { paths, recursive } = copyOutFromQuery(new URL(c.req.url).searchParams);
    const { node, name } = sessionTarget(registry, parseInstanceRef(c.req.param("ref")));
    const call = { action: "cp", node: node.name, instance: name, params: { direction: "out", paths, recursive } };
    return deps.upgrade(c, node, copySpec(name, copyOutCommand(paths, recursive)), call, `Not copying from "${name}"`);
  });

  app.get("/api/v1/instances/:ref/copy-in", (c) => {
    const { path, ...options } = copyInFromQuery(new URL(c.req.url).searchParams);
    const { node, name } = sessionTarget(registry, parseInstanceRef(c.req.param("ref")));
    const call = { action: "cp", node: node.name, instance: name, params: { direction: "in", path, ...options } };
    return deps.upgrade(c, node, copySpec(name, copyInCommand(path, { ...options })), call, `Not copying to "${name}"`);
  });

  app.post("/api/v1/copy", async (c) => {
    const body = await readBody(c, MAX_COPY_BODY_BYTES, parseCopyBody);
    const from = sessionTarget(registry, body.from.instance);
    const to = sessionTarget(registry, body.to.instance);
    const fromRef = `${from.name}@${from.node.name}`;
    const toRef = `${to.name}@${to.node.name}`;
    if (fromRef === toRef) throw new AppError("E_USAGE", `Both sides are ${fromRef}: copy inside an instance with exec -- cp`);
    const params = { direction: "instance", paths: body.from.paths, recursive: body.from.recursive, to: `${toRef}:${body.to.path}`, parents: body.to.parents };
    const onEnd = deps.record(c, { action: "cp", node: from.node.name, instance: from.name, params }, `Not copying from "${fromRef}" to "${toRef}"`);
    let pipe: CopyPipe | null = null;
    return streamedResponse(
      (out) =>
        new Promise<void>((resolve) => {
          let last = 0;
          const write = (line: CopyLine) => out.write(line);
          const finish = (bytes: number, error: AppError | null) => {
            write(error ? { type: "error", code: error.code, message: error.message } : { type: "done", bytes });
            onEnd(error ? { exitCode: null, error: { code: error.code, message: error.message } } : { exitCode: 0, error: null });
            resolve();
          };
          const several = body.from.paths.length > 1;
          try {
            pipe = new CopyPipe({
              fromRef,
              toRef,
              openSource: (end, ended) => deps.relay.open(from.node, copySpec(from.name, copyOutCommand(body.from.paths, body.from.recursive)), end, ended),
              openTarget: (end, ended) => deps.relay.open(to.node, copySpec(to.name, copyInCommand(body.to.path, { parents: body.to.parents, several, raw: false })), end, ended),
              // A slow reader misses progress lines, never data: they are skipped while its answer is full.
              onProgress: (bytes, total) => {
                const now = Date.now();
                if (now - last < PROGRESS_MS || out.full) return;
                last = now;
                write({ type: "progress", bytes, total });
              },
              onDone: ({ bytes, error }) => finish(bytes, error),
            });
          } catch (error) {
            finish(0, toAppError(error, "E_UNREACHABLE"));
          }
        }),
      { onCancel: () => pipe?.cancel() },
    );
  });
}
