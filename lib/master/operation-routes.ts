/**
 * API routes that change the cluster:
 * - `POST /api/v1/instances` — launch. Body: `{ name?, image?, cpus?, memory?,
 *   disk?, cloudInit?, timeoutSeconds?, node?, dryRun? }`. With `Accept:
 *   application/x-ndjson` or `text/event-stream` the answer streams events
 *   (`placed`, `progress`…, then `launched` or `error`); otherwise it comes
 *   at the end as `201 { node, name, state, ipv4 }` or an error. `dryRun`
 *   answers `{ node, reason }` and launches nothing.
 * - `POST /api/v1/instances/:ref/{start,stop,restart,suspend,delete,recover}`
 *   — body `{ force?, purge? }`; answers the instance's result.
 * - `POST /api/v1/actions/:action` — body `{ instances: [ref…] | all: true,
 *   force?, purge? }`; answers `{ ok, results: [{ node, name, ok, state, error }] }`.
 * - `POST /api/v1/purge` — body `{ node? }`; removes deleted instances.
 *
 * Every name is resolved before anything is done: a bare name on several
 * nodes is refused (409, with the candidates) and nothing happens.
 */
import type { Context, Hono } from "hono";
import { AppError } from "../core/errors.ts";
import { errorResponse, readBody } from "../net/http.ts";
import { streamedResponse } from "../net/stream.ts";
import type { Caller } from "./audit-policy.ts";
import type { Operations } from "./operations.ts";
import { LIFECYCLE_ACTIONS, parseActionOptions, parseBulkAction, parseLaunchRequest, parseLifecycleAction } from "../protocol/operations.ts";
import { field, object, optional, string } from "../core/parse.ts";
import type { Registry } from "./registry.ts";
import { bulkTargets, instanceTarget, purgeTargets } from "./targets.ts";
import { parseInstanceRef } from "../core/validate.ts";
import type { BunEnv } from "../net/ws.ts";

const MAX_BODY_BYTES = 1024 * 1024;

export function registerOperationRoutes(app: Hono<BunEnv>, deps: { registry: Registry; ops: Operations; caller: (c: Context) => Caller }): void {
  const { registry, ops } = deps;

  app.post("/api/v1/instances", async (c) => {
    const body = await readBody(c, MAX_BODY_BYTES, parseLaunchRequest);
    if (body.dryRun) return c.json({ dryRun: true, ...ops.planLaunch(body) });
    const prepared = ops.prepareLaunch(body);
    const caller = deps.caller(c);
    const accept = c.req.header("accept") ?? "";
    const sse = accept.includes("text/event-stream");
    if (!sse && !accept.includes("application/x-ndjson")) {
      const end = await ops.runLaunch(prepared, caller, () => {});
      if (end.type === "launched") return c.json({ node: end.node, name: end.name, state: end.state, ipv4: end.ipv4 }, 201);
      return errorResponse(c, new AppError(end.code, end.message));
    }
    // A client that leaves does not stop the launch: the cache will show it.
    return streamedResponse((out) => ops.runLaunch(prepared, caller, (event) => out.write(event)), { format: sse ? "sse" : "ndjson", status: 202 });
  });

  app.post(`/api/v1/instances/:ref/:action{${LIFECYCLE_ACTIONS.join("|")}}`, async (c) => {
    const action = parseLifecycleAction(c.req.param("action"));
    const ref = parseInstanceRef(c.req.param("ref"));
    const options = await readBody(c, MAX_BODY_BYTES, parseActionOptions);
    const [result] = await ops.act(action, [instanceTarget(registry, ref)], options, deps.caller(c));
    if (result?.error) return errorResponse(c, new AppError(result.error.code, result.error.message));
    return c.json(result);
  });

  app.post("/api/v1/actions/:action", async (c) => {
    const action = parseLifecycleAction(c.req.param("action"));
    const body = await readBody(c, MAX_BODY_BYTES, parseBulkAction);
    const results = await ops.act(action, bulkTargets(registry, action, body), body, deps.caller(c));
    return c.json({ ok: results.every((r) => r.ok), results });
  });

  app.post("/api/v1/purge", async (c) => {
    const nodeName = await readBody(c, MAX_BODY_BYTES, (v) => field(object(v, "body"), "node", "body", optional(string)));
    const results = await ops.purge(purgeTargets(registry, nodeName), deps.caller(c));
    return c.json({ ok: results.every((r) => r.ok), results });
  });
}
