import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditLog, type AuditLog } from "../../lib/master/audit-log.ts";
import { createMaster } from "../../lib/master/master.ts";
import { loadNodeKeys } from "../../lib/master/node-keys.ts";
import { DURATION_BUCKETS, RequestMetrics } from "../../lib/master/metrics.ts";
import { escapeLabelValue, formatMetrics } from "../../lib/core/prometheus.ts";
import { AppError } from "../../lib/core/errors.ts";
import { websocketHandler } from "../../lib/net/ws.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { createTestLog } from "../support/test-log.ts";
import { API, readyCount, runCleanups, startWorker } from "../support/in-process.ts";
import { waitFor } from "../e2e/harness.ts";

const METRICS = "mvm_metrics-token-for-tests-000000000000";
const dirs: string[] = [];
afterEach(async () => {
  await runCleanups();
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

/** A master whose audit trail fails while `broken` is set, with a metrics token. */
function metricsMaster() {
  const dir = mkdtempSync(join(tmpdir(), "mv-metrics-"));
  dirs.push(dir);
  const file = createAuditLog({ path: join(dir, "events.jsonl") });
  const state = { broken: false };
  const audit: AuditLog = {
    ...file,
    append(record) {
      if (state.broken) throw new AppError("E_STORAGE", "The master cannot write its audit trail: the disk is full (ENOSPC)");
      return file.append(record);
    },
  };
  const { log } = createTestLog();
  const master = createMaster({
    audit,
    log,
    joinToken: "mvj_join-token-for-tests-0000000000000000",
    apiToken: API,
    heartbeatMs: 200,
    downGraceMs: 60_000,
    nodeTimeoutMs: 1000,
    version: "9.9.9",
    nodeKeys: loadNodeKeys(null),
    metricsToken: () => METRICS,
  });
  const cluster = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: master.clusterApp.fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }) });
  const api = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: master.apiApp.fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }) });
  const url = `http://127.0.0.1:${api.port}`;
  const get = (path: string, token: string | null = API) => fetch(`${url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return {
    master,
    cluster,
    url,
    get,
    state,
    async stop() {
      master.close();
      await Promise.all([cluster.stop(true), api.stop(true)]);
    },
  };
}

/** The value of the sample `name{labels}` in an exposition text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ? m[2].split(/,(?=[a-zA-Z_]+=")/) : [];
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(m[3]);
  }
  return undefined;
}

describe("GET /metrics", () => {
  test("the cluster's figures, requests by route and status, audit failures; promtool accepts it", async () => {
    const m = metricsMaster();
    try {
      startWorker(m.cluster.port!, "n1", createFakeMultipass([{ name: "web" }, { name: "db", state: "Stopped" }]));
      startWorker(m.cluster.port!, "n2", createFakeMultipass([{ name: "api" }]));
      await waitFor("two nodes", () => readyCount(m.master) === 2);
      expect((await m.get("/api/v1/instances")).status).toBe(200);
      expect((await m.get("/api/v1/instances/nothere")).status).toBe(404);
      // Refused by the audit trail: the failure is counted (and nothing reaches a node).
      m.state.broken = true;
      expect((await fetch(`${m.url}/api/v1/instances/web/stop`, { method: "POST", headers: { authorization: `Bearer ${API}` } })).status).toBe(503);
      m.state.broken = false;

      const answer = await m.get("/metrics");
      expect(answer.status).toBe(200);
      expect(answer.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
      const text = await answer.text();
      expect(sample(text, "multiverse_info", { version: "9.9.9" })).toBe(1);
      expect(sample(text, "multiverse_nodes", { state: "Ready" })).toBe(2);
      expect(sample(text, "multiverse_nodes", { state: "Down" })).toBe(0);
      expect(sample(text, "multiverse_instances", { node: "n1", state: "Running" })).toBe(1);
      expect(sample(text, "multiverse_instances", { node: "n1", state: "Stopped" })).toBe(1);
      expect(sample(text, "multiverse_instances", { node: "n2", state: "Running" })).toBe(1);
      expect(sample(text, "multiverse_node_cpus", { node: "n1" })).toBe(1);
      expect(sample(text, "multiverse_node_memory_bytes", { node: "n2", kind: "total" })).toBe(1);
      expect(sample(text, "multiverse_cluster_joins_total")).toBe(2);
      expect(sample(text, "multiverse_cluster_rejoins_total")).toBe(0);
      expect(sample(text, "multiverse_audit_write_failures_total")).toBe(1);
      expect(sample(text, "multiverse_forwards_open")).toBe(0);
      // Route patterns, never the path asked for: a name is not a label value.
      expect(sample(text, "multiverse_api_requests_total", { route: "/api/v1/instances", method: "GET", status: "200" })).toBe(1);
      expect(sample(text, "multiverse_api_requests_total", { route: "/api/v1/instances/:ref", method: "GET", status: "404" })).toBe(1);
      expect(sample(text, "multiverse_api_request_duration_seconds_count", { route: "/api/v1/instances", method: "GET", status: "200" })).toBe(1);
      expect(sample(text, "multiverse_api_request_duration_seconds_bucket", { route: "/api/v1/instances", method: "GET", status: "200", le: "+Inf" })).toBe(1);
      expect(text).not.toContain("nothere");
      expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(1024 * 1024);

      const promtool = Bun.which("promtool");
      if (promtool === null) {
        console.warn("promtool is not installed (Debian's prometheus package; .ci/run installs it): the format check is skipped");
      } else {
        const check = Bun.spawnSync([promtool, "check", "metrics"], { stdin: new TextEncoder().encode(text) });
        const said = `${check.stdout.toString()}${check.stderr.toString()}`;
        expect({ code: check.exitCode, said }).toEqual({ code: 0, said: "" });
      }
    } finally {
      await m.stop();
    }
  });

  test("a credential is needed; the metrics token opens /metrics and nothing else", async () => {
    const m = metricsMaster();
    try {
      expect((await m.get("/metrics", null)).status).toBe(401);
      expect((await m.get("/metrics", "mva_wrong-token-000000000000000000000000")).status).toBe(401);
      expect((await m.get("/metrics", METRICS)).status).toBe(200);
      expect((await m.get("/api/v1/nodes", METRICS)).status).toBe(401);
      expect((await m.get("/api/v1/stats", METRICS)).status).toBe(401);
    } finally {
      await m.stop();
    }
  });
});

describe("request metrics and the text format", () => {
  test("buckets are cumulative, with +Inf, _sum and _count", () => {
    const requests = new RequestMetrics();
    requests.observe("/a", "GET", 200, 0.0005);
    requests.observe("/a", "GET", 200, 0.2);
    requests.observe("/a", "GET", 200, 1000);
    const text = formatMetrics(requests.families());
    const labels = { route: "/a", method: "GET", status: "200" };
    expect(sample(text, "multiverse_api_request_duration_seconds_bucket", { ...labels, le: String(DURATION_BUCKETS[0]) })).toBe(1);
    expect(sample(text, "multiverse_api_request_duration_seconds_bucket", { ...labels, le: "0.5" })).toBe(2);
    expect(sample(text, "multiverse_api_request_duration_seconds_bucket", { ...labels, le: "60" })).toBe(2);
    expect(sample(text, "multiverse_api_request_duration_seconds_bucket", { ...labels, le: "+Inf" })).toBe(3);
    expect(sample(text, "multiverse_api_request_duration_seconds_count", labels)).toBe(3);
    expect(sample(text, "multiverse_api_request_duration_seconds_sum", labels)).toBeCloseTo(1000.2005);
  });

  test("bounded: past the series limit new combinations count under route 'other'; odd methods under OTHER", () => {
    const requests = new RequestMetrics();
    for (let i = 0; i < 2100; i++) requests.observe(`/r${i}`, "GET", 200, 0.001);
    requests.observe("/x", "bad method", 200, 0.001);
    const text = formatMetrics(requests.families());
    expect(text.split("\n").filter((l) => l.startsWith("multiverse_api_requests_total{")).length).toBe(2002);
    expect(sample(text, "multiverse_api_requests_total", { route: "other", method: "GET", status: "200" })).toBe(100);
    expect(sample(text, "multiverse_api_requests_total", { route: "other", method: "OTHER", status: "200" })).toBe(1);
  });

  test("label values are escaped: quotes, backslashes and newlines cannot break a line", () => {
    const text = formatMetrics([{ name: "m", help: "h", type: "gauge", samples: [{ labels: { node: 'a"b\\c\nd' }, value: 1 }] }]);
    expect(text).toBe('# HELP m h\n# TYPE m gauge\nm{node="a\\"b\\\\c\\nd"} 1\n');
  });
});
