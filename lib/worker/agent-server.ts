/**
 * The worker's agent server: what the master calls for live answers. It
 * accepts only the secret the master handed out in this membership's welcome,
 * so neither clients nor other workers can drive it; a call under a past
 * membership's secret is refused as "rejoined", not as a refused token.
 *
 * Routes:
 * - `GET /healthz` — open;
 * - `GET /identity?nonce=N` — open; the node's signature of the master's
 *   nonce (AgentIdentity), so the master knows it reached this node;
 * - `GET /agent/v1/info[?name=N…]` — live `multipass info`, which may queue
 *   behind a running stop for minutes: the server's idle timeout is lifted
 *   for it, and the master's own per-node timeout ends the wait;
 * - `GET /agent/v1/session` — WebSocket; a shell or an exec, or an attach to
 *   a kept shell (session-host.ts);
 * - `GET /agent/v1/sessions` — the kept shells, attached or detached (AgentSessions);
 * - launch, lifecycle verbs, purge and the outcomes of past calls: agent-routes.ts.
 */
import type { Hono } from "hono";
import type { ConsolaInstance } from "consola";
import { createBaseApp, errorResponse, holdOpen, presentedToken, requireToken } from "../net/http.ts";
import { AppError } from "../core/errors.ts";
import type { TokenStanding } from "./membership.ts";
import { createFailureLimiter, type FailureLimits } from "../net/rate-limit.ts";
import type { Multipass } from "../multipass/driver.ts";
import type { AgentIdentity, AgentInfoResponse, AgentSessions } from "../protocol/agent.ts";
import { agentProofText, parseNonce } from "../protocol/identity.ts";
import { ParseError } from "../core/parse.ts";
import type { NodeKey } from "../net/node-key.ts";
import { validateInstanceName } from "../core/validate.ts";
import { registerAgentOpRoutes } from "./agent-routes.ts";
import { registerSnapshotRoutes, type SnapshotOps } from "./snapshots.ts";
import type { SessionHost } from "./session-host.ts";
import type { WorkerOps } from "./host-ops.ts";
import { upgrade, type BunEnv } from "../net/ws.ts";

export interface AgentDeps {
  multipass: Multipass;
  /** The current membership's agent secret; null while not joined. */
  agentToken: () => string | null;
  /** Whether a presented secret is the current one or a past membership's (membership.ts); without it, only the current one is known. */
  standing?: (token: string) => TokenStanding;
  log: ConsolaInstance;
  name: string;
  /** The node's key: the agent server signs the master's nonces with it. */
  key: NodeKey;
  sessions: SessionHost;
  ops: WorkerOps;
  /** Failed tokens allowed per address before a lockout (default DEFAULT_FAILURE_LIMITS). */
  authLimits?: FailureLimits;
  /** The snapshot routes (snapshots.ts); without them the node has none. */
  snapshots?: SnapshotOps;
}

/** Unguessable placeholder for "no master yet": comparing against it always fails. */
const NOBODY = crypto.randomUUID() + crypto.randomUUID();

export function createAgentApp(deps: AgentDeps): Hono<BunEnv> {
  // Launch specs (with a cloud-init document) are the largest bodies.
  const app = createBaseApp({ log: deps.log, maxBodyBytes: 2 * 1024 * 1024, name: "agent" });
  app.get("/healthz", (c) => c.json({ ok: true, role: "worker-agent", node: deps.name }));
  app.get("/identity", (c) => {
    let nonce: string;
    try {
      nonce = parseNonce(c.req.query("nonce") ?? "", "nonce");
    } catch (error) {
      throw new AppError("E_USAGE", `Invalid identity request: ${error instanceof ParseError ? error.message : String(error)}`);
    }
    const { publicKey } = deps.key;
    const body: AgentIdentity = { name: deps.name, publicKey, signature: deps.key.sign(agentProofText(nonce, deps.name, publicKey)) };
    return c.json(body);
  });

  // A call the master made under a past membership (queued while this worker stalled, read after
  // it rejoined): refused as such, not as a bad token, and not counted against the master.
  app.use("/agent/*", async (c, next) => {
    const token = presentedToken(c);
    if (token === null || deps.standing?.(token) !== "past") return next();
    const message = `node "${deps.name}" rejoined the master after this call was made (under its previous membership); it was not run`;
    return errorResponse(c, new AppError("E_UNREACHABLE", message));
  });
  app.use("/agent/*", requireToken({ expected: () => deps.agentToken() ?? NOBODY, realm: "agent", limiter: createFailureLimiter(deps.authLimits) }));

  app.get("/agent/v1/info", async (c) => {
    const names = c.req.queries("name") ?? [];
    for (const n of names) validateInstanceName(n);
    holdOpen(c);
    const instances = await deps.multipass.info(names, { signal: c.req.raw.signal });
    const body: AgentInfoResponse = { instances };
    return c.json(body);
  });
  app.get("/agent/v1/session", (c) => upgrade(c, deps.sessions.session()));
  app.get("/agent/v1/sessions", (c) => {
    const body: AgentSessions = { sessions: deps.sessions.list() };
    return c.json(body);
  });
  registerAgentOpRoutes(app, { ops: deps.ops, node: deps.name });
  if (deps.snapshots) registerSnapshotRoutes(app, { snapshots: deps.snapshots });
  return app;
}
