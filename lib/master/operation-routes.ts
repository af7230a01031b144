/**
 * API routes that change the cluster:
 * - `POST /api/v1/instances` — launch. Body: `{ name?, image?, cpus?, memory?,
 *   disk?, cloudInit?, timeoutSeconds?, node?, dryRun?, allowPrimary? }`.
 *   With `Accept: application/x-ndjson` or `text/event-stream` the answer
 *   streams events (`placed`, `progress`…, then `launched` or `error`);
 *   otherwise it comes at the end as `201 { node, name, state, ipv4 }` or an
 *   error. `dryRun` answers `{ node, reason }` and launches nothing.
 * - `POST /api/v1/instances/:ref/{start,stop,restart,suspend,delete,recover}`
 *   — body `{ force?, purge? }`; answers the instance's result.
 * - `POST /api/v1/actions/:action` — body `{ instances: [ref…] | all: true |
 *   selector: "role=web,…", force?, purge? }`; answers `{ ok, results: [{ node,
 *   name, ok, state, error }] }`; a selector that selects nothing the verb
 *   applies to is 404, saying so.
 * - `POST /api/v1/purge` — body `{ node? }`; removes deleted instances;
 *   answers `{ ok, results: [{ node, ok, purged, error }] }`.
 *
 * The lifecycle routes and purge stream too when asked to (the same Accept
 * headers): `{ type: "result", result }` for each instance (or node) as it
 * finishes, then `{ type: "done", ok, results }` with what the JSON answer
 * would hold. A stream carries keepalives while the host works (net/stream.ts),
 * so a stop that takes the daemon's 300 s looks alive on every hop. Without
 * a stream, the request is held open (`holdOpen`) until the answer is ready:
 * the operation's own bound ends it, not the server's idle timer.
 *
 * Every name is resolved before anything is done: a bare name on several
 * nodes is refused (409, with the candidates) and nothing happens. A caller
 * that goes away does not stop anything: the operation runs to its end on
 * the host, and the audit trail records its outcome.
 */
import type { Context, Hono } from "hono";
import { AppError } from "../core/errors.ts";
import { errorResponse, holdOpen, readBody } from "../net/http.ts";
import { streamedResponse, type StreamFormat } from "../net/stream.ts";
import type { Caller } from "./audit-policy.ts";
import type { Operations } from "./operations.ts";
import { LIFECYCLE_ACTIONS, parseActionOptions, parseBulkAction, parseLaunchRequest, parseLifecycleAction } from "../protocol/operations.ts";
import { field, object, optional, string } from "../core/parse.ts";
import type { Registry } from "./registry.ts";
import { bulkTargets, instanceTarget, purgeTargets } from "./targets.ts";
import { parseInstanceRef } from "../core/validate.ts";
import type { BunEnv } from "../net/ws.ts";

const MAX_BODY_BYTES = 1024 * 1024;

/** The streamed format a request asks for with its Accept header, or null for one JSON answer. */
export function streamFormatOf(c: Context): StreamFormat | null {
  const accept = c.req.header("accept") ?? "";
  if (accept.includes("text/event-stream")) return "sse";
  if (accept.includes("application/x-ndjson")) return "ndjson";
  return null;
}

/**
 * The answer of a call with several outcomes (a lifecycle verb, a purge):
 * streamed as each outcome comes, then `done`; or, held open, one JSON
 * `{ ok, results }` at the end.
 */
function outcomesAnswer<R extends { ok: boolean }>(c: Context<BunEnv>, run: (onResult?: (result: R) => void) => Promise<R[]>): Response | Promise<Response> {
  const format = streamFormatOf(c);
  if (format === null) {
    holdOpen(c);
    return run().then((results) => c.json({ ok: results.every((r) => r.ok), results }));
  }
  return streamedResponse(
    async (out) => {
      const results = await run((result) => out.write({ type: "result", result }));
      out.write({ type: "done", ok: results.every((r) => r.ok), results });
    },
    { format },
  );
}

export function registerOperationRoutes(app: Hono<BunEnv>, deps: { registry: Registry; ops: Operations; caller: (c: Context) => Caller }): void {
  const { registry, ops } = deps;

  app.post("/api/v1/instances", async (c) => {
    const body = await readBody(c, MAX_BODY_BYTES, parseLaunchRequest);
    if (body.dryRun) return c.json({ dryRun: true, ...ops.planLaunch(body) });
    const prepared = ops.prepareLaunch(body);
    const caller = deps.caller(c);
    const format = streamFormatOf(c);
    if (format === null) {
      holdOpen(c);
      const end = await ops.runLaunch(prepared, caller, () => {});
      if (end.type === "launched") return c.json({ node: end.node, name: end.name, state: end.state, ipv4: end.ipv4 }, 201);
      return errorResponse(c, new AppError(end.code, end.message));
    }
    return streamedResponse((out) => ops.runLaunch(prepared, caller, (event) => out.write(event)), { format, status: 202 });
  });

  app.post(`/api/v1/instances/:ref/:action{${LIFECYCLE_ACTIONS.join("|")}}`, async (c) => {
    const action = parseLifecycleAction(c.req.param("action"));
    const ref = parseInstanceRef(c.req.param("ref"));
    const options = await readBody(c, MAX_BODY_BYTES, parseActionOptions);
    const targets = [instanceTarget(registry, ref)];
    const caller = deps.caller(c);
    if (streamFormatOf(c) !== null) return outcomesAnswer(c, (onResult) => ops.act(action, targets, options, caller, onResult));
    holdOpen(c);
    const [result] = await ops.act(action, targets, options, caller);
    if (result?.error) return errorResponse(c, new AppError(result.error.code, result.error.message));
    return c.json(result);
  });

  app.post("/api/v1/actions/:action", async (c) => {
    const action = parseLifecycleAction(c.req.param("action"));
    const body = await readBody(c, MAX_BODY_BYTES, parseBulkAction);
    const targets = bulkTargets(registry, action, body);
    const caller = deps.caller(c);
    return outcomesAnswer(c, (onResult) => ops.act(action, targets, body, caller, onResult));
  });

  app.post("/api/v1/purge", async (c) => {
    const nodeName = await readBody(c, MAX_BODY_BYTES, (v) => field(object(v, "body"), "node", "body", optional(string)));
    const nodes = purgeTargets(registry, nodeName);
    const caller = deps.caller(c);
    return outcomesAnswer(c, (onResult) => ops.purge(nodes, caller, onResult));
  });
}
