/**
 * Environments over the API (issue 17; environments.ts):
 *
 * - `POST /api/v1/environments` — body `{ action, document, env?, confirm?,
 *   purge?, name? }` (protocol/environments.ts). `document` is the file as a
 *   JSON value, or its YAML text. Or the YAML file itself as the body
 *   (`Content-Type: application/yaml`) with `?action=…&confirm=1&purge=1`.
 *   - `plan`: answers the plan; nothing changes.
 *   - `apply`: every `{{ env.NAME }}` must be in `env` (else 400, nothing
 *     done); a plan with removals needs `confirm: true` (else 409 with the
 *     plan in `error.plan`, nothing done). With `Accept: application/x-ndjson`
 *     or `text/event-stream` it streams `plan`, `step`, `result`… then `done`
 *     (keepalives while the hosts work); otherwise it is held open and
 *     answers `{ ok, plan, results }` at the end.
 *   - `delete`: the environment named by `name` or the document; every one of
 *     its instances deleted (purged with `purge`, which also forgets the
 *     environment). Streams or answers like apply.
 * - `GET /api/v1/environments` — `{ environments: [...] }`.
 * - `GET /api/v1/environments/:name` — one, with its stored document.
 *
 * A caller that goes away does not stop an apply or a delete.
 */
import type { Context, Hono } from "hono";
import { AppError } from "../core/errors.ts";
import { validateInstanceName } from "../core/validate.ts";
import { errorResponse, holdOpen, readBody } from "../net/http.ts";
import { streamedResponse } from "../net/stream.ts";
import type { BunEnv } from "../net/ws.ts";
import { parseEnvironmentRequest, type EnvironmentEvent, type EnvironmentRequest } from "../protocol/environments.ts";
import type { Caller } from "./audit-policy.ts";
import type { ApplyOutcome, Environments } from "./environments.ts";
import { streamFormatOf } from "./operation-routes.ts";

/** A document of 1 MiB, with room for its cloud-init files and the env values. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export function registerEnvironmentRoutes(app: Hono<BunEnv>, deps: { environments: Environments; caller: (c: Context) => Caller }): void {
  const { environments } = deps;

  app.get("/api/v1/environments", (c) => c.json({ environments: environments.list() }));
  app.get("/api/v1/environments/:name", (c) => c.json(environments.get(validateInstanceName(c.req.param("name")))));

  app.post("/api/v1/environments", async (c) => {
    const request = await readRequest(c);
    const caller = deps.caller(c);
    if (request.action === "delete") {
      const name = request.name ?? environments.read(request.document).env.name;
      return answer(c, (emit) => environments.remove(name, request.purge, caller, emit));
    }
    const doc = environments.read(request.document);
    if (request.action === "plan") return c.json(environments.plan(doc.env));
    const values = envValues(doc.env.envNames, request);
    const plan = environments.plan(doc.env);
    const removals = plan.steps.filter((s) => s.action === "remove").map((s) => s.name);
    if (removals.length > 0 && !request.confirm) {
      const error = new AppError("E_CONFLICT", `Applying "${doc.env.name}" would remove ${removals.join(", ")}: confirm to go ahead (apply --yes, or "confirm": true); nothing was changed`, { details: { plan } });
      return errorResponse(c, error);
    }
    return answer(c, (emit) => environments.apply(doc, { values, confirmed: request.confirm }, caller, emit));
  });
}

/**
 * The request: a JSON body, or (`Content-Type: application/yaml`) the
 * document's YAML itself with `?action=plan|apply|delete[&confirm=1][&purge=1]`
 * — what `curl --data-binary @lab.yaml` sends. Such a request carries no
 * `env` values.
 */
async function readRequest(c: Context): Promise<EnvironmentRequest> {
  if (!/yaml/i.test(c.req.header("content-type") ?? "")) return readBody(c, MAX_BODY_BYTES, parseEnvironmentRequest);
  const length = Number(c.req.header("content-length") ?? "0");
  const text = length > MAX_BODY_BYTES ? null : await c.req.text();
  if (text === null || Buffer.byteLength(text) > MAX_BODY_BYTES) throw new AppError("E_TOO_LARGE", `Request body is larger than ${MAX_BODY_BYTES} bytes`);
  const flag = (key: string): boolean => {
    const value = c.req.query(key);
    if (value === undefined || value === "0" || value === "false") return false;
    if (value === "" || value === "1" || value === "true") return true;
    throw new AppError("E_USAGE", `Invalid ${key} "${value.slice(0, 20)}": expected 1 or 0`);
  };
  const action = c.req.query("action");
  if (action === undefined) throw new AppError("E_USAGE", "A YAML document needs ?action=plan, ?action=apply or ?action=delete");
  return parseEnvironmentRequest({ action, document: text, confirm: flag("confirm"), purge: flag("purge") });
}

/** The `{{ env.NAME }}` values the document uses, each required. @throws AppError E_USAGE naming the missing ones */
function envValues(names: readonly string[], request: EnvironmentRequest): Record<string, string> {
  const missing = names.filter((n) => !Object.hasOwn(request.env, n));
  if (missing.length > 0) throw new AppError("E_USAGE", `The document uses ${missing.map((n) => `{{ env.${n} }}`).join(", ")}, not sent in "env"; nothing was changed`);
  return Object.fromEntries(names.map((n) => [n, request.env[n]!]));
}

/** Streams an apply's or delete's events, or holds the request open for its outcome. */
function answer(c: Context<BunEnv>, run: (emit: (event: EnvironmentEvent) => void) => Promise<ApplyOutcome>): Response | Promise<Response> {
  const format = streamFormatOf(c);
  if (format === null) {
    holdOpen(c);
    return run(() => {}).then((outcome) => {
      if (outcome.error) return errorResponse(c, outcome.error);
      return c.json({ ok: outcome.ok, plan: outcome.plan, results: outcome.results });
    });
  }
  return streamedResponse(
    async (out) => {
      const outcome = await run((event) => out.write(event));
      if (outcome.error) out.write({ type: "error", code: outcome.error.code, message: outcome.error.message });
      else out.write({ type: "done", ok: outcome.ok, results: outcome.results });
    },
    { format },
  );
}
