/**
 * Snapshot routes of the API (issue 15; the work is in snapshots.ts):
 * - `GET /api/v1/snapshots[?instance=REF]` — every node's snapshots (or one
 *   instance's): `{ snapshots: [{ node, instance, name, parent, comment }],
 *   errors: [{ node, message }] }`, each node bounded by the node timeout;
 * - `POST /api/v1/instances/:ref/snapshots` — body `{ name?, comment? }`: 201;
 * - `POST /api/v1/instances/:ref/snapshots/:snap/restore` — body `{ destructive? }`;
 * - `DELETE /api/v1/instances/:ref/snapshots/:snap`.
 *
 * The changes answer `{ node, instance, snapshot, taken, snapshots }` and are
 * audited (actions "snapshot", "restore", "delete-snapshot"). Every name and
 * body is checked, and the instance resolved, before anything is recorded or
 * sent: a bad one changes nothing. With `Accept: application/x-ndjson` a take
 * or a restore streams keepalives while the host works, then one
 * SnapshotChangeEvent (`done` with that answer, or `error`), so no idle timer
 * on the way cuts a long one; otherwise the request is held open (`holdOpen`)
 * and the change's own bound ends it, not the server's idle timer.
 */
import type { Context, Hono } from "hono";
import { parseInstanceRef } from "../core/validate.ts";
import { holdOpen, readBody } from "../net/http.ts";
import type { BunEnv } from "../net/ws.ts";
import { toAppError } from "../core/errors.ts";
import { streamedResponse } from "../net/stream.ts";
import { parseRestoreSnapshotBody, parseTakeSnapshotBody, validateSnapshotName, type SnapshotChangeEvent, type SnapshotChangeResponse } from "../protocol/snapshots.ts";
import { instanceTarget } from "./targets.ts";
import { createNodeLoad } from "./call-bounds.ts";
import type { Caller } from "./audit-policy.ts";
import { deleteSnapshot, listSnapshots, restoreSnapshot, takeSnapshot, type SnapshotDeps } from "./snapshots.ts";

const MAX_BODY_BYTES = 64 * 1024;

/** A change's answer: streamed when asked for NDJSON, else JSON at the end. */
async function changeAnswer(c: Context<BunEnv>, status: 200 | 201, work: () => Promise<SnapshotChangeResponse>): Promise<Response> {
  if ((c.req.header("accept") ?? "").includes("application/x-ndjson")) {
    return streamedResponse((out) =>
      work().then(
        (result) => out.write({ type: "done", result } satisfies SnapshotChangeEvent),
        (error) => {
          const e = toAppError(error);
          out.write({ type: "error", code: e.code, message: e.message } satisfies SnapshotChangeEvent);
        },
      ),
    );
  }
  holdOpen(c);
  return c.json(await work(), status);
}

export function registerSnapshotRoutes(app: Hono<BunEnv>, routeDeps: Omit<SnapshotDeps, "load"> & { caller: (c: Context) => Caller; nodeTimeoutMs: number }): void {
  const deps = { ...routeDeps, load: createNodeLoad() };
  app.get("/api/v1/snapshots", async (c) => {
    const text = c.req.query("instance");
    const ref = text === undefined ? null : parseInstanceRef(text);
    holdOpen(c);
    return c.json(await listSnapshots(deps, ref, { timeoutMs: deps.nodeTimeoutMs, signal: c.req.raw.signal }));
  });
  app.post("/api/v1/instances/:ref/snapshots", async (c) => {
    const ref = parseInstanceRef(c.req.param("ref"));
    const body = await readBody(c, MAX_BODY_BYTES, parseTakeSnapshotBody);
    instanceTarget(deps.registry, ref);
    return changeAnswer(c, 201, () => takeSnapshot(deps, deps.caller(c), ref, body));
  });
  app.post("/api/v1/instances/:ref/snapshots/:snap/restore", async (c) => {
    const ref = parseInstanceRef(c.req.param("ref"));
    const snapshot = validateSnapshotName(c.req.param("snap"));
    const body = await readBody(c, MAX_BODY_BYTES, parseRestoreSnapshotBody);
    instanceTarget(deps.registry, ref);
    return changeAnswer(c, 200, () => restoreSnapshot(deps, deps.caller(c), ref, snapshot, body));
  });
  app.delete("/api/v1/instances/:ref/snapshots/:snap", async (c) => {
    const ref = parseInstanceRef(c.req.param("ref"));
    const snapshot = validateSnapshotName(c.req.param("snap"));
    holdOpen(c);
    return c.json(await deleteSnapshot(deps, deps.caller(c), ref, snapshot));
  });
}
