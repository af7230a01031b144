/**
 * The master's client API (default localhost:1338), and the web console.
 * Every `/api` route needs the API token (`Authorization: Bearer …`) or the
 * console's session cookie — with the cookie, a request that could change
 * something must carry this server's own `Origin` (net/http.ts); only the
 * login itself (web-routes.ts), `GET /healthz` and the console's page and
 * files (ui-assets.ts: no cluster data in them) are served without one.
 *
 * - `POST`, `GET`, `DELETE /api/v1/session` — the console's login, who is
 *   logged in, logout (web-routes.ts);
 * - `GET /api/v1/watch` — server-sent events: snapshots of the cache and
 *   audit records as they happen (watch-routes.ts);
 * - `GET /api/v1/nodes[?selector=SEL]`, `GET /api/v1/nodes/:name` — from the
 *   cache; a selector keeps the nodes whose labels it selects;
 * - `DELETE /api/v1/nodes/:name[?force=1]` — drops a Down node (any node
 *   with `force`) from the cache at once, audited (node-removal.ts);
 * - `GET /api/v1/instances[?selector=SEL]`, `GET /api/v1/instances/:ref` —
 *   from the cache, `ref` is `NAME` or `NAME@NODE`; a selector (kubectl's
 *   syntax, core/labels.ts) keeps the instances whose labels it selects;
 * - labels of instances and nodes: see label-routes.ts;
 * - snapshots (list, take, restore, delete): see snapshot-routes.ts;
 * - cordons of nodes (`POST /api/v1/nodes/:name/cordon`, `…/uncordon`): see cordon-routes.ts;
 * - environments (`POST /api/v1/environments` plan/apply/delete, `GET` them): see environment-routes.ts;
 * - `GET /api/v1/info[?instance=REF|selector=SEL][&timeout=MS]` — live, fanned out to the
 *   Ready nodes in parallel, each with its own timeout (default the master's
 *   `--node-timeout`, at most {@link MAX_INFO_TIMEOUT_MS}); the request is
 *   held open that long, and a node that does not answer in time is an
 *   error of the answer beside the others' rows;
 * - shells, execs, sessions and attaches: see session-routes.ts;
 * - launch, lifecycle verbs and purge: see operation-routes.ts;
 * - `GET /api/v1/events`: the audit trail (events-routes.ts);
 * - `GET /api/v1/stats` — the master's own figures: nodes by state,
 *   instances, live sessions, what the cluster server took in, CPU and RSS;
 * - `GET /metrics` — the same and more in Prometheus' text format
 *   (metrics.ts), for the API token or the read-only metrics token.
 */
import type { Hono } from "hono";
import type { ConsolaInstance } from "consola";
import type { AgentClient } from "./agent-client.ts";
import { AppError } from "../core/errors.ts";
import { createBaseApp, holdOpen, requireToken, type TokenCheck } from "../net/http.ts";
import { createFailureLimiter, type FailureLimits } from "../net/rate-limit.ts";
import { liveInfo } from "./live-info.ts";
import { removeNode } from "./node-removal.ts";
import type { Registry } from "./registry.ts";
import { masterStats } from "./stats.ts";
import { registerMetricsRoute, renderMetrics, RequestMetrics, timeRequests } from "./metrics.ts";
import { tokenId, tokenKind } from "../net/tokens.ts";
import { parseInstanceRef, validateNodeName } from "../core/validate.ts";
import type { AuditLog } from "./audit-log.ts";
import { registerEventRoutes } from "./events-routes.ts";
import { registerOperationRoutes } from "./operation-routes.ts";
import { registerLabelRoutes } from "./label-routes.ts";
import { registerSnapshotRoutes } from "./snapshot-routes.ts";
import { registerCordonRoutes } from "./cordon-routes.ts";
import { registerEnvironmentRoutes } from "./environment-routes.ts";
import { createEnvironments } from "./environments.ts";
import { createEnvironmentStore, type EnvironmentStore } from "./environment-store.ts";
import { selectNodes } from "./targets.ts";
import { parseSelectorQuery } from "../protocol/labels.ts";
import type { Operations } from "./operations.ts";
import type { SessionRelay } from "./session-relay.ts";
import { registerSessionRoutes } from "./session-routes.ts";
import { createKeptSessions } from "./kept-sessions.ts";
import type { BunEnv } from "../net/ws.ts";
import { MAX_INFO_TIMEOUT_MS, WEB_SESSION_COOKIE, type ClusterCounters } from "../protocol/api.ts";
import { registerLogin, registerWebSessionRoutes } from "./web-routes.ts";
import { createWebSessions, type WebSessions } from "./web-sessions.ts";
import { registerWatchRoutes } from "./watch-routes.ts";
import { registerConsoleRoutes, unavailableConsole, type ConsolePage } from "./ui-assets.ts";

export interface ApiDeps {
  /** What the cluster server took in, for `GET /api/v1/stats`. */
  counters: ClusterCounters;
  /** When the master started (ms since the epoch). */
  startedAt: number;
  registry: Registry;
  agents: AgentClient;
  apiToken: () => string;
  log: ConsolaInstance;
  /** Default per-node timeout of live calls. */
  nodeTimeoutMs: number;
  version: string;
  relay: SessionRelay;
  ops: Operations;
  audit: AuditLog;
  authLimits?: FailureLimits;
  /** The web console's page (ui-assets.ts); without it `/` answers 503 and says why. */
  console?: ConsolePage;
  /** The console's login sessions (default: a fresh store, web-sessions.ts). */
  webSessions?: WebSessions;
  /** The environments' documents, secrets and members (environment-store.ts); default: in memory. */
  environments?: EnvironmentStore;
  /** Launches the last master left in flight, being settled (reconcile.ts): instance → node. */
  settlingLaunches?: ReadonlyMap<string, string>;
  /** Virtual CPUs placed per host CPU, for environment plans (placement.ts). */
  cpuOvercommit?: number;
  /** What `GET /metrics` adds to the cache's figures (metrics.ts); default: requests counted here, no failures known, no metrics token. */
  metrics?: { requests: RequestMetrics; auditFailures: () => number; metricsToken?: () => string | null };
}

/** Largest request body: a POST exec may carry up to 8 MiB of stdin. */
const MAX_BODY_BYTES = 9 * 1024 * 1024;

export function createApiApp(deps: ApiDeps): Hono<BunEnv> {
  const { registry } = deps;
  const app = createBaseApp({ log: deps.log, maxBodyBytes: MAX_BODY_BYTES, name: "api" });
  const requests = deps.metrics?.requests ?? new RequestMetrics();
  timeRequests(app, requests);

  // Only the API token opens the /api routes, so the caller is that token, by id.
  const caller = () => ({ tokenId: tokenId(deps.apiToken()) });

  app.get("/healthz", (c) => c.json({ ok: true, role: "master-api", version: deps.version }));

  const check: TokenCheck = {
    expected: deps.apiToken,
    realm: "API",
    wrongKind: (t) => (tokenKind(t) === "join" ? "This is the join token; the client API needs the API token" : null),
    limiter: createFailureLimiter(deps.authLimits),
  };
  const web = { sessions: deps.webSessions ?? createWebSessions(), check };
  registerMetricsRoute(app, {
    check,
    metricsToken: deps.metrics?.metricsToken ?? (() => null),
    render: () =>
      renderMetrics({
        registry,
        sessions: () => deps.relay.list(),
        counters: deps.counters,
        requests,
        auditFailures: deps.metrics?.auditFailures ?? (() => 0),
        startedAt: deps.startedAt,
        version: deps.version,
      }),
  });
  registerLogin(app, web);
  app.use(
    "/api/*",
    requireToken({ ...check, cookie: { name: WEB_SESSION_COOKIE, find: (value) => web.sessions.find(value, tokenId(deps.apiToken())) } }),
  );
  registerWebSessionRoutes(app, web);

  app.get("/api/v1/nodes", (c) => c.json(selectNodes(registry, parseSelectorQuery(c.req.query("selector")))));
  app.get("/api/v1/nodes/:name", (c) => {
    const name = c.req.param("name");
    validateNodeName(name);
    const entry = registry.get(name);
    if (!entry) throw new AppError("E_NOT_FOUND", `Node "${name}" is not part of the cluster`);
    return c.json(registry.nodeView(entry));
  });

  app.delete("/api/v1/nodes/:name", async (c) => {
    const name = validateNodeName(c.req.param("name"));
    const force = parseForce(c.req.query("force"));
    return c.json(await removeNode({ registry, audit: deps.audit, log: deps.log }, caller(), name, force));
  });

  app.get("/api/v1/stats", (c) => c.json(masterStats(deps)));

  app.get("/api/v1/instances", (c) => {
    const selector = parseSelectorQuery(c.req.query("selector"));
    if (selector !== null) return c.json(registry.instanceViews(selector));
    return new Response(registry.instanceViewsBody(), { headers: { "content-type": "application/json" } });
  });
  app.get("/api/v1/instances/:ref", (c) => {
    const ref = parseInstanceRef(c.req.param("ref"));
    return c.json(registry.instanceView(registry.resolve(ref.name, ref.node)));
  });

  app.get("/api/v1/info", async (c) => {
    const timeoutMs = parseTimeout(c.req.query("timeout"), deps.nodeTimeoutMs);
    const refText = c.req.query("instance");
    const ref = refText === undefined ? null : parseInstanceRef(refText);
    const selector = parseSelectorQuery(c.req.query("selector"));
    if (ref !== null && selector !== null) throw new AppError("E_USAGE", "Give an instance or a selector, not both");
    // The per-node timeouts bound this wait, not the server's idle timer: with
    // both near one value, whichever fired first decided between an answer and
    // a reset connection that lost every node's rows.
    holdOpen(c);
    return c.json(await liveInfo(deps, ref, { timeoutMs, signal: c.req.raw.signal }, selector));
  });

  const kept = createKeptSessions({ registry, agents: deps.agents, log: deps.log });
  registerSessionRoutes(app, { registry, relay: deps.relay, kept, audit: deps.audit, caller, log: deps.log });
  registerOperationRoutes(app, { registry, ops: deps.ops, caller });
  registerLabelRoutes(app, { registry, audit: deps.audit, log: deps.log, caller });
  registerSnapshotRoutes(app, { registry, audit: deps.audit, log: deps.log, caller, nodeTimeoutMs: deps.nodeTimeoutMs });
  registerCordonRoutes(app, { registry, audit: deps.audit, log: deps.log, caller });
  const settling = deps.settlingLaunches ?? new Map<string, string>();
  const environments = createEnvironments({
    registry,
    ops: deps.ops,
    audit: deps.audit,
    store: deps.environments ?? createEnvironmentStore(null),
    log: deps.log,
    cpuOvercommit: deps.cpuOvercommit,
    launchingOn: (name) => deps.ops.launchingOn(name) ?? settling.get(name) ?? null,
  });
  registerEnvironmentRoutes(app, { environments, caller });
  registerEventRoutes(app, { audit: deps.audit });
  registerWatchRoutes(app, { registry, audit: deps.audit });
  const page = deps.console ?? unavailableConsole("this master was started without its web console");
  registerConsoleRoutes(app, () => page);
  return app;
}

function parseForce(text: string | undefined): boolean {
  if (text === undefined || text === "0" || text === "false") return false;
  if (text === "" || text === "1" || text === "true") return true;
  throw new AppError("E_USAGE", `Invalid force "${text.slice(0, 20)}": expected 1 or 0`);
}

function parseTimeout(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,6}$/.test(text) || Number(text) < 1 || Number(text) > MAX_INFO_TIMEOUT_MS) {
    throw new AppError("E_USAGE", `Invalid timeout "${text.slice(0, 20)}": expected milliseconds between 1 and ${MAX_INFO_TIMEOUT_MS}`);
  }
  return Number(text);
}
