/**
 * End-to-end: a real master, real workers driving the simulated Multipass
 * host, and the real client, all as separate processes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { arrayOf, object, parseJson } from "../../lib/core/parse.ts";
import { parseErrorBody, parseInfoResponse, parseInstanceView, parseNodeView } from "../../lib/protocol/api.ts";
import {
  api,
  apiInstances,
  apiNodes,
  client,
  envWithBun,
  hostMultipass,
  removeTempDirs,
  roleCommand,
  runClient,
  simConfig,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
  type MasterHandle,
  type WorkerHandle,
} from "./harness.ts";
import { runInTerminal } from "./terminal.ts";

setDefaultTimeout(60_000);

/** Seeds a host the way its owner would: with multipass itself. */
async function seed(simDir: string, launches: string[][]): Promise<void> {
  simConfig(simDir, { stepMs: 5 });
  for (const args of launches) {
    const r = await hostMultipass(simDir, ["launch", ...args]);
    if (r.code !== 0) throw new Error(`seed launch ${args.join(" ")} failed: ${r.stderr}`);
  }
}

async function nodeState(master: MasterHandle, name: string): Promise<string | undefined> {
  return (await apiNodes(master)).find((n) => n.name === name)?.state;
}

afterAll(removeTempDirs);

describe("a cluster of three nodes", () => {
  let master: MasterHandle;
  let workers: WorkerHandle[];

  beforeAll(async () => {
    master = await startMaster();
    const sims = [tempDir("sim-n1"), tempDir("sim-n2"), tempDir("sim-n3")];
    await seed(sims[0]!, [["--name", "primary"], ["--name", "web", "--cpus", "2", "--memory", "2G"]]);
    await seed(sims[1]!, [["--name", "primary"], ["22.04", "--name", "db"]]);
    await seed(sims[2]!, []);
    workers = await Promise.all(["n1", "n2", "n3"].map((name, i) => startWorker(master, name, { simDir: sims[i] })));
    await waitFor("4 instances", async () => (await apiInstances(master)).length === 4);
  });
  afterAll(stopAll);

  test("colours on a terminal only, and never with NO_COLOR", async () => {
    const argv = [...roleCommand("client"), "nodes", "--master", master.apiUrl, "--token", master.apiToken];
    const coloured = runInTerminal(argv, { cols: 160, rows: 20, env: envWithBun({ NO_COLOR: "", HOME: tempDir("home") }) });
    expect(await coloured.exited).toBe(0);
    expect(coloured.raw()).toContain("\u001b[32mReady\u001b[39m");
    const plain = runInTerminal(argv, { cols: 160, rows: 20, env: envWithBun({ NO_COLOR: "1", HOME: tempDir("home") }) });
    expect(await plain.exited).toBe(0);
    expect(plain.raw()).toContain("Ready");
    expect(plain.raw()).not.toContain("\u001b[");
    const piped = await runClient(["nodes", "--master", master.apiUrl, "--token", master.apiToken], { env: { NO_COLOR: "" } });
    expect(piped.stdout).toContain("Ready");
    expect(piped.stdout).not.toContain("\u001b[");
  });

  test("nodes: the table lists every node as Ready, --json is exactly the API's answer", async () => {
    const table = await client(master, ["nodes"]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^Node Name\s+IPv4\s+Cpu\s+Mem\s+Disk\s+Last Sync\s+State$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(["n1", "n2", "n3"]);
    for (const line of lines.slice(1)) {
      expect(line).toMatch(/127\.0\.0\.1:\d+\s+\d+\s+[\d.]+[KMGT]?i?B\/[\d.]+[KMGT]iB\s+[\d.]+[KMGT]?i?B\/[\d.]+[KMGT]iB\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s+Ready$/);
    }

    const json = await client(master, ["nodes", "--json"]);
    expect(json.code).toBe(0);
    const raw = await fetch(`${master.apiUrl}/api/v1/nodes`, { headers: { authorization: `Bearer ${master.apiToken}` } });
    const direct = arrayOf(object)(parseJson(await raw.text(), "nodes"), "nodes");
    const printed = arrayOf(object)(parseJson(json.stdout, "nodes --json"), "nodes --json");
    // lastSync and live resources move between the two calls; everything else is identical.
    const stable = (list: typeof printed) => list.map(({ lastSync: _l, resources: _r, ...rest }) => rest);
    expect(stable(printed)).toEqual(stable(direct));
    const n1 = arrayOf(parseNodeView)(printed, "nodes --json").find((n) => n.name === "n1")!;
    expect(n1).toMatchObject({ state: "Ready", multipassVersion: "1.16.3", multipassError: null, instanceCount: 2 });
    const resources = n1.resources;
    expect(resources.cpus).toBeGreaterThan(0);
    expect(resources.load).toHaveLength(3);
    expect(typeof resources.memory.total).toBe("number");
    expect(typeof resources.disk.available).toBe("number");
    expect(Date.parse(n1.lastSync)).toBeGreaterThan(Date.now() - 60_000);
  });

  test("instances: table and --json from the cache", async () => {
    const table = await client(master, ["instances"]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^Node Name\s+Instance Name\s+State\s+IPv4\s+Image$/);
    const rows = lines.slice(1).filter((l) => !l.startsWith(" ")).map((l) => l.split(/\s{2,}/));
    expect(rows.map((r) => `${r[1]}@${r[0]}`)).toEqual(["primary@n1", "web@n1", "db@n2", "primary@n2"]);
    expect(rows.find((r) => r[1] === "db")).toEqual(["n2", "db", "Running", expect.stringMatching(/^127\./), "Ubuntu 22.04 LTS"]);

    const ls = await client(master, ["ls"]);
    expect(ls.stdout).toBe(table.stdout);

    const json = await client(master, ["instances", "--json"]);
    const raw = await (await fetch(`${master.apiUrl}/api/v1/instances`, { headers: { authorization: `Bearer ${master.apiToken}` } })).text();
    expect(json.stdout).toBe(raw + "\n");
    const list = arrayOf(parseInstanceView)(parseJson(json.stdout, "instances --json"), "instances --json");
    expect(list).toContainEqual({ node: "n1", name: "web", state: "Running", ipv4: [expect.stringMatching(/^127\./)], release: "Ubuntu 24.04 LTS", labels: {} });
  });

  test("info: live figures from every node as numbers, in a table and in JSON", async () => {
    const r = await client(master, ["info", "--json"]);
    expect(r.code).toBe(0);
    const body = parseInfoResponse(parseJson(r.stdout, "info --json"));
    expect(body.errors).toEqual([]);
    expect(body.instances).toHaveLength(4);
    const web = body.instances.find((i) => i.name === "web")!;
    expect(web).toMatchObject({ node: "n1", state: "Running", cpus: 2, release: expect.stringMatching(/^Ubuntu 24\.04/), imageRelease: "24.04 LTS" });
    expect(web.memory.total).toBe(2 * 1024 ** 3);
    expect(typeof web.memory.used).toBe("number");
    expect(typeof web.disk.used).toBe("number");
    expect(web.load).toEqual([expect.any(Number), expect.any(Number), expect.any(Number)]);

    const table = await client(master, ["info"]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^Node Name\s+Instance Name\s+Cpu\s+Load\s+Disk\s+Memory$/);
    const webLine = lines.find((l) => /^n1\s+web\s/.test(l))!;
    expect(webLine).toMatch(/^n1\s+web\s+2\s+\d+\.\d\d \d+\.\d\d \d+\.\d\d\s+[\d.]+[KMG]iB out of [\d.]+[KMG]iB\s+[\d.]+[KMG]iB out of 2\.0GiB$/);
  });

  test("info NAME@NODE and the ambiguity of a bare name present on several nodes", async () => {
    const one = await client(master, ["info", "primary@n2", "--json"]);
    expect(one.code).toBe(0);
    const body = parseInfoResponse(parseJson(one.stdout, "info --json"));
    expect(body.instances.map((i) => `${i.name}@${i.node}`)).toEqual(["primary@n2"]);

    const ambiguous = await client(master, ["info", "primary"]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('"primary" exists on several nodes: n1, n2');
    expect(ambiguous.stdout).toBe("");

    const r = await api(master, "/api/v1/instances/primary");
    expect(r.status).toBe(409);
    expect(r.body).toEqual({ error: { code: "E_AMBIGUOUS", message: expect.any(String), candidates: ["primary@n1", "primary@n2"] } });
    expect((await api(master, "/api/v1/instances/primary@n2")).body).toMatchObject({ node: "n2", name: "primary" });
    expect((await api(master, "/api/v1/instances/db")).body).toMatchObject({ node: "n2", name: "db", state: "Running" });
    expect((await api(master, "/api/v1/instances/nope")).status).toBe(404);
    expect((await api(master, "/api/v1/instances/db@n9")).status).toBe(404);
    expect((await api(master, "/api/v1/instances/1bad")).status).toBe(400);
  });

  test("every API route refuses a missing token, a wrong token and the join token", async () => {
    for (const path of ["/api/v1/nodes", "/api/v1/nodes/n1", "/api/v1/instances", "/api/v1/instances/web", "/api/v1/info", "/api/v1/nope"]) {
      for (const token of [null, "mva_wrong-token-of-the-right-shape-000000000000000", master.joinToken]) {
        const r = await api(master, path, token);
        expect({ path, token: token === master.joinToken ? "join" : token, status: r.status }).toEqual({ path, token: token === master.joinToken ? "join" : token, status: 401 });
        expect(r.body).toMatchObject({ error: { code: "E_UNAUTHORIZED" } });
        expect(JSON.stringify(r.body)).not.toContain(master.joinToken);
      }
    }
    const health = await fetch(`${master.apiUrl}/healthz`);
    expect(health.status).toBe(200);
    // The API token does not open the cluster server.
    const join = await fetch(`http://127.0.0.1:${master.clusterPort}/cluster/v1/ping`, { headers: { authorization: `Bearer ${master.apiToken}` } });
    expect(join.status).toBe(401);

    const refused = await runClient(["nodes", "--master", master.apiUrl, "--token", master.joinToken]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toContain("refused the token");
    expect(refused.stderr).not.toContain(master.joinToken);
  });

  test("a token file named on the command line beats a stale token in the environment", async () => {
    const env = { MULTIVERSE_API_TOKEN: "mva_stale-token-from-an-old-shell-000000000000" };
    const stale = await runClient(["nodes", "--master", master.apiUrl], { env });
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain("refused the token");
    const fromFile = await runClient(["nodes", "--master", master.apiUrl, "--token-file", master.apiTokenFile], { env });
    expect({ code: fromFile.code, stderr: fromFile.stderr }).toEqual({ code: 0, stderr: "" });
  });

  test("no token appears in any log of the master or the workers", async () => {
    // Joins, refusals (the route test above tried wrong and wrong-kind tokens) and sessions have all been logged by now.
    for (const output of [master.proc.output, ...workers.map((w) => w.proc.output)]) {
      expect(output.length).toBeGreaterThan(0);
      expect(output).not.toContain(master.apiToken);
      expect(output).not.toContain(master.joinToken);
      expect(output).not.toMatch(/mv[aj]_[A-Za-z0-9_-]{20,}/);
      // Nor the per-join agent secrets the master hands out: 32 random bytes, 43 base64url characters.
      expect(output).not.toMatch(/[A-Za-z0-9_-]{43}/);
    }
  });

  test("a change made on the host reaches the master within about two poll intervals", async () => {
    const before = (await apiInstances(master)).find((i) => i.name === "web");
    expect(before?.state).toBe("Running");
    const stop = await hostMultipass(workers[0]!.simDir, ["stop", "web"]);
    expect(stop.code).toBe(0);
    const stoppedAt = Date.now();
    // Poll interval 250 ms; two intervals plus a stand-in call and a hop to the master.
    await waitFor("web Stopped in the master's cache", async () => (await apiInstances(master)).find((i) => i.name === "web")?.state === "Stopped", 1_500, 20);
    expect(Date.now() - stoppedAt).toBeLessThan(1_500);
    const listed = await client(master, ["instances"]);
    expect(listed.stdout).toMatch(/^n1\s+web\s+Stopped\s+--\s+Ubuntu 24\.04 LTS$/m);
  });
});

describe("failures", () => {
  afterEach(stopAll);

  test("info with one hung node answers with the others' data and names the hung one", async () => {
    const master = await startMaster({ nodeTimeout: "1s" });
    const sims = [tempDir("sim-a"), tempDir("sim-b")];
    await seed(sims[0]!, [["--name", "alpha"]]);
    await seed(sims[1]!, [["--name", "beta"]]);
    await Promise.all([startWorker(master, "a", { simDir: sims[0] }), startWorker(master, "b", { simDir: sims[1] })]);
    await waitFor("both instances", async () => (await apiInstances(master)).length === 2);
    simConfig(sims[1]!, { fault: "hang", stepMs: 5 });

    const started = Date.now();
    const r = await client(master, ["info", "--json"]);
    const elapsed = Date.now() - started;
    expect(r.code).toBe(1);
    const body = parseInfoResponse(parseJson(r.stdout, "info --json"));
    expect(body.instances.map((i) => i.name)).toEqual(["alpha"]);
    expect(body.errors).toEqual([{ node: "b", message: 'Node "b" did not answer within 1s' }]);
    expect(r.stderr).toContain('node "b"');
    // The hung node cost its timeout, not more.
    expect(elapsed).toBeLessThan(5_000);

    const table = await client(master, ["info"]);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/^a\s+alpha\s/m);
    expect(table.stderr).toContain('error: node "b": Node "b" did not answer within 1s');
  });

  test("a killed worker is Down at once; a stopped one is NotReady after three heartbeats, and Ready when it resumes", async () => {
    const master = await startMaster({ heartbeat: "300ms" });
    const sim = tempDir("sim-k");
    await seed(sim, [["--name", "kept"]]);
    const killed = await startWorker(master, "k", { simDir: sim });
    const paused = await startWorker(master, "p");
    await waitFor("both Ready", async () => (await apiNodes(master)).filter((n) => n.state === "Ready").length === 2);

    killed.proc.kill("SIGKILL");
    await waitFor("k Down", async () => (await nodeState(master, "k")) === "Down", 2_000);
    // Still listed with its last-known instances, whose state is no longer known.
    expect((await apiInstances(master)).find((i) => i.name === "kept")).toMatchObject({ node: "k", state: "Unknown" });
    const table = await client(master, ["nodes"]);
    expect(table.stdout).toMatch(/^k\s.*Down$/m);

    paused.proc.kill("SIGSTOP");
    // 3 heartbeats of 300 ms, plus the sweep.
    await waitFor("p NotReady", async () => (await nodeState(master, "p")) === "NotReady", 3_000);
    paused.proc.kill("SIGCONT");
    await waitFor("p Ready again", async () => (await nodeState(master, "p")) === "Ready", 3_000);
    const info = await client(master, ["info", "--json"]);
    const errors = parseInfoResponse(parseJson(info.stdout, "info --json")).errors;
    expect(errors).toEqual([{ node: "k", message: expect.stringMatching(/^Node "k" is Down \(last sync /) }]);
  });

  test("a restarted master gets every worker back, with complete listings", async () => {
    const first = await startMaster();
    const sims = [tempDir("sim-r1"), tempDir("sim-r2")];
    await seed(sims[0]!, [["--name", "one"]]);
    await seed(sims[1]!, [["--name", "two"], ["--name", "three"]]);
    const workers = await Promise.all([startWorker(first, "r1", { simDir: sims[0] }), startWorker(first, "r2", { simDir: sims[1] })]);
    await waitFor("3 instances", async () => (await apiInstances(first)).length === 3);

    first.proc.kill("SIGKILL");
    await first.proc.exited;
    const second = await startMaster({ dataDir: first.dataDir, clusterPort: first.clusterPort, apiPort: first.apiPort });
    expect(second.apiToken).toBe(first.apiToken);
    await waitFor("both workers rejoined", async () => (await apiNodes(second)).filter((n) => n.state === "Ready").length === 2, 15_000);
    const names = (await apiInstances(second)).map((i) => `${i.name}@${i.node}`).sort();
    expect(names).toEqual(["one@r1", "three@r2", "two@r2"]);
    for (const w of workers) expect(w.proc.output.match(/joined with id/g)?.length).toBe(2);
  });

  test("multipass down, hanging or printing garbage: the worker stays up and the error is shown", async () => {
    const master = await startMaster({ nodeTimeout: "2s" });
    const sim = tempDir("sim-f");
    await seed(sim, [["--name", "victim"]]);
    const worker = await startWorker(master, "f", { simDir: sim });
    await waitFor("victim listed", async () => (await apiInstances(master)).length === 1);

    const nodeError = async () => (await apiNodes(master)).find((n) => n.name === "f")?.multipassError;

    simConfig(sim, { fault: "down", stepMs: 5 });
    expect(await waitFor("down reported", nodeError)).toContain("cannot connect to the multipass socket");
    const info = await client(master, ["info", "victim"]);
    expect(info.code).toBe(1);
    expect(info.stderr).toContain("cannot connect to the multipass socket");
    expect(info.stderr.trim().split("\n")).toHaveLength(1);
    const listed = await client(master, ["nodes"]);
    expect(listed.code).toBe(0);
    expect(listed.stderr).toContain('node "f"');
    expect((await apiInstances(master))[0]).toMatchObject({ name: "victim", state: "Unknown" });

    simConfig(sim, { fault: "garbage", stepMs: 5 });
    expect(await waitFor("garbage reported", async () => (await nodeError())?.includes("JSON") && (await nodeError()))).toBeTruthy();
    const garbled = await client(master, ["info", "victim"]);
    expect(garbled.code).toBe(1);
    expect(garbled.stderr).toMatch(/^error: .*JSON.*\n$/);
    const garbledNodes = await client(master, ["nodes"]);
    expect(garbledNodes.stderr).toMatch(/^warning: node "f": .*JSON/);

    simConfig(sim, { fault: null, stepMs: 5 });
    await waitFor("multipass answers again", async () => (await nodeError()) === null);
    // A hung daemon looks like a busy one (a list queued behind a stop) until the daemon's 300 s bound
    // has passed: the node stays Ready, says since when multipass has not answered, and its instances
    // keep their last known state.
    simConfig(sim, { fault: "hang", stepMs: 5 });
    const late = await waitFor("the late listing reported", async () => (await apiNodes(master)).find((n) => n.name === "f" && n.staleSince !== null), 30_000);
    expect(late).toMatchObject({ state: "Ready", multipassError: null });
    expect((await apiInstances(master))[0]).toMatchObject({ name: "victim", state: "Running" });
    const hung = await client(master, ["info", "victim"]);
    expect(hung.code).toBe(1);
    expect(hung.stderr).toContain('did not answer within 2s');
    const hungApi = await fetch(`${master.apiUrl}/api/v1/info?instance=victim`, { headers: { authorization: `Bearer ${master.apiToken}` } });
    expect(hungApi.status).toBe(504);
    expect(parseErrorBody(parseJson(await hungApi.text(), "info"))).toMatchObject({ error: { code: "E_TIMEOUT", message: expect.stringContaining("did not answer within 2s") } });

    simConfig(sim, { fault: null, stepMs: 5 });
    await waitFor("recovered", async () => (await nodeError()) === null, 30_000);
    expect(await nodeState(master, "f")).toBe("Ready");
    expect(worker.proc.proc.exitCode).toBeNull();
    expect((await apiInstances(master))[0]).toMatchObject({ name: "victim", state: "Running" });
  }, 90_000);

  test("the client explains an unreachable master and usage errors", async () => {
    const unreachable = await runClient(["nodes", "--master", "http://127.0.0.1:9"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toBe("error: Cannot reach the master at http://127.0.0.1:9: connection refused\n");
    const unknown = await runClient(["nodez"]);
    expect(unknown.code).toBe(2);
    const flag = await runClient(["nodes", "--bogus"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('Unknown option "--bogus"');
    const badName = await runClient(["info", "1foo"]);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('"1foo"');
    // Words a command does not take are refused, not dropped: `info a b` must not quietly show only a.
    for (const [args, message] of [
      [["info", "web", "db"], 'error: Unexpected argument "db"'],
      [["nodes", "extra"], 'error: Unexpected argument "extra"'],
      [["--json", "nodes"], 'error: Options go after the command: put "--json" after "nodes"'],
      [["--master", "http://127.0.0.1:9", "nodes"], 'error: Options go after the command: put "--master" after "nodes"'],
    ] as const) {
      const r = await runClient([...args]);
      expect({ args, code: r.code, first: r.stderr.split("\n")[0] }).toEqual({ args, code: 2, first: message });
    }
    // Verbs that take several names still do.
    const several = await runClient(["stop", "a", "b", "c", "--master", "http://127.0.0.1:9"]);
    expect(several.stderr).toBe("error: Cannot reach the master at http://127.0.0.1:9: connection refused\n");
  });
});
