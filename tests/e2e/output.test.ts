/**
 * Output formats end to end (issue 16): a real master, two workers on the
 * simulated host (one of them claiming another version) and the real
 * client. --json byte for byte the API's text, yaml the same data, -o name
 * piped into another command, jsonpath, --sort-by, wide, a bad -o refused,
 * and `version` with its skew warnings.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import {
  apiInstances,
  apiNodes,
  client,
  envWithBun,
  hostMultipass,
  removeTempDirs,
  roleCommand,
  ROOT,
  simConfig,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
  workerMultipassArgs,
  type MasterHandle,
} from "./harness.ts";
import { VERSION } from "../../lib/core/version.ts";
import { parseJson } from "../../lib/core/parse.ts";
import { parseInfoResponse, parseMasterStats } from "../../lib/protocol/api.ts";

setDefaultTimeout(60_000);

let master: MasterHandle;
/** The version the second worker (run from source with a --define) reports. */
const OTHER = "9.9.0";
/**
 * The version of the build under test, as the master reports it: VERSION from source, VERSION+commit
 * from the compiled executables (MULTIVERSE_BIN_DIR); the client and the first worker are the same build.
 */
let BUILT: string;

beforeAll(async () => {
  master = await startMaster();
  const sims = { n1: tempDir("sim-o1"), n2: tempDir("sim-o2") };
  for (const sim of Object.values(sims)) simConfig(sim, { stepMs: 20 });
  for (const name of ["web", "db"]) expect((await hostMultipass(sims.n1, ["launch", "--name", name])).code).toBe(0);
  expect((await hostMultipass(sims.n2, ["launch", "--name", "cache"])).code).toBe(0);
  await startWorker(master, "n1", { simDir: sims.n1 });
  const args = ["--master", `127.0.0.1:${master.clusterPort}`, "--token-file", master.joinTokenFile, "--name", "n2", ...workerMultipassArgs(sims.n2, false), "--poll-interval", "250ms"];
  // Run from source under another version, with bun on its PATH for the stand-in even when the
  // other processes are the compiled executables (MULTIVERSE_BIN_DIR).
  const command = [process.execPath, "--define", `MULTIVERSE_VERSION="${OTHER}"`, join(ROOT, "worker.ts"), ...args];
  await startWorker(master, "n2", { simDir: sims.n2, command, env: { PATH: `${dirname(process.execPath)}:${process.env["PATH"] ?? "/usr/bin:/bin"}` } });
  await waitFor("3 instances", async () => (await apiInstances(master)).length === 3);
  BUILT = parseMasterStats(parseJson(await apiText("/api/v1/stats"), "stats")).version;
  expect(BUILT.startsWith(VERSION)).toBe(true);
});

afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

async function apiText(path: string): Promise<string> {
  const response = await fetch(master.apiUrl + path, { headers: { authorization: `Bearer ${master.apiToken}` } });
  expect(response.status).toBe(200);
  return response.text();
}

describe("output formats against a cluster", () => {
  test("--json and -o json are the API's answer byte for byte; yaml is the same data", async () => {
    const text = await apiText("/api/v1/instances");
    expect(await client(master, ["instances", "--json"])).toMatchObject({ code: 0, stdout: text + "\n" });
    expect(await client(master, ["instances", "-o", "json"])).toMatchObject({ code: 0, stdout: text + "\n" });
    const yaml = await client(master, ["instances", "-o", "yaml"]);
    expect(yaml.code).toBe(0);
    expect(parseYaml(yaml.stdout)).toEqual(JSON.parse(text));
  });

  test("-o name lists NAME@NODE, and piped into another command names what it acts on", async () => {
    const names = await client(master, ["instances", "-o", "name"]);
    expect(names).toMatchObject({ code: 0, stderr: "" });
    // The master lists by node, then name.
    expect(names.stdout).toBe("db@n1\nweb@n1\ncache@n2\n");
    const quote = (words: string[]) => words.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(" ");
    const cli = quote(roleCommand("client"));
    const conn = quote(["--master", master.apiUrl, "--token", master.apiToken]);
    const script = `${cli} instances -o name ${conn} | grep '^web@' | xargs -I{} ${cli} info {} ${conn} -o 'jsonpath={.instances[0].name}@{.instances[0].node} {.instances[0].cpus}'`;
    const piped = Bun.spawn(["bash", "-c", script], {
      env: envWithBun({ HOME: tempDir("home") }),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(piped.stdout).text(), new Response(piped.stderr).text(), piped.exited]);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(out).toMatch(/^web@n1 \d+\n$/);
    expect((await client(master, ["nodes", "-o", "name"])).stdout).toBe("n1\nn2\n");
  });

  test("jsonpath with range, --sort-by, --no-headers, wide", async () => {
    const range = await client(master, ["instances", "-o", 'jsonpath={range [*]}{.name}={.state}{"\\n"}{end}', "--sort-by", ".name"]);
    expect(range).toMatchObject({ code: 0, stdout: "cache=Running\ndb=Running\nweb=Running\n" });
    expect((await client(master, ["nodes", "-o", "jsonpath={[*].workerVersion}"])).stdout).toBe(`${BUILT} ${OTHER}\n`);
    const table = await client(master, ["instances", "--no-headers", "--sort-by", "name"]);
    expect(table.stdout.split("\n").filter(Boolean).map((l) => l.split(/\s+/)[1])).toEqual(["cache", "db", "web"]);
    const wide = await client(master, ["nodes", "-o", "wide"]);
    expect(wide.code).toBe(0);
    expect(wide.stdout.split("\n")[0]).toMatch(/Alloc Cpu\s+Alloc Mem\s+Alloc Disk\s+Multipass\s+Labels$/);
    const nodes = await apiNodes(master);
    const n1 = nodes.find((n) => n.name === "n1")!;
    expect(wide.stdout).toContain(`${n1.allocated.cpus}/${n1.resources.cpus}`);
    // info -o wide: the image each runs, with its hash as multipass info shortens it.
    const info = parseInfoResponse(parseJson(await apiText("/api/v1/info?instance=web%40n1"), "info"));
    const hash = info.instances[0]?.imageHash;
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    const infoWide = await client(master, ["info", "web@n1", "-o", "wide"]);
    expect(infoWide.code).toBe(0);
    expect(infoWide.stdout.split("\n")[0]).toMatch(/IPv4\s+Image\s+Image Hash$/);
    expect(infoWide.stdout).toContain(hash!.slice(0, 12));
  });

  test("a bad -o or --sort-by is a usage error naming what is wrong", async () => {
    const bad = await client(master, ["nodes", "-o", "xml"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("expected one of table, wide, json, yaml, name, jsonpath=EXPR");
    const path = await client(master, ["instances", "-o", "jsonpath={.items[?(@.x)]}"]);
    expect(path.code).toBe(2);
    expect(path.stderr).toContain("filters, slices and unions are not");
    const sort = await client(master, ["instances", "--sort-by", ".colour"]);
    expect(sort.code).toBe(2);
    expect(sort.stderr).toContain('Cannot sort by ".colour"');
  });
});

describe("version", () => {
  test("the client's, the master's and each node's versions; a worker of another major.minor is warned of", async () => {
    const r = await client(master, ["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith(`Client: ${BUILT}\nMaster: ${BUILT}\n\nNode Name   Worker`);
    expect(r.stdout).toMatch(new RegExp(`n1\\s+${BUILT.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s+1\\.`));
    expect(r.stdout).toMatch(/n2\s+9\.9\.0\s+1\./);
    expect(r.stderr).toBe(`warning: node "n2" runs worker ${OTHER} and the master is ${BUILT}: their major.minor versions differ\n`);
    const json = JSON.parse((await client(master, ["version", "-o", "json"])).stdout);
    expect(json).toMatchObject({ client: BUILT, master: BUILT, notes: [] });
    expect(json.nodes.map((n: { workerVersion: string }) => n.workerVersion)).toEqual([BUILT, OTHER]);
  });

  test("a client of another version is warned of too", async () => {
    const proc = Bun.spawn([process.execPath, "--define", `MULTIVERSE_VERSION="${OTHER}"`, join(ROOT, "client.ts"), "version", "--master", master.apiUrl, "--token", master.apiToken], {
      env: envWithBun({ HOME: tempDir("home") }),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(0);
    expect(out).toStartWith(`Client: ${OTHER}\nMaster: ${BUILT}\n`);
    expect(err).toContain(`warning: the client is ${OTHER} and the master ${BUILT}: their major.minor versions differ\n`);
  });
});
