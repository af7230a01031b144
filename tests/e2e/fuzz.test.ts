/**
 * Hostile input against a real master and worker: every API route gets
 * malformed JSON, wrong types, huge bodies, control characters, unicode,
 * shell metacharacters and path traversal. Never a 5xx, never a crash, and
 * never an argv at multipass that validation should have stopped — the
 * stand-in's own call log is the witness.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseJson } from "../../lib/core/parse.ts";
import { parseMasterMessage } from "../../lib/protocol/join.ts";
import { parseSessionControl } from "../../lib/protocol/session.ts";
import {
  api,
  apiInfo,
  apiInstances,
  apiNodes,
  hostMultipass,
  removeTempDirs,
  simCalls,
  simConfig,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
  type MasterHandle,
  type WorkerHandle,
} from "./harness.ts";

setDefaultTimeout(120_000);

/** What a valid instance name looks like (CONTRACT.md §2.1); anything else must never reach multipass. */
const VALID_NAME = /^([a-zA-Z]|[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9])$/;

const NASTY = [
  "",
  " ",
  "a b",
  "web;rm -rf /",
  "$(reboot)",
  "`id`",
  "web&&true",
  "web|cat",
  "../../etc/passwd",
  "..",
  "/etc/shadow",
  "web\u0000x",
  "web\nx",
  "web\r\n",
  "\u001b[31mred",
  "ünïcødé",
  "💥",
  "-rf",
  "--all",
  "--purge",
  "web@",
  "@n1",
  "web@n1@n2",
  "web@../n1",
  "x".repeat(5000),
  "web%00",
  "%2e%2e%2f",
  "1foo",
  "foo-",
];

const VALUES: unknown[] = [null, true, 0, -1, 1.5, 1e308, "", "x".repeat(300), [], {}, ["a"], { $gt: "" }, NaN];

let master: MasterHandle;
let worker: WorkerHandle;

function namesReachingMultipass(): string[] {
  const names: string[] = [];
  for (const argv of simCalls(worker.simDir)) {
    const [command, ...rest] = argv;
    if (command === "launch") {
      const at = rest.indexOf("--name");
      if (at >= 0) names.push(rest[at + 1] ?? "");
    } else if (["start", "stop", "restart", "suspend", "delete", "recover", "info"].includes(command ?? "")) {
      names.push(...rest.filter((a) => !a.startsWith("-")));
    } else if (command === "exec") names.push(rest[0] ?? "");
    else if (command === "get") names.push((rest[0] ?? "").split(".")[1] ?? "");
  }
  return names;
}

beforeAll(async () => {
  master = await startMaster({ extraArgs: [] });
  const sim = tempDir("sim-fuzz");
  simConfig(sim, { stepMs: 5 });
  await hostMultipass(sim, ["launch", "--name", "web"]);
  worker = await startWorker(master, "n1", { simDir: sim });
  await waitFor("web listed", async () => (await apiInstances(master)).length === 1);
});
afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

describe("hostile input", () => {
  test("every route, every nasty name and value: 4xx answers only, nothing bad reaches multipass", async () => {
    const requests: { method: string; path: string; body?: string; headers?: Record<string, string> }[] = [];
    const enc = encodeURIComponent;
    for (const nasty of NASTY) {
      const n = enc(nasty);
      requests.push({ method: "GET", path: `/api/v1/instances/${n}` });
      requests.push({ method: "GET", path: `/api/v1/nodes/${n}` });
      requests.push({ method: "GET", path: `/api/v1/info?instance=${n}` });
      requests.push({ method: "GET", path: `/api/v1/info?timeout=${n}` });
      requests.push({ method: "GET", path: `/api/v1/events?since=${n}` });
      requests.push({ method: "GET", path: `/api/v1/events?limit=${n}` });
      requests.push({ method: "GET", path: `/api/v1/instances/${n}/shell` });
      requests.push({ method: "GET", path: `/api/v1/instances/web/shell?cols=${n}&term=${n}` });
      requests.push({ method: "GET", path: `/api/v1/instances/web/exec?arg=${n}&tty=${n}` });
      for (const action of ["start", "stop", "restart", "suspend", "delete", "recover"]) {
        requests.push({ method: "POST", path: `/api/v1/instances/${n}/${action}`, body: "{}" });
        requests.push({ method: "POST", path: `/api/v1/actions/${action}`, body: JSON.stringify({ instances: [nasty] }) });
      }
      requests.push({ method: "POST", path: `/api/v1/instances/${n}/exec`, body: JSON.stringify({ command: ["true"] }) });
      requests.push({ method: "POST", path: "/api/v1/purge", body: JSON.stringify({ node: nasty }) });
      // A nasty name must be refused by the launch itself; the other fields are checked the
      // same way with or without dryRun, which keeps images that merely look valid away from multipass.
      requests.push({ method: "POST", path: "/api/v1/instances", body: JSON.stringify({ name: nasty }) });
      for (const field of ["image", "memory", "disk", "node", "cloudInit"]) {
        requests.push({ method: "POST", path: "/api/v1/instances", body: JSON.stringify({ name: "fuzzed", dryRun: true, [field]: nasty }) });
      }
      requests.push({ method: "POST", path: "/api/v1/instances", body: JSON.stringify({ name: "fuzzed", dryRun: true, networks: [nasty, `name=${nasty}`, `name=eth1,mode=${nasty}`] }) });
      requests.push({ method: "POST", path: "/api/v1/instances", body: JSON.stringify({ name: "fuzzed", dryRun: true, cloudInit: `#cloud-config\nwrite_files:\n  - path: ${nasty}\n`, memory: "1" }) });
    }
    for (const value of VALUES) {
      requests.push({ method: "POST", path: "/api/v1/instances", body: JSON.stringify({ name: value }) });
      for (const field of ["image", "cpus", "memory", "disk", "cloudInit", "timeoutSeconds", "networks", "node", "dryRun"]) {
        requests.push({ method: "POST", path: "/api/v1/instances", body: JSON.stringify({ name: "fuzzed", dryRun: field !== "dryRun" || value, [field]: value }) });
      }
      requests.push({ method: "POST", path: "/api/v1/actions/stop", body: JSON.stringify({ instances: value }) });
      // A boolean is a valid value there (stop --all, stop --force): those are real stops, not hostile input.
      if (typeof value !== "boolean") {
        requests.push({ method: "POST", path: "/api/v1/actions/stop", body: JSON.stringify({ all: value }) });
        requests.push({ method: "POST", path: "/api/v1/instances/web/stop", body: JSON.stringify({ force: value }) });
      }
      requests.push({ method: "POST", path: "/api/v1/instances/web/exec", body: JSON.stringify({ command: value }) });
    }
    for (const raw of ["", "{", "[]", "null", "42", '"str"', "{\"name\":", "\u0000\u0001", "{}".repeat(100_000), "\ud800"]) {
      for (const path of ["/api/v1/instances", "/api/v1/actions/start", "/api/v1/purge", "/api/v1/instances/web/stop", "/api/v1/instances/web/exec"]) {
        // An empty body is a valid launch (defaults, a random name) and a valid stop: not hostile.
        if ((raw === "" || raw === "{}") && (path === "/api/v1/instances" || path.endsWith("/stop"))) continue;
        requests.push({ method: "POST", path, body: raw });
      }
    }
    requests.push({ method: "POST", path: "/api/v1/instances", body: JSON.stringify({ name: "fuzzed", cloudInit: "x".repeat(20 * 1024 * 1024) }) });
    requests.push({ method: "DELETE", path: "/api/v1/instances/web" });
    requests.push({ method: "PUT", path: "/api/v1/nodes" });
    requests.push({ method: "GET", path: "/api/v1/../../etc/passwd" });
    requests.push({ method: "GET", path: "/api/v1/instances/%2e%2e%2f%2e%2e%2fetc%2fpasswd" });

    const statuses = new Map<number, number>();
    for (const r of requests) {
      let status: number;
      try {
        const response = await fetch(master.apiUrl + r.path, {
          method: r.method,
          headers: { authorization: `Bearer ${master.apiToken}`, "content-type": "application/json", ...r.headers },
          ...(r.body === undefined ? {} : { body: r.body }),
        });
        status = response.status;
        const text = await response.text();
        if (status >= 500) throw new Error(`${r.method} ${r.path.slice(0, 120)} → ${status}: ${text.slice(0, 300)}`);
        // A path that resolves outside /api/ (../../etc/passwd) is the web console's page, never a file of the host.
        if (!new URL(master.apiUrl + r.path).pathname.startsWith("/api/")) {
          expect({ request: r.path, type: response.headers.get("content-type"), csp: response.headers.has("content-security-policy"), leak: text.includes("root:") }).toEqual({ request: r.path, type: expect.stringContaining("text/html"), csp: true, leak: false });
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          continue;
        }
        // Every answer under /api/ is JSON (NDJSON for an exec that was valid and ran), never an HTML error page or a stack.
        const lines = response.headers.get("content-type")?.includes("ndjson") ? text.trim().split("\n") : [text];
        const parses = lines.every((line) => {
          try {
            parseJson(line, "answer");
            return true;
          } catch {
            return false;
          }
        });
        expect({ request: `${r.method} ${r.path.slice(0, 100)}`, status, parses }).toEqual({ request: `${r.method} ${r.path.slice(0, 100)}`, status, parses: true });
      } catch (error) {
        // A refused oversized upload may reset the connection instead of answering 413.
        if (r.body !== undefined && r.body.length > 9 * 1024 * 1024 && String(error).match(/ECONNRESET|socket|closed/i)) continue;
        throw error;
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    expect(requests.length).toBeGreaterThan(1000);
    // 200 only for dry runs that passed validation; everything else is refused.
    for (const status of statuses.keys()) expect([200, 400, 404, 409, 413]).toContain(status);

    // A client that declares a body it never sends, then hangs up: nothing breaks.
    const port = Number(new URL(master.apiUrl).port);
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, error() {} } });
    socket.write(`POST /api/v1/instances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${master.apiToken}\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n{"name":`);
    await Bun.sleep(200);
    socket.end();

    // The master and the worker are still up and right.
    expect(master.proc.proc.exitCode).toBeNull();
    expect(worker.proc.proc.exitCode).toBeNull();
    expect((await api(master, "/api/v1/instances")).body).toEqual([expect.objectContaining({ node: "n1", name: "web", state: "Running" })]);
    for (const name of namesReachingMultipass()) expect(name).toMatch(VALID_NAME);
    expect(readFileSync(join(worker.simDir, "calls.log"), "utf8")).not.toContain("fuzzed");
  });

  test("WebSockets: an oversized frame, binary garbage or a bad control message closes that connection only", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${master.clusterPort}/cluster/v1/join`, { headers: { authorization: `Bearer ${master.joinToken}` } });
    await new Promise((resolve) => (ws.onopen = resolve));
    const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
    ws.send("x".repeat(5 * 1024 * 1024));
    expect((await closed).code).toBe(1009);

    const session = new WebSocket(`${master.apiUrl.replace("http", "ws")}/api/v1/instances/web/exec?arg=sleep&arg=30`, { headers: { authorization: `Bearer ${master.apiToken}` } });
    await new Promise((resolve) => (session.onopen = resolve));
    const sessionClosed = new Promise<CloseEvent>((resolve) => (session.onclose = resolve));
    session.send(new Uint8Array(2 * 1024 * 1024));
    expect((await sessionClosed).code).toBe(1009);

    // Binary garbage, or text that is not a worker message, on the join socket: closed with 4002 and the reason.
    for (const garbage of [crypto.getRandomValues(new Uint8Array(4096)), "\u0000{{not json", JSON.stringify({ type: "hello", name: "$(reboot)" })]) {
      const join = new WebSocket(`ws://127.0.0.1:${master.clusterPort}/cluster/v1/join`, { headers: { authorization: `Bearer ${master.joinToken}` } });
      const said: string[] = [];
      join.onmessage = (e) => said.push(String(e.data));
      await new Promise((resolve) => (join.onopen = resolve));
      const joinClosed = new Promise<CloseEvent>((resolve) => (join.onclose = resolve));
      join.send(garbage);
      expect((await joinClosed).code).toBe(4002);
      expect(parseMasterMessage(said[0]!)).toMatchObject({ type: "error", code: "E_PROTOCOL" });
    }

    // Unknown or malformed control messages on a session: error and exit frames, then 1008; that session only.
    for (const control of ['{"type":"launch-missiles"}', '{"type":"resize","cols":-1,"rows":1e9}', "[]", "\u001b[31m"]) {
      const bad = new WebSocket(`${master.apiUrl.replace("http", "ws")}/api/v1/instances/web/exec?arg=sleep&arg=30`, { headers: { authorization: `Bearer ${master.apiToken}` } });
      const frames: string[] = [];
      bad.onmessage = (e) => typeof e.data === "string" && frames.push(e.data);
      await new Promise((resolve) => (bad.onopen = resolve));
      const badClosed = new Promise<CloseEvent>((resolve) => (bad.onclose = resolve));
      bad.send(control);
      expect({ control, code: (await badClosed).code }).toEqual({ control, code: 1008 });
      expect(frames.slice(-2).map(parseSessionControl)).toMatchObject([{ type: "error", code: "E_PROTOCOL" }, { type: "exit", code: null }]);
    }

    // Everything else carries on: the worker is still joined and answers live calls.
    const nodes = await apiNodes(master);
    expect(nodes.map((n) => n.state)).toEqual(["Ready"]);
    const info = await apiInfo(master);
    expect(info.errors).toEqual([]);
  });
});
