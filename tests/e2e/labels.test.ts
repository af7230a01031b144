/**
 * Labels and selectors end to end: a real master (with its database), two
 * workers on the simulated host and the real client. Labels set with
 * `label` and `launch --label`, listed with -L, --show-labels and --json,
 * selected with -l on instances, info and stop (asked on a terminal), kept
 * across a master killed with SIGKILL, across a delete and recover, dropped
 * by a purge; bad input refused with nothing changed.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { arrayOf, parseJson } from "../../lib/core/parse.ts";
import { parseInfoResponse, parseInstanceView } from "../../lib/protocol/api.ts";
import { parseAuditEvent } from "../../lib/protocol/audit.ts";
import {
  api,
  apiInstances,
  apiNodes,
  client,
  envWithBun,
  hostMultipass,
  removeTempDirs,
  roleCommand,
  simConfig,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
  type MasterHandle,
} from "./harness.ts";
import { runInTerminal } from "./terminal.ts";

setDefaultTimeout(60_000);

let master: MasterHandle;

async function labelsOf(ref: string): Promise<Record<string, string> | undefined> {
  const [name, node] = ref.split("@");
  return (await apiInstances(master)).find((i) => i.name === name && i.node === node)?.labels;
}

async function stateOf(ref: string): Promise<string | undefined> {
  const [name, node] = ref.split("@");
  return (await apiInstances(master)).find((i) => i.name === name && i.node === node)?.state;
}

beforeAll(async () => {
  master = await startMaster();
  const sims = { n1: tempDir("sim-l1"), n2: tempDir("sim-l2") };
  for (const sim of Object.values(sims)) simConfig(sim, { stepMs: 20 });
  for (const name of ["web1", "db"]) expect((await hostMultipass(sims.n1, ["launch", "--name", name])).code).toBe(0);
  for (const name of ["web2", "old"]) expect((await hostMultipass(sims.n2, ["launch", "--name", name])).code).toBe(0);
  await startWorker(master, "n1", { simDir: sims.n1 });
  await startWorker(master, "n2", { simDir: sims.n2 });
  await waitFor("4 instances", async () => (await apiInstances(master)).length === 4);
});

afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

describe("labels", () => {
  test("label several instances at once; -L, --show-labels and --json show them", async () => {
    const set = await client(master, ["label", "web1", "web2", "role=web", "env=prod"]);
    expect(set.code).toBe(0);
    expect(set.stdout).toBe("web1@n1: env=prod,role=web\nweb2@n2: env=prod,role=web\n");
    expect((await client(master, ["label", "db@n1", "role=db", "env=staging"])).code).toBe(0);
    expect((await client(master, ["label", "web2", "env-"])).stdout).toBe("web2@n2: role=web\n");

    const table = await client(master, ["instances", "-L", "role,env", "--show-labels"]);
    expect(table.code).toBe(0);
    const rows = table.stdout.trim().split("\n").map((line) => line.split(/\s{2,}/));
    expect(rows[0]).toEqual(["Node Name", "Instance Name", "State", "IPv4", "Image", "ROLE", "ENV", "LABELS"]);
    expect(rows.find((r) => r[1] === "web1")?.slice(5)).toEqual(["web", "prod", "env=prod,role=web"]);
    expect(rows.find((r) => r[1] === "db")?.slice(5)).toEqual(["db", "staging", "env=staging,role=db"]);

    const json = await client(master, ["instances", "-l", "role=web", "--json"]);
    const raw = await fetch(`${master.apiUrl}/api/v1/instances?selector=role%3Dweb`, { headers: { authorization: `Bearer ${master.apiToken}` } });
    expect(json.stdout).toBe((await raw.text()) + "\n");
    const selected = arrayOf(parseInstanceView)(parseJson(json.stdout, "instances --json"), "instances");
    expect(selected.map((i) => `${i.name}@${i.node} ${JSON.stringify(i.labels)}`)).toEqual(['web1@n1 {"env":"prod","role":"web"}', 'web2@n2 {"role":"web"}']);

    const notProd = await client(master, ["instances", "-l", "role in (web,db),env!=prod"]);
    expect(notProd.stdout.split("\n").slice(1, -1).map((l) => l.split(/\s+/)[1])).toEqual(["db", "web2"]);
    expect((await client(master, ["instances", "-l", "!role"])).stdout).toContain("old");
  });

  test("nodes label; nodes and their labels by selector on the API", async () => {
    const set = await client(master, ["nodes", "label", "n2", "zone=b"]);
    expect(set.stdout).toBe("n2: zone=b\n");
    const { status, body } = await api(master, "/api/v1/nodes?selector=zone%3Db");
    expect(status).toBe(200);
    expect(body).toEqual([expect.objectContaining({ name: "n2", labels: { zone: "b" } })]);
    expect((await apiNodes(master)).find((n) => n.name === "n1")?.labels).toEqual({});
  });

  test("info -l asks only for the selected instances", async () => {
    const info = await client(master, ["info", "-l", "role=web", "--json"]);
    expect(info.code).toBe(0);
    expect(parseInfoResponse(parseJson(info.stdout, "info --json")).instances.map((i) => `${i.name}@${i.node}`).sort()).toEqual(["web1@n1", "web2@n2"]);
  });

  test("bad input: a usage error or the master's reason, and nothing changes", async () => {
    const before = await apiInstances(master);
    for (const args of [["label", "web1", "bad key=x"], ["label", "web1", "role=a/b"], ["label", "web1"], ["instances", "-l", "role in web"]]) {
      const r = await client(master, args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/Invalid|No labels given/);
    }
    const ambiguous = await client(master, ["label", "nope", "web1", "x=y"]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('nope: Instance "nope" does not exist on any node');
    // web1 was its own call: labelled, beside the failure.
    expect(await labelsOf("web1@n1")).toEqual({ env: "prod", role: "web", x: "y" });
    expect((await client(master, ["label", "web1", "x-"])).code).toBe(0);
    const bad = await api(master, "/api/v1/instances?selector=role%20in%20web");
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('Invalid selector \\"role in web\\"');
    const none = await fetch(`${master.apiUrl}/api/v1/actions/stop`, {
      method: "POST",
      headers: { authorization: `Bearer ${master.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ selector: "role=nothing" }),
    });
    expect(none.status).toBe(404);
    expect(await none.text()).toContain('No instance that can be stopped matches the selector \\"role=nothing\\"');
    expect(await apiInstances(master)).toEqual(before);
  });

  test("stop -l on a terminal lists its targets and asks; 'y' stops exactly those", async () => {
    const argv = [...roleCommand("client"), "stop", "-l", "role=web", "--master", master.apiUrl, "--token", master.apiToken];
    const no = runInTerminal(argv, { cols: 120, rows: 10, env: envWithBun({ HOME: tempDir("home") }) });
    await no.waitForScreen(/Stop web1@n1, web2@n2\? \[y\/N\]/);
    no.type("n\r");
    expect(await no.exited).toBe(1);
    expect(await stateOf("web1@n1")).toBe("Running");
    const yes = runInTerminal(argv, { cols: 120, rows: 10, env: envWithBun({ HOME: tempDir("home") }) });
    await yes.waitForScreen(/Stop web1@n1, web2@n2\? \[y\/N\]/);
    yes.type("y\r");
    expect(await yes.exited).toBe(0);
    expect(await stateOf("web1@n1")).toBe("Stopped");
    expect(await stateOf("web2@n2")).toBe("Stopped");
    expect(await stateOf("db@n1")).toBe("Running");
    // Labels follow the instance through its stop and start.
    expect((await client(master, ["start", "-l", "role=web", "--yes"])).code).toBe(0);
    expect(await labelsOf("web1@n1")).toEqual({ env: "prod", role: "web" });
  });

  test("every label change is in the audit trail", async () => {
    const { body } = await api(master, "/api/v1/events?limit=1000");
    const labelled = arrayOf(parseAuditEvent)(body, "events").filter((e) => e.action === "label" && e.phase === "requested");
    expect(labelled.map((e) => `${e.instance ?? "-"}@${e.node}`)).toEqual(["web1@n1", "web2@n2", "db@n1", "web2@n2", "-@n2", "web1@n1", "web1@n1"]);
  });

  test("labels survive a master killed with SIGKILL", async () => {
    master.proc.kill("SIGKILL");
    await master.proc.exited;
    master = await startMaster({ dataDir: master.dataDir, clusterPort: master.clusterPort, apiPort: master.apiPort });
    await waitFor("both workers back", async () => (await apiNodes(master)).filter((n) => n.state === "Ready").length === 2, 15_000);
    expect(await labelsOf("web1@n1")).toEqual({ env: "prod", role: "web" });
    expect(await labelsOf("db@n1")).toEqual({ env: "staging", role: "db" });
    expect((await apiNodes(master)).find((n) => n.name === "n2")?.labels).toEqual({ zone: "b" });
  });

  test("kept through delete and recover, dropped by a purge: a new instance of the name starts bare", async () => {
    expect((await client(master, ["label", "old", "legacy=yes"])).code).toBe(0);
    expect((await client(master, ["delete", "old", "--yes"])).code).toBe(0);
    expect(await labelsOf("old@n2")).toEqual({ legacy: "yes" });
    expect((await client(master, ["recover", "old"])).code).toBe(0);
    expect(await labelsOf("old@n2")).toEqual({ legacy: "yes" });
    expect((await client(master, ["delete", "old", "--yes"])).code).toBe(0);
    expect((await client(master, ["purge", "--yes"])).code).toBe(0);
    expect(await stateOf("old@n2")).toBeUndefined();
    expect((await client(master, ["launch", "old", "--node", "n2"])).code).toBe(0);
    expect(await labelsOf("old@n2")).toEqual({});

    expect((await client(master, ["label", "db", "gone=soon"])).code).toBe(0);
    expect((await client(master, ["delete", "db", "--purge", "--yes"])).code).toBe(0);
    expect((await client(master, ["launch", "db", "--node", "n1", "--label", "role=db", "--label", "fresh=1"])).code).toBe(0);
    expect(await labelsOf("db@n1")).toEqual({ fresh: "1", role: "db" });
  });
});
