/**
 * Snapshots on the simulated host: snapshot, restore, list --snapshots and
 * delete NAME.SNAP, with upstream's texts and exit codes, the home's copy, and a
 * backend without snapshot support (config.json "snapshots": false).
 */

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const STAND_IN = join(import.meta.dir, "..", "..", "lib", "sim", "multipass");
const BIN = join(import.meta.dir, "..", "..", "node_modules", ".bin");
const FIXTURES = join(import.meta.dir, "..", "fixtures");
const SPINNER = /\x1b\[2K\x1b\[0A\x1b\[0E|[^\n]*\x08. ?/g;

let dir = "";

async function mp(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([STAND_IN, ...args], {
    env: { ...process.env, PATH: `${BIN}:${process.env.PATH ?? ""}`, MULTIPASS_SIM_DIR: dir },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout: stdout.replace(SPINNER, ""), stderr };
}

function seed(instances: { name: string; state: string; cpus?: number }[], config: Record<string, unknown> = {}): void {
  writeFileSync(join(dir, "config.json"), JSON.stringify({ stepMs: 1, ...config }));
  writeFileSync(join(dir, "state.json"), JSON.stringify({ instances }));
}

const home = (name: string): string => join(dir, "instances", name, "home");
const stateOf = (): { instances: { name: string; cpus: number; taken: { name: string; parent: string }[] }[] } =>
  JSON.parse(readFileSync(join(dir, "state.json"), "utf8"));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sim-snapshots-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("snapshot", () => {
  test("takes snapshot1, snapshot2… of a stopped instance, each the parent of the next", async () => {
    seed([{ name: "web", state: "Stopped" }]);
    expect(await mp("snapshot", "web")).toEqual({ code: 0, stdout: "Snapshot taken: web.snapshot1\n", stderr: "" });
    expect(await mp("snapshot", "web", "--name", "pristine", "--comment", "clean")).toMatchObject({ code: 0, stdout: "Snapshot taken: web.pristine\n" });
    expect(await mp("snapshot", "-m", "third", "web")).toMatchObject({ stdout: "Snapshot taken: web.snapshot3\n" });
    expect(stateOf().instances[0]?.taken.map((s) => [s.name, s.parent])).toEqual([
      ["snapshot1", ""],
      ["pristine", "snapshot1"],
      ["snapshot3", "pristine"],
    ]);
    const listed = await mp("info", "web", "--format", "json");
    expect(JSON.parse(listed.stdout).info.web.snapshot_count).toBe("3");
  });

  test("refusals: running, bad name, taken name, missing, deleted, usage — none changes the state", async () => {
    seed([{ name: "web", state: "Running" }, { name: "db", state: "Stopped" }, { name: "old", state: "Deleted" }]);
    await mp("snapshot", "db", "--name", "one");
    const before = readFileSync(join(dir, "state.json"), "utf8");
    const cases: [string[], number, string][] = [
      [["snapshot", "web"], 2, "snapshot failed: Multipass can only take snapshots of stopped instances.\n"],
      [["snapshot", "db", "--name", "bad.name"], 2, 'snapshot failed: Invalid snapshot name: "bad.name".\n'],
      [["snapshot", "db", "--name", "1x"], 2, 'snapshot failed: Invalid snapshot name: "1x".\n'],
      [["snapshot", "db", "--name", "one"], 2, "snapshot failed: Snapshot already exists: db.one\n"],
      [["snapshot", "nope"], 2, 'snapshot failed: instance "nope" does not exist\n'],
      [["snapshot", "old"], 2, 'snapshot failed: instance "old" is deleted\n'],
      [["snapshot"], 1, "Need the name of an instance to snapshot.\n"],
      [["snapshot", "db", "web"], 1, "Too many arguments supplied\n"],
    ];
    for (const [args, code, stderr] of cases) expect({ args, ...(await mp(...args)), stdout: "" }).toEqual({ args, code, stdout: "", stderr });
    expect(readFileSync(join(dir, "state.json"), "utf8")).toBe(before);
  });
});

describe("restore", () => {
  test("--destructive brings back the home's files and the specs of the snapshot", async () => {
    seed([{ name: "web", state: "Stopped", cpus: 2 }]);
    mkdirSync(home("web"), { recursive: true });
    writeFileSync(join(home("web"), "notes"), "before\n");
    await mp("snapshot", "web", "--name", "base");
    writeFileSync(join(home("web"), "notes"), "after\n");
    writeFileSync(join(home("web"), "extra"), "new\n");
    const state = stateOf();
    (state.instances[0] as { cpus: number }).cpus = 4;
    writeFileSync(join(dir, "state.json"), JSON.stringify(state));
    expect(await mp("restore", "--destructive", "web.base")).toEqual({ code: 0, stdout: "Snapshot restored: web.base\n", stderr: "" });
    expect(readFileSync(join(home("web"), "notes"), "utf8")).toBe("before\n");
    expect(() => readFileSync(join(home("web"), "extra"))).toThrow();
    expect(stateOf().instances[0]?.cpus).toBe(2);
  });

  test("refusals with upstream's texts, and nothing restored", async () => {
    seed([{ name: "web", state: "Stopped" }, { name: "up", state: "Running" }]);
    await mp("snapshot", "web", "--name", "base");
    mkdirSync(home("web"), { recursive: true });
    writeFileSync(join(home("web"), "notes"), "current\n");
    const cases: [string[], number, string][] = [
      [["restore", "web.base"], 2, "Unable to query client for confirmation. Use '--destructive' to automatically discard current machine state.\nrestore failed: Cannot get confirmation from client. Aborting...\n"],
      [["restore", "-d", "web.nope"], 2, "restore failed: No such snapshot: web.nope\n"],
      [["restore", "-d", "nope.base"], 2, 'restore failed: instance "nope" does not exist\n'],
      [["restore", "-d", "web"], 1, "Invalid format. Please specify the instance to restore and snapshot to use in the form <instance>.<snapshot>.\n"],
      [["restore", "-d", "web.a.b"], 1, "Invalid format. Please specify the instance to restore and snapshot to use in the form <instance>.<snapshot>.\n"],
      [["restore"], 1, "Need the name of an instance and snapshot to restore.\n"],
    ];
    for (const [args, code, stderr] of cases) expect({ args, ...(await mp(...args)), stdout: "" }).toEqual({ args, code, stdout: "", stderr });
    expect(readFileSync(join(home("web"), "notes"), "utf8")).toBe("current\n");
  });

  test("a running instance is refused (the snapshot exists, the state does not allow it)", async () => {
    seed([{ name: "web", state: "Stopped" }]);
    await mp("snapshot", "web", "--name", "base");
    await mp("start", "web");
    expect(await mp("restore", "--destructive", "web.base")).toMatchObject({
      code: 2,
      stderr: "restore failed: Multipass can only restore snapshots of stopped instances.\n",
    });
  });
});

describe("info of snapshots", () => {
  test("info NAME.SNAP: the 1.16 layout of upstream's vector (ut.v1.16.3.info_single_snapshot_info_reply.json), children included", async () => {
    seed([{ name: "web", state: "Stopped", cpus: 2 }]);
    await mp("snapshot", "web", "--name", "snapshot1");
    await mp("snapshot", "web", "--name", "snapshot2", "--comment", "This is a comment with some\nnew\r\nlines.");
    await mp("snapshot", "web", "--name", "snapshot3");
    const r = await mp("info", "web.snapshot2", "--format", "json");
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    const s2 = doc.info.web.snapshots.snapshot2;
    // The vector's keys, in its (sorted) order.
    expect(Object.keys(s2)).toEqual(["children", "comment", "cpu_count", "created", "disk_space", "memory_size", "mounts", "parent", "size"]);
    expect(s2).toMatchObject({ children: ["snapshot3"], comment: "This is a comment with some\nnew\r\nlines.", cpu_count: "2", disk_space: "5.0GiB", memory_size: "1.0GiB", parent: "snapshot1", size: "" });
    expect(doc.errors).toEqual([]);
    const table = (await mp("info", "web.snapshot2")).stdout;
    expect(table).toStartWith("Snapshot:       snapshot2\nInstance:       web\nCPU(s):         2\nDisk space:     5.0GiB\nMemory size:    1.0GiB\nMounts:         --\n");
    expect(table).toContain("Parent:         snapshot1\nChildren:       snapshot3\n");
    expect((await mp("info", "--snapshots")).stdout.match(/^Snapshot: /gm)?.length).toBe(3);
    expect(await mp("info", "web.nope")).toEqual({ code: 2, stdout: "", stderr: "info failed: The following errors occurred:\nNo such snapshot: web.nope\n" });
    expect(await mp("info", "ghost.s1")).toMatchObject({ code: 2, stderr: 'info failed: The following errors occurred:\ninstance "ghost" does not exist\n' });
  });
});

describe("list --snapshots and delete NAME.SNAP", () => {
  test("the table is upstream's formatter's, byte for byte", async () => {
    const taken = (list: [string, string, string][]) => list.map(([name, parent, comment]) => ({ name, parent, comment }));
    writeFileSync(
      join(dir, "state.json"),
      JSON.stringify({
        instances: [
          { name: "prosperous-spadefish", state: "Stopped", taken: taken([["snapshot2", "", "Before restoring snap1\nContains a newline that\r\nshould be truncated"], ["snapshot10", "snapshot2", ""]]) },
          { name: "hale-roller", state: "Stopped", taken: taken([["pristine", "", "A first snapshot"], ["rocking", "pristine", "A very long comment that should be truncated by the table formatter"], ["rolling", "pristine", "Loaded with stuff"]]) },
        ],
      }),
    );
    expect((await mp("list", "--snapshots")).stdout).toBe(readFileSync(join(FIXTURES, "ut.main.multiple_snapshots_list_reply.txt"), "utf8"));
    expect((await mp("list", "--snapshots", "--format", "json")).stdout).toBe(readFileSync(join(FIXTURES, "ut.v1.16.3.list_multiple_snapshots.json"), "utf8"));
  });

  test("delete needs --purge, checks every pick first, and re-parents children", async () => {
    seed([{ name: "web", state: "Stopped" }]);
    for (const name of ["a", "b", "c"]) await mp("snapshot", "web", "--name", name);
    expect(await mp("delete", "web.b")).toEqual({
      code: 2,
      stdout: "",
      stderr: "delete failed: Snapshots can only be purged (after deletion, they cannot be recovered). Unable to query client for confirmation. Please use the `--purge` flag if that is what you want.\n",
    });
    expect(await mp("delete", "--purge", "web.b", "web.zz")).toEqual({ code: 2, stdout: "", stderr: "delete failed: No such snapshot: web.zz\n" });
    expect(stateOf().instances[0]?.taken.map((s) => s.name)).toEqual(["a", "b", "c"]);
    expect(await mp("delete", "--purge", "web.b")).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(stateOf().instances[0]?.taken.map((s) => [s.name, s.parent])).toEqual([["a", ""], ["c", "a"]]);
    expect(stateOf().instances.map((i) => i.name)).toEqual(["web"]);
  });

  test("a backend without snapshots refuses with Multipass's reason", async () => {
    seed([{ name: "web", state: "Stopped" }], { snapshots: false });
    const reason = "The snapshots feature is not implemented on this backend.\n";
    expect(await mp("snapshot", "web")).toMatchObject({ code: 2, stderr: `snapshot failed: ${reason}` });
    expect(await mp("list", "--snapshots")).toMatchObject({ code: 2, stderr: `list failed: ${reason}` });
    expect(await mp("restore", "-d", "web.x")).toMatchObject({ code: 2, stderr: `restore failed: ${reason}` });
    // info leaves the count out in every format, as the formatters do without num_snapshots.
    const info = await mp("info", "web", "--format", "json");
    expect(info.code).toBe(0);
    expect(Object.keys(JSON.parse(info.stdout).info.web)).not.toContain("snapshot_count");
    expect((await mp("info", "web")).stdout).not.toContain("Snapshots:");
    expect((await mp("info", "web", "--format", "csv")).stdout.split("\n")[0]).toEndWith(",AllIPv4,CPU(s)");
    expect((await mp("info", "web", "--format", "yaml")).stdout).not.toContain("snapshot_count");
    seed([{ name: "web", state: "Stopped" }]);
    expect((await mp("info", "web")).stdout).toContain("Snapshots:      0\n");
  });
});
