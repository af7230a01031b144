/**
 * `GET /metrics` (issue 15): the master's figures in Prometheus' text format
 * — nodes by state, instances by node and state, each node's resources and
 * allocations, sessions and forwards open, API requests counted and timed by
 * route, method and status, joins and rejoins, audit writes that failed, and
 * the process's own memory and CPU.
 *
 * Request metrics are kept per (route pattern, method, status): route
 * patterns are the API's own (`/api/v1/instances/:ref`), never the path
 * asked for, so their number is bounded by the routes; a request no route
 * matched counts under `unmatched`. The time is to the answer's headers: a
 * WebSocket upgrade or a streamed answer counts its start, not its life.
 */
import type { Hono } from "hono";
import { matchedRoutes } from "hono/route";
import { formatMetrics, type Family, type HistogramFamily } from "../core/prometheus.ts";
import { presentedToken, requireToken, type TokenCheck } from "../net/http.ts";
import { tokensEqual } from "../net/tokens.ts";
import type { BunEnv } from "../net/ws.ts";
import type { AuditLog } from "./audit-log.ts";
import type { ClusterCounters, SessionView } from "../protocol/api.ts";
import { NODE_STATES } from "../protocol/join.ts";
import type { Registry } from "./registry.ts";

/** Upper bounds of the request-duration histogram, in seconds: a cached listing is sub-millisecond, a live `info` can take a node timeout. */
export const DURATION_BUCKETS = [0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60] as const;
/** Most (route, method, status) series kept; past it, new ones count under route "other". */
const MAX_SERIES = 2000;

interface Series {
  labels: { route: string; method: string; status: string };
  counts: number[];
  sum: number;
  count: number;
}

/** API requests counted and timed, in bounded memory. */
export class RequestMetrics {
  readonly #series = new Map<string, Series>();

  /** One answered request: its route pattern (or null when none matched), method, status and duration. */
  observe(route: string | null, method: string, status: number, seconds: number): void {
    let labels = { route: route ?? "unmatched", method: /^[A-Z]{1,10}$/.test(method) ? method : "OTHER", status: String(status) };
    let key = `${labels.route} ${labels.method} ${labels.status}`;
    if (!this.#series.has(key) && this.#series.size >= MAX_SERIES) {
      labels = { ...labels, route: "other" };
      key = `${labels.route} ${labels.method} ${labels.status}`;
    }
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels, counts: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    const bucket = DURATION_BUCKETS.findIndex((bound) => seconds <= bound);
    if (bucket >= 0) series.counts[bucket]!++;
    series.sum += seconds;
    series.count++;
  }

  families(): (Family | HistogramFamily)[] {
    const series = [...this.#series.values()].sort((a, b) => (a.labels.route + a.labels.method + a.labels.status).localeCompare(b.labels.route + b.labels.method + b.labels.status));
    return [
      {
        name: "multiverse_api_requests_total",
        help: "API requests answered, by route pattern, method and status.",
        type: "counter",
        samples: series.map((s) => ({ labels: s.labels, value: s.count })),
      },
      {
        name: "multiverse_api_request_duration_seconds",
        help: "Time to answer an API request (to its headers: a WebSocket or a stream counts its start).",
        type: "histogram",
        buckets: DURATION_BUCKETS,
        series: series.map((s) => ({ labels: s.labels, counts: s.counts, sum: s.sum, count: s.count })),
      },
    ];
  }
}

export interface MetricsDeps {
  registry: Registry;
  sessions: () => readonly SessionView[];
  counters: ClusterCounters;
  requests: RequestMetrics;
  /** Audit records that could not be written since the master started. */
  auditFailures: () => number;
  /** When the master started (ms since the epoch). */
  startedAt: number;
  version: string;
}

const gauge = (name: string, help: string, samples: Family["samples"]): Family => ({ name, help, type: "gauge", samples });
const counter = (name: string, help: string, value: number): Family => ({ name, help, type: "counter", samples: [{ labels: {}, value }] });

/** The exposition text now. */
export function renderMetrics(deps: MetricsDeps): string {
  const nodes = deps.registry.nodeViews();
  const byState = new Map<string, number>(NODE_STATES.map((s) => [s, 0]));
  for (const node of nodes) byState.set(node.state, (byState.get(node.state) ?? 0) + 1);
  const instances = new Map<string, { node: string; state: string; n: number }>();
  for (const entry of deps.registry.entries()) {
    for (const instance of entry.snapshot.instances) {
      const key = `${entry.name}\u0000${instance.state}`;
      const at = instances.get(key) ?? { node: entry.name, state: instance.state, n: 0 };
      at.n++;
      instances.set(key, at);
    }
  }
  const sessions = deps.sessions();
  const kinds = new Map<string, number>([["shell", 0], ["exec", 0]]);
  for (const s of sessions) if (s.kind !== "forward") kinds.set(s.kind, (kinds.get(s.kind) ?? 0) + 1);
  const perNode = (help: string, name: string, value: (n: (typeof nodes)[number]) => number) => gauge(name, help, nodes.map((n) => ({ labels: { node: n.name }, value: value(n) })));
  const cpu = process.cpuUsage();
  return formatMetrics([
    { name: "multiverse_info", help: "The master's version.", type: "gauge", samples: [{ labels: { version: deps.version }, value: 1 }] },
    gauge("multiverse_nodes", "Nodes by state.", [...byState].map(([state, value]) => ({ labels: { state }, value }))),
    gauge("multiverse_instances", "Instances by node and state, from the master's cache.", [...instances.values()].map((i) => ({ labels: { node: i.node, state: i.state }, value: i.n }))),
    perNode("Host CPUs.", "multiverse_node_cpus", (n) => n.resources.cpus),
    perNode("Host load average over one minute.", "multiverse_node_load1", (n) => n.resources.load[0]),
    gauge("multiverse_node_memory_bytes", "Host memory, total and available.", nodes.flatMap((n) => [
      { labels: { node: n.name, kind: "total" }, value: n.resources.memory.total },
      { labels: { node: n.name, kind: "available" }, value: n.resources.memory.available },
    ])),
    gauge("multiverse_node_disk_bytes", "Host disk where Multipass keeps its instances, total and available.", nodes.flatMap((n) => [
      { labels: { node: n.name, kind: "total" }, value: n.resources.disk.total },
      { labels: { node: n.name, kind: "available" }, value: n.resources.disk.available },
    ])),
    perNode("CPUs the node's live instances were launched with.", "multiverse_node_allocated_cpus", (n) => n.allocated.cpus),
    perNode("Memory the node's live instances were launched with.", "multiverse_node_allocated_memory_bytes", (n) => n.allocated.memory),
    perNode("Disk the node's live instances were launched with.", "multiverse_node_allocated_disk_bytes", (n) => n.allocated.disk),
    gauge("multiverse_sessions_open", "Shells and execs relayed now, by kind.", [...kinds].map(([kind, value]) => ({ labels: { kind }, value }))),
    gauge("multiverse_forwards_open", "Forwarded TCP connections relayed now (port-forward, ssh-proxy).", [{ labels: {}, value: sessions.filter((s) => s.kind === "forward").length }]),
    ...deps.requests.families(),
    counter("multiverse_cluster_joins_total", "Workers welcomed since the master started.", deps.counters.joins),
    counter("multiverse_cluster_rejoins_total", "Of those, nodes the master already listed, coming back.", deps.counters.rejoins),
    counter("multiverse_cluster_rejected_total", "Join sockets closed for a protocol error or a missing hello.", deps.counters.rejected),
    counter("multiverse_audit_write_failures_total", "Audit records that could not be written (each refused its call).", deps.auditFailures()),
    { name: "process_resident_memory_bytes", help: "Resident memory of the master.", type: "gauge", samples: [{ labels: {}, value: process.memoryUsage.rss() }] },
    counter("process_cpu_seconds_total", "CPU time of the master, user and system.", (cpu.user + cpu.system) / 1e6),
    { name: "process_start_time_seconds", help: "When the master started, in seconds since the epoch.", type: "gauge", samples: [{ labels: {}, value: deps.startedAt / 1000 }] },
  ]);
}

/** An audit trail that counts the records it could not write (`multiverse_audit_write_failures_total`). */
export function countingAudit(audit: AuditLog): { audit: AuditLog; failures: () => number } {
  let failures = 0;
  return {
    audit: {
      append(record) {
        try {
          return audit.append(record);
        } catch (error) {
          failures++;
          throw error;
        }
      },
      list: (options) => audit.list(options),
      interrupted: () => audit.interrupted(),
      onAppend: (listener) => audit.onAppend(listener),
    },
    failures: () => failures,
  };
}

/** Times every request of `app` into `requests`; registered before the routes. */
export function timeRequests(app: Hono<BunEnv>, requests: RequestMetrics): void {
  app.use("*", async (c, next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      // The pattern of the handler that answered (the last one run); none when only middleware ran.
      const answered = matchedRoutes(c)[c.req.routeIndex];
      const route = answered !== undefined && answered.method !== "ALL" ? answered.path : null;
      requests.observe(route, c.req.method, c.res.status, (performance.now() - start) / 1000);
    }
  });
}

/**
 * `GET /metrics`: for the API token, or for the read-only metrics token when
 * the master has one (`--metrics-token-file`), which opens nothing else.
 */
export function registerMetricsRoute(app: Hono<BunEnv>, deps: { check: TokenCheck; metricsToken: () => string | null; render: () => string }): void {
  const apiToken = requireToken(deps.check);
  app.get("/metrics", async (c, next) => {
    const presented = presentedToken(c);
    const metricsToken = deps.metricsToken();
    if (presented !== null && metricsToken !== null && tokensEqual(presented, metricsToken)) return next();
    return apiToken(c, next);
  }, (c) => c.body(deps.render(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }));
}
