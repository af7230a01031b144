/**
 * Agent routes that change the host (master only, like every agent route):
 * - `POST /agent/v1/launch` — a LaunchSpec; answers NDJSON: `progress`
 *   lines while Multipass works, then `done` with the host's fresh listing,
 *   or `error`;
 * - `POST /agent/v1/instances/:name/:action` — a lifecycle verb; answers the
 *   fresh listing;
 * - `POST /agent/v1/purge` — removes deleted instances; answers the listing.
 */
import type { Hono } from "hono";
import { toAppError } from "../core/errors.ts";
import { readBody } from "../net/http.ts";
import { streamedResponse } from "../net/stream.ts";
import { parseActionOptions, parseLaunchSpec, parseLifecycleAction, type AgentLaunchEvent } from "../protocol/operations.ts";
import { validateInstanceName } from "../core/validate.ts";
import type { WorkerOps } from "./host-ops.ts";
import type { BunEnv } from "../net/ws.ts";

const MAX_BODY_BYTES = 1024 * 1024;

export function registerAgentOpRoutes(app: Hono<BunEnv>, deps: { ops: WorkerOps }): void {
  const { ops } = deps;

  app.post("/agent/v1/launch", async (c) => {
    const spec = await readBody(c, MAX_BODY_BYTES, parseLaunchSpec);
    // The master going away does not stop the launch: Multipass's daemon would carry on too.
    return streamedResponse((out) => {
      const emit = (event: AgentLaunchEvent) => out.write(event);
      return ops.launch(spec, (p) => emit({ type: "progress", phase: p.phase, percent: p.percent, text: p.text })).then(
        (instances) => emit({ type: "done", instances }),
        (error) => {
          const e = toAppError(error);
          emit({ type: "error", code: e.code, message: e.message });
        },
      );
    });
  });

  app.post("/agent/v1/instances/:name/:action", async (c) => {
    const name = validateInstanceName(c.req.param("name"));
    const action = parseLifecycleAction(c.req.param("action"));
    const options = await readBody(c, MAX_BODY_BYTES, parseActionOptions);
    return c.json({ instances: await ops.act(action, name, options) });
  });

  app.post("/agent/v1/purge", async (c) => c.json({ instances: await ops.purge() }));
}
