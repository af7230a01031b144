/**
 * Agent routes that change the host (master only, like every agent route).
 * Each takes the master's request id in REQUEST_ID_HEADER and keeps the
 * call's outcome under it in the operation log:
 * - `POST /agent/v1/launch` — a LaunchSpec; answers NDJSON: `progress`
 *   lines while Multipass works, then `done` with the host's fresh listing,
 *   or `error`;
 * - `POST /agent/v1/instances/:name/:action` — a lifecycle verb;
 * - `POST /agent/v1/purge` — removes deleted instances;
 * - `GET /agent/v1/operations/:requestId` — how the call with that request id
 *   went (AgentOperation), or 404 when the worker has no record of it.
 *
 * A lifecycle verb or a purge answers with `Accept: application/x-ndjson`
 * one AgentActionEvent (`done` with the fresh listing, or `error`) on a
 * stream that carries keepalives while Multipass works, so no idle timer on
 * the way cuts a 300 s stop; otherwise the fresh listing as JSON, with the
 * server's idle timeout lifted for the wait. Either way the work goes on if
 * the master leaves: Multipass's daemon would carry on too.
 */
import type { Context, Hono } from "hono";
import { AppError, toAppError } from "../core/errors.ts";
import { holdOpen, readBody } from "../net/http.ts";
import { streamedResponse } from "../net/stream.ts";
import { parseRequestId, REQUEST_ID_HEADER } from "../protocol/agent.ts";
import type { InstanceSummary } from "../protocol/instances.ts";
import { parseActionOptions, parseLaunchSpec, parseLifecycleAction, type AgentActionEvent, type AgentLaunchEvent } from "../protocol/operations.ts";
import { validateInstanceName } from "../core/validate.ts";
import type { WorkerOps } from "./host-ops.ts";
import type { BunEnv } from "../net/ws.ts";

const MAX_BODY_BYTES = 1024 * 1024;

/** The master's request id of a call, or null when the caller sent none. @throws AppError E_USAGE */
function requestIdOf(c: Context<BunEnv>): string | null {
  const header = c.req.header(REQUEST_ID_HEADER);
  return header === undefined ? null : parseRequestId(header);
}

function errorEvent(error: unknown): Extract<AgentActionEvent, { type: "error" }> {
  const e = toAppError(error);
  return { type: "error", code: e.code, message: e.message };
}

/** The answer of a lifecycle verb or a purge: streamed when the caller asks for NDJSON, else JSON at the end. */
async function actionAnswer(c: Context<BunEnv>, work: () => Promise<InstanceSummary[]>): Promise<Response> {
  if ((c.req.header("accept") ?? "").includes("application/x-ndjson")) {
    return streamedResponse((out) =>
      work().then(
        (instances) => out.write({ type: "done", instances } satisfies AgentActionEvent),
        (error) => out.write(errorEvent(error)),
      ),
    );
  }
  holdOpen(c);
  return c.json({ instances: await work() });
}

export function registerAgentOpRoutes(app: Hono<BunEnv>, deps: { ops: WorkerOps; node: string }): void {
  const { ops } = deps;

  app.post("/agent/v1/launch", async (c) => {
    const requestId = requestIdOf(c);
    const spec = await readBody(c, MAX_BODY_BYTES, parseLaunchSpec);
    return streamedResponse((out) => {
      const emit = (event: AgentLaunchEvent) => out.write(event);
      return ops.launch(spec, (p) => emit({ type: "progress", phase: p.phase, percent: p.percent, text: p.text }), requestId).then(
        (instances) => emit({ type: "done", instances }),
        (error) => emit(errorEvent(error)),
      );
    });
  });

  app.post("/agent/v1/instances/:name/:action", async (c) => {
    const requestId = requestIdOf(c);
    const name = validateInstanceName(c.req.param("name"));
    const action = parseLifecycleAction(c.req.param("action"));
    const options = await readBody(c, MAX_BODY_BYTES, parseActionOptions);
    return actionAnswer(c, () => ops.act(action, name, options, requestId));
  });

  app.post("/agent/v1/purge", async (c) => {
    const requestId = requestIdOf(c);
    return actionAnswer(c, () => ops.purge(requestId));
  });

  app.get("/agent/v1/operations/:requestId", (c) => {
    const requestId = parseRequestId(c.req.param("requestId"));
    const operation = ops.operation(requestId);
    if (operation === null) {
      throw new AppError(
        "E_NOT_FOUND",
        `Node "${deps.node}" has no record of request "${requestId}": it never arrived here, it is older than what the worker keeps, or the worker restarted since`,
      );
    }
    return c.json(operation);
  });
}
