/**
 * The driver's snapshot calls: argv builders (table-tested), the parser of
 * `list --snapshots --format json` against upstream's formatter vectors (1.16
 * and main), the failure kinds of upstream's refusals, and the real driver
 * against the simulated host.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "../../lib/core/errors.ts";
import { buildArgv, createMultipassCli } from "../../lib/multipass/cli.ts";
import { MultipassError } from "../../lib/multipass/driver.ts";
import { classifyFailure } from "../../lib/multipass/failure.ts";
import { parseSnapshotList, parseSnapshotTaken } from "../../lib/multipass/parse.ts";
import { simulatedMultipassCommand } from "../../lib/multipass/simulated.ts";

const fixture = (name: string): string => readFileSync(join(import.meta.dir, "..", "fixtures", name), "utf8");

describe("argv builders", () => {
  test.each([
    [() => buildArgv.snapshots(), ["list", "--snapshots", "--format", "json"]],
    [() => buildArgv.snapshot("web"), ["snapshot", "--", "web"]],
    [() => buildArgv.snapshot("web", { name: "pristine" }), ["snapshot", "--name", "pristine", "--", "web"]],
    [() => buildArgv.snapshot("web", { comment: "-rf is fine\nsecond line" }), ["snapshot", "--comment=-rf is fine\nsecond line", "--", "web"]],
    [() => buildArgv.snapshot("web", { name: "a", comment: "" }), ["snapshot", "--name", "a", "--comment=", "--", "web"]],
    [() => buildArgv.restore("web", "pristine"), ["restore", "--destructive", "--", "web.pristine"]],
    [() => buildArgv.deleteSnapshots("web", ["a", "b"]), ["delete", "--purge", "--", "web.a", "web.b"]],
  ])("%#", (build, argv) => {
    expect(build()).toEqual(argv);
  });

  test.each([
    [() => buildArgv.snapshot("-web"), 'Invalid instance name "-web"'],
    [() => buildArgv.snapshot("web", { name: "a.b" }), 'Invalid snapshot name "a.b"'],
    [() => buildArgv.snapshot("web", { name: "--all" }), 'Invalid snapshot name "--all"'],
    [() => buildArgv.snapshot("web", { comment: "bell\u0007" }), "control characters"],
    [() => buildArgv.snapshot("web", { comment: "x".repeat(1001) }), "at most 1000 characters"],
    [() => buildArgv.restore("web", "1st"), 'Invalid snapshot name "1st"'],
    [() => buildArgv.restore("web.x", "y"), 'Invalid instance name "web.x"'],
    [() => buildArgv.deleteSnapshots("web", []), "needs at least one snapshot name"],
  ])("refuses %#", (build, message) => {
    let thrown: unknown;
    try {
      build();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).code).toBe("E_USAGE");
    expect((thrown as AppError).message).toContain(message);
  });
});

describe("parseSnapshotList", () => {
  const expected = [
    { instance: "hale-roller", name: "pristine", parent: null, comment: "A first snapshot" },
    { instance: "hale-roller", name: "rocking", parent: "pristine", comment: "A very long comment that should be truncated by the table formatter" },
    { instance: "hale-roller", name: "rolling", parent: "pristine", comment: "Loaded with stuff" },
    { instance: "prosperous-spadefish", name: "snapshot10", parent: "snapshot2", comment: "" },
    { instance: "prosperous-spadefish", name: "snapshot2", parent: null, comment: "Before restoring snap1\nContains a newline that\r\nshould be truncated" },
  ];
  const byName = (a: { instance: string; name: string }, b: { instance: string; name: string }) =>
    `${a.instance}.${a.name}` < `${b.instance}.${b.name}` ? -1 : 1;

  test.each(["ut.v1.16.3.list_multiple_snapshots.json", "ut.main.multiple_snapshots_list_reply.json"])("%s", (name) => {
    expect(parseSnapshotList(fixture(name)).sort(byName)).toEqual(expected);
  });

  test.each(["ut.v1.16.3.list_single_snapshot.json", "ut.main.single_snapshot_list_reply.json"])("%s", (name) => {
    const snapshots = parseSnapshotList(fixture(name));
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]?.instance).toBe("foo");
  });

  test("no snapshots", () => {
    expect(parseSnapshotList('{\n    "errors": [\n    ],\n    "info": {\n    }\n}\n')).toEqual([]);
  });

  test.each([
    ["", "nothing on stdout"],
    ['{"errors": [], "info": []}', "$.info is an array, expected an object"],
    ['{"info": {"web": {"s1": {"comment": ""}}}}', "$.info.web.s1.parent is missing"],
    ['{"info": {"web": {"s1": {"comment": 3, "parent": ""}}}}', "$.info.web.s1.comment is the number 3"],
    ['{"info": {"web": []}}', "$.info.web is an array"],
  ])("malformed %p", (stdout, message) => {
    let thrown: unknown;
    try {
      parseSnapshotList(stdout, ["multipass", "list"]);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(MultipassError);
    expect((thrown as MultipassError).kind).toBe("bad-output");
    expect((thrown as MultipassError).message).toContain(message);
  });
});

test("parseSnapshotTaken reads the name after the spinner's noise", () => {
  expect(parseSnapshotTaken("\x1b[2K\x1b[0A\x1b[0ETaking snapshot  /\x08 \x1b[2K\x1b[0A\x1b[0ESnapshot taken: web.snapshot3\n", "web")).toBe("snapshot3");
  expect(parseSnapshotTaken("Snapshot taken: other.s1\n", "web")).toBeNull();
  expect(parseSnapshotTaken("", "web")).toBeNull();
});

describe("failure kinds of upstream's snapshot refusals", () => {
  test.each([
    ["snapshot failed: Multipass can only take snapshots of stopped instances.\n", "not-stopped", "E_CONFLICT"],
    ["restore failed: Multipass can only restore snapshots of stopped instances.\n", "not-stopped", "E_CONFLICT"],
    ["snapshot failed: The snapshots feature is not implemented on this backend.\n", "snapshots-unsupported", "E_UNAVAILABLE"],
    ["restore failed: The snapshot feature is not implemented on this backend.\n", "snapshots-unsupported", "E_UNAVAILABLE"],
    ['snapshot failed: Invalid snapshot name: "x_y".\n', "invalid-arguments", "E_USAGE"],
    ["snapshot failed: Snapshot already exists: web.s1\n", "already-exists", "E_CONFLICT"],
    ["restore failed: No such snapshot: web.s9\n", "not-found", "E_NOT_FOUND"],
    ["delete failed: Cannot delete snapshots of deleted instances: web.s1\n", "deleted", "E_CONFLICT"],
  ] as const)("%p", (stderr, kind, code) => {
    const error = classifyFailure(["multipass", "snapshot", "web"], 2, stderr);
    expect(error.kind).toBe(kind);
    expect(error.code).toBe(code);
  });
});

describe("the driver against the simulated host", () => {
  const dir = mkdtempSync(join(tmpdir(), "driver-snapshots-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const worker = join(import.meta.dir, "..", "..", "worker.ts");
  const multipass = createMultipassCli({ command: simulatedMultipassCommand([process.execPath, worker], dir) });

  test("take, list, restore, delete; a running instance and a backend without snapshots refused", async () => {
    writeFileSync(join(dir, "config.json"), JSON.stringify({ stepMs: 1 }));
    writeFileSync(join(dir, "state.json"), JSON.stringify({ instances: [{ name: "web", state: "Stopped" }, { name: "up", state: "Running" }] }));
    expect(await multipass.snapshot("web")).toEqual({ name: "snapshot1" });
    expect(await multipass.snapshot("web", { name: "second", comment: "-- with a dash\nand a line" })).toEqual({ name: "second" });
    expect(await multipass.snapshots()).toEqual([
      { instance: "web", name: "second", parent: "snapshot1", comment: "-- with a dash\nand a line" },
      { instance: "web", name: "snapshot1", parent: null, comment: "" },
    ]);
    await multipass.restore("web", "snapshot1");
    await multipass.deleteSnapshots("web", ["second"]);
    expect((await multipass.snapshots()).map((s) => s.name)).toEqual(["snapshot1"]);
    await expect(multipass.snapshot("up")).rejects.toMatchObject({ kind: "not-stopped", code: "E_CONFLICT" });
    await expect(multipass.restore("web", "gone")).rejects.toMatchObject({ kind: "not-found" });
    writeFileSync(join(dir, "config.json"), JSON.stringify({ stepMs: 1, snapshots: false }));
    await expect(multipass.snapshot("web")).rejects.toMatchObject({
      kind: "snapshots-unsupported",
      code: "E_UNAVAILABLE",
      message: "multipass snapshot failed (exit 2): snapshot failed: The snapshots feature is not implemented on this backend.",
    });
  });
});
