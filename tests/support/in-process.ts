/**
 * A master and workers in this very process: real servers on port 0, real
 * sockets, the in-memory Multipass fake. Everything started is stopped by
 * {@link runCleanups}.
 */
import type { Server } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditStore } from "../../lib/master/audit-store.ts";
import { databasePath, openDatabase } from "../../lib/master/database.ts";
import { createMaster, type Master } from "../../lib/master/master.ts";
import { loadNodeKeys, nodeKeysPath } from "../../lib/master/node-keys.ts";
import { generateNodeKey, type NodeKey } from "../../lib/net/node-key.ts";
import { arrayOf, parseJson } from "../../lib/core/parse.ts";
import { parseInstanceView, type InstanceView } from "../../lib/protocol/api.ts";
import type { LivenessTimes } from "../../lib/net/liveness.ts";
import type { HostResources } from "../../lib/protocol/join.ts";
import type { FailureLimits } from "../../lib/net/rate-limit.ts";
import { createWorker } from "../../lib/worker/worker.ts";
import { websocketHandler, type WsData } from "../../lib/net/ws.ts";
import type { FakeMultipass } from "./fake-multipass.ts";
import { createTestLog } from "./test-log.ts";

export const JOIN = "mvj_join-token-for-tests-0000000000000000";
export const API = "mva_api-token-for-tests-00000000000000000";
export const resources = { cpus: 1, load: [0, 0, 0] as [number, number, number], memory: { total: 1, available: 1 }, disk: { total: 1, available: 1 } };

const cleanups: (() => unknown)[] = [];

/** Stops everything started here, newest first; call it in afterEach. */
export async function runCleanups(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c();
}

/** A master on `clusterPort` (0: any); `dataDir` reuses a stopped master's database (audit trail, node keys, cordons), as a restart does. */
export function startMaster(clusterPort = 0, liveness?: LivenessTimes, authLimits?: FailureLimits, options: { dataDir?: string } = {}) {
  const { log, lines } = createTestLog();
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "mv-inproc-"));
  if (options.dataDir === undefined) cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  // A short wait for a locked database (tests/support/database-lock.ts): the wait blocks this one
  // event loop, which the in-process workers and their heartbeats share.
  const database = openDatabase(databasePath(dataDir), undefined, { busyTimeoutMs: 50 });
  const audit = createAuditStore({ database });
  const master = createMaster({
    audit, log, joinToken: JOIN, apiToken: API, heartbeatMs: 200, downGraceMs: 60_000, nodeTimeoutMs: 1000, version: "test", liveness, authLimits, nodeKeys: loadNodeKeys(database, Date.now, { importFrom: nodeKeysPath(dataDir) }), database });
  const cluster = Bun.serve({ hostname: "127.0.0.1", port: clusterPort, fetch: master.clusterApp.fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }) });
  const api = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: master.apiApp.fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }) });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    master.close();
    await Promise.all([cluster.stop(true), api.stop(true)]);
    database.close();
  };
  cleanups.push(stop);
  return { master, cluster, api, lines, stop, audit, dataDir, database };
}

/** A worker in this process; `key` is its node key (a fresh one unless given: a restart of the same node passes its old one); `authLimits` its agent server's failed-token limits. */
export function startWorker(clusterPort: number, name: string, multipass: FakeMultipass, token = JOIN, liveness?: LivenessTimes, hostResources: HostResources = resources, key: NodeKey = generateNodeKey().key, authLimits?: FailureLimits) {
  const { log, lines } = createTestLog();
  const worker = createWorker({
    multipass,
    log,
    name,
    key,
    masterUrl: `http://127.0.0.1:${clusterPort}`,
    joinToken: token,
    advertiseAddr: null,
    version: "test",
    pollMs: 50,
    readResources: () => hostResources,
    env: process.env,
    platform: process.platform,
    backoff: { baseMs: 50, maxMs: 200 },
    liveness,
    authLimits,
  });
  const agent: Server<WsData> = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: worker.agentApp.fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }) });
  const controller = new AbortController();
  const running = worker.run(agent.port ?? 0, controller.signal);
  const stop = async () => {
    controller.abort();
    await running;
    await agent.stop(true);
  };
  cleanups.push(stop);
  return { worker, agent, lines, stop, key };
}

/** How many nodes the master counts Ready, from the node views `GET /api/v1/nodes` answers with. */
export function readyCount(master: Master): number {
  return master.registry.nodeViews().filter((n) => n.state === "Ready").length;
}

/** The master's cached instances, read back through the API's parser from the body `GET /api/v1/instances` answers with. */
export async function listInstances(master: Master): Promise<InstanceView[]> {
  return arrayOf(parseInstanceView)(parseJson(await master.registry.instanceViewsBody().text(), "instances"), "instances");
}
