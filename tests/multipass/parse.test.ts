import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseInfo, parseList, parseSnapshotList, parseVersion } from "../../lib/multipass/parse.ts";
import type { SnapshotSummary } from "../../lib/protocol/snapshots.ts";
import { type InstanceInfo, type InstanceSummary } from "../../lib/protocol/instances.ts";
import { MultipassError, type MultipassVersion } from "../../lib/multipass/driver.ts";

const FIXTURES = join(import.meta.dir, "..", "fixtures");
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), "utf8");

/** Runs `fn` and returns the MultipassError it throws, which must be of kind "bad-output". */
function badOutput(fn: () => unknown): MultipassError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MultipassError);
    if (!(error instanceof MultipassError)) throw error;
    expect(error.kind).toBe("bad-output");
    expect(error.code).toBe("E_MULTIPASS");
    return error;
  }
  throw new Error("expected a bad-output MultipassError, got none");
}

// ---- expected values of the fixture documents -------------------------------------------------

const LIST_3: InstanceSummary[] = [
  { name: "web", state: "Running", ipv4: ["10.115.213.25", "192.168.1.50"], release: "Ubuntu 24.04 LTS" },
  { name: "db", state: "Stopped", ipv4: [], release: "Ubuntu 22.04 LTS" },
  { name: "old-box", state: "Deleted", ipv4: [], release: "Ubuntu 24.04 LTS" },
];
const UT_LIST_MULTIPLE: InstanceSummary[] = [
  { name: "bogus-instance", state: "Running", ipv4: ["10.21.124.56"], release: "Ubuntu 16.04 LTS" },
  { name: "bombastic", state: "Stopped", ipv4: [], release: "Ubuntu 18.04 LTS" },
];
const UT_LIST_SINGLE: InstanceSummary[] = [
  { name: "foo", state: "Running", ipv4: ["10.168.32.2", "200.3.123.30"], release: "Ubuntu 16.04 LTS" },
];

const NO_RUNTIME = {
  cpus: null,
  load: null,
  memory: { used: null, total: null },
  disk: { used: null, total: null },
  release: null,
  ipv4: [],
  mounts: [],
} as const;
const HASH_2B5F = "2b5f91a3c7d04e8f6a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f";
const HASH_1797 = "1797c5c82016c1e65f4008fcf89deae3a044ef76087a9ec5b907c6d64a3609ac";

const WEB: InstanceInfo = {
  name: "web",
  state: "Running",
  cpus: 2,
  load: [0.08, 0.03, 0],
  memory: { used: 287965184, total: 2014076928 },
  disk: { used: 2015903744, total: 5062496256 },
  release: "Ubuntu 24.04.3 LTS",
  imageRelease: "24.04 LTS",
  imageHash: HASH_2B5F,
  ipv4: ["10.115.213.25", "192.168.1.50"],
  mounts: [{ target: "/home/ubuntu/project", source: "/home/alice/project" }],
  snapshots: 0,
};
const DB: InstanceInfo = {
  name: "db",
  state: "Stopped",
  ...NO_RUNTIME,
  ipv4: [],
  mounts: [],
  imageRelease: "22.04 LTS",
  imageHash: "9e4c7a1f3b5d2e8c0a6f4b2d9e7c5a3f1b8d6e4c2a0f9e7d5c3b1a8f6e4d2c0b",
  snapshots: 2,
};
const OLD_BOX: InstanceInfo = {
  name: "old-box",
  state: "Deleted",
  ...NO_RUNTIME,
  ipv4: [],
  mounts: [],
  imageRelease: "24.04 LTS",
  imageHash: HASH_2B5F,
  snapshots: 0,
};
const BOGUS: InstanceInfo = {
  name: "bogus-instance",
  state: "Running",
  cpus: 4,
  load: [0.03, 0.1, 0.15],
  memory: { used: 38797312, total: 1610612736 },
  disk: { used: 1932735284, total: 6764573492 },
  release: "Ubuntu 16.04.3 LTS",
  imageRelease: "16.04 LTS",
  imageHash: HASH_1797,
  ipv4: ["10.21.124.56"],
  mounts: [{ target: "source", source: "/home/user/source" }],
  snapshots: 1,
};
const BOMBASTIC: InstanceInfo = {
  name: "bombastic",
  state: "Stopped",
  ...NO_RUNTIME,
  ipv4: [],
  mounts: [],
  imageRelease: "18.04 LTS",
  imageHash: "ab5191cc172564e7cc0eafd397312a32598823e645279c820f0935393aead509",
  snapshots: 3,
};
const FOO: InstanceInfo = {
  name: "foo",
  state: "Running",
  cpus: 1,
  load: [0.45, 0.51, 0.15],
  memory: { used: 60817408, total: 1503238554 },
  disk: { used: 1288490188, total: 5153960756 },
  release: "Ubuntu 16.04.3 LTS",
  imageRelease: "16.04 LTS",
  imageHash: HASH_1797,
  ipv4: ["10.168.32.2", "200.3.123.29"],
  mounts: [
    { target: "foo", source: "/home/user/foo" },
    { target: "test_dir", source: "/home/user/test_dir" },
  ],
  snapshots: 0,
};

const BOTH_DAEMONS: MultipassVersion = { client: "1.16.3", daemon: "1.16.3" };
const UT_VERSION: MultipassVersion = { client: "Client version", daemon: "Daemon version" };

type Expectation =
  | { parser: "list"; value: InstanceSummary[] }
  | { parser: "info"; value: InstanceInfo[] }
  | { parser: "version"; value: MultipassVersion }
  | { parser: "snapshots"; value: SnapshotSummary[] };

const HALE_ROLLER: SnapshotSummary[] = [
  { instance: "hale-roller", name: "pristine", parent: null, comment: "A first snapshot" },
  { instance: "hale-roller", name: "rocking", parent: "pristine", comment: "A very long comment that should be truncated by the table formatter" },
  { instance: "hale-roller", name: "rolling", parent: "pristine", comment: "Loaded with stuff" },
];
const SPADEFISH: SnapshotSummary[] = [
  { instance: "prosperous-spadefish", name: "snapshot10", parent: "snapshot2", comment: "" },
  { instance: "prosperous-spadefish", name: "snapshot2", parent: null, comment: "Before restoring snap1\nContains a newline that\r\nshould be truncated" },
];
const FOO_SNAPSHOT: SnapshotSummary[] = [{ instance: "foo", name: "snapshot1", parent: null, comment: "This is a sample comment" }];

/** Every list, info, version and snapshot list document of tests/fixtures, with what it must parse to. */
const EXPECTED: Record<string, Expectation> = {
  "list_3_instances.v1.16.json": { parser: "list", value: LIST_3 },
  "list_3_instances.main.json": { parser: "list", value: LIST_3 },
  "list_empty.json": { parser: "list", value: [] },
  "ut.v1.16.3.multiple_instances_list_reply.json": { parser: "list", value: UT_LIST_MULTIPLE },
  "ut.main.multiple_instances_list_reply.json": { parser: "list", value: UT_LIST_MULTIPLE },
  "ut.v1.16.3.single_instance_list_reply.json": { parser: "list", value: UT_LIST_SINGLE },
  "ut.main.single_instance_list_reply.json": { parser: "list", value: UT_LIST_SINGLE },
  // 1.16 sorts instances by name; main keeps daemon order (CONTRACT.md §5.2).
  "info_all.v1.16.json": { parser: "info", value: [DB, OLD_BOX, WEB] },
  "info_all.main.json": { parser: "info", value: [WEB, DB, OLD_BOX] },
  "info_running.v1.16.json": { parser: "info", value: [WEB] },
  "info_running.main.json": { parser: "info", value: [WEB] },
  "info_stopped.v1.16.json": { parser: "info", value: [DB] },
  "info_stopped.main.json": { parser: "info", value: [DB] },
  "info_deleted.v1.16.json": { parser: "info", value: [OLD_BOX] },
  "info_deleted.main.json": { parser: "info", value: [OLD_BOX] },
  "info_empty.json": { parser: "info", value: [] },
  "ut.v1.16.3.multiple_instances_info_reply.json": { parser: "info", value: [BOGUS, BOMBASTIC] },
  "ut.main.multiple_instances_info_reply.json": { parser: "info", value: [BOGUS, BOMBASTIC] },
  "ut.v1.16.3.single_instance_info_reply.json": { parser: "info", value: [FOO] },
  "ut.main.single_instance_info_reply.json": { parser: "info", value: [FOO] },
  "version.json": { parser: "version", value: BOTH_DAEMONS },
  "version_client_only.json": { parser: "version", value: { client: "1.16.3", daemon: null } },
  "version_update.v1.16.json": { parser: "version", value: { client: "1.16.2", daemon: "1.16.2" } },
  "version_update.main.json": { parser: "version", value: { client: "1.16.2", daemon: "1.16.2" } },
  "ut.v1.16.3.version_daemon_no_update_reply.json": { parser: "version", value: UT_VERSION },
  "ut.main.version_daemon_no_update_reply.json": { parser: "version", value: UT_VERSION },
  "ut.v1.16.3.version_daemon_update_reply.json": { parser: "version", value: UT_VERSION },
  "ut.main.version_daemon_update_reply.json": { parser: "version", value: UT_VERSION },
  // list --snapshots: 1.16 sorts instances and snapshots by name; main keeps the daemon's order.
  "ut.v1.16.3.list_multiple_snapshots.json": { parser: "snapshots", value: [...HALE_ROLLER, ...SPADEFISH] },
  "ut.main.multiple_snapshots_list_reply.json": { parser: "snapshots", value: [...SPADEFISH, ...HALE_ROLLER.toReversed()] },
  "ut.v1.16.3.list_single_snapshot.json": { parser: "snapshots", value: FOO_SNAPSHOT },
  "ut.main.single_snapshot_list_reply.json": { parser: "snapshots", value: FOO_SNAPSHOT },
};

function parse(parser: Expectation["parser"], text: string): unknown {
  if (parser === "list") return parseList(text);
  if (parser === "info") return parseInfo(text);
  if (parser === "snapshots") return parseSnapshotList(text);
  return parseVersion(text);
}

/** Rewrites every object of a JSON value with its keys in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([key, inner]) => [key, reverseKeys(inner)]));
}

describe("every list/info/version fixture", () => {
  const documents = readdirSync(FIXTURES)
    .filter((name) => name.endsWith(".json") && !/(^|\.)find/.test(name))
    .sort();

  test("is covered by the table below (a new fixture must be added to it)", () => {
    expect(documents).toEqual(Object.keys(EXPECTED).sort());
    expect(documents.length).toBe(32);
  });

  test.each(Object.keys(EXPECTED))("%s parses to the expected value", (name) => {
    const expected = EXPECTED[name];
    if (!expected) throw new Error(`no expectation for ${name}`);
    expect(parse(expected.parser, fixture(name))).toEqual(expected.value);
  });

  test.each(Object.keys(EXPECTED))("%s parses the same with its keys in reverse order", (name) => {
    const expected = EXPECTED[name];
    if (!expected) throw new Error(`no expectation for ${name}`);
    const reversed = JSON.stringify(reverseKeys(JSON.parse(fixture(name))));
    // Reversing the info and mounts maps reverses those lists; everything else is key order only.
    if (expected.parser === "info") {
      const reverseAll = (infos: InstanceInfo[]): InstanceInfo[] =>
        infos.toReversed().map((info) => ({ ...info, mounts: info.mounts.toReversed() }));
      expect(reverseAll(parseInfo(reversed))).toEqual(expected.value);
    } else if (expected.parser === "snapshots") {
      // Reversing both maps reverses the flat list.
      expect(parseSnapshotList(reversed)).toEqual(expected.value.toReversed());
    } else {
      expect(parse(expected.parser, reversed)).toEqual(expected.value);
    }
  });

  test("both layouts of a document parse to the same value", () => {
    for (const [v116, main] of [
      ["list_3_instances.v1.16.json", "list_3_instances.main.json"],
      ["info_running.v1.16.json", "info_running.main.json"],
      ["ut.v1.16.3.single_instance_info_reply.json", "ut.main.single_instance_info_reply.json"],
    ] as const) {
      expect(JSON.parse(fixture(v116))).not.toEqual(JSON.parse(fixture(main)));
      expect(parse(v116.includes("list") ? "list" : "info", fixture(v116))).toEqual(
        parse(main.includes("list") ? "list" : "info", fixture(main)),
      );
    }
  });
});

// ---- normalisation rules ----------------------------------------------------------------------

type Doc = Record<string, unknown>;
const doc = (name: string): Doc => JSON.parse(fixture(name));
/** The single list item or info instance of a fixture, for mutation. */
function listItem(d: Doc): Doc {
  const list = d.list;
  if (!Array.isArray(list) || typeof list[0] !== "object" || list[0] === null) throw new Error("fixture changed");
  return list[0];
}
function infoItem(d: Doc, name: string): Doc {
  const info = d.info;
  if (typeof info !== "object" || info === null || !(name in info)) throw new Error("fixture changed");
  return Object.fromEntries(Object.entries(info))[name];
}

describe("normalisation", () => {
  test('1.16\'s ["N/A"] ipv4 of a running instance without IP becomes []', () => {
    const list = doc("ut.v1.16.3.single_instance_list_reply.json");
    listItem(list).ipv4 = ["N/A"];
    expect(parseList(JSON.stringify(list))[0]?.ipv4).toEqual([]);
    const info = doc("info_running.v1.16.json");
    infoItem(info, "web").ipv4 = ["N/A"];
    expect(parseInfo(JSON.stringify(info))[0]?.ipv4).toEqual([]);
  });

  test('"Not Available" and "" releases become null', () => {
    for (const release of ["Not Available", ""]) {
      const list = doc("list_3_instances.main.json");
      listItem(list).release = release;
      expect(parseList(JSON.stringify(list))[0]?.release).toBeNull();
    }
    const info = doc("info_running.main.json");
    infoItem(info, "web").image_release = "";
    infoItem(info, "web").image_hash = "";
    const [web] = parseInfo(JSON.stringify(info));
    expect(web?.imageRelease).toBeNull();
    expect(web?.imageHash).toBeNull();
  });

  test.each([
    ["Running", "Running"],
    ["Delayed Shutdown", "Delayed Shutdown"],
    ["Suspended", "Suspended"],
    ["Unavailable", "Unavailable"],
    ["Unknown", "Unknown"],
    ["Frobnicating", "Unknown"],
    ["running", "Unknown"],
    ["", "Unknown"],
  ] as const)("state %p → %p", (printed, state) => {
    const list = doc("list_3_instances.v1.16.json");
    listItem(list).state = printed;
    expect(parseList(JSON.stringify(list))[0]?.state).toBe(state);
    const info = doc("info_stopped.main.json");
    infoItem(info, "db").state = printed;
    expect(parseInfo(JSON.stringify(info))[0]?.state).toBe(state);
  });

  test("snapshot_count may be absent (backends without snapshots)", () => {
    const info = doc("info_running.v1.16.json");
    delete infoItem(info, "web").snapshot_count;
    expect(parseInfo(JSON.stringify(info))[0]?.snapshots).toBeNull();
  });

  test("counts are accepted as numbers and byte figures as strings", () => {
    const info = doc("info_running.main.json");
    const web = infoItem(info, "web");
    web.cpu_count = 2;
    web.snapshot_count = 5;
    web.memory = { used: "287965184", total: "2014076928" };
    web.disks = { sda1: { used: 2015903744, total: 5062496256 } };
    expect(parseInfo(JSON.stringify(info))).toEqual([{ ...WEB, snapshots: 5 }]);
  });

  test("a disk with only one figure keeps the other null; several disks add up", () => {
    const info = doc("info_running.main.json");
    infoItem(info, "web").disks = { sda1: { total: "100" } };
    expect(parseInfo(JSON.stringify(info))[0]?.disk).toEqual({ used: null, total: 100 });
    infoItem(info, "web").disks = { sda1: { used: "1", total: "100" }, sdb1: { used: "2", total: "50" } };
    expect(parseInfo(JSON.stringify(info))[0]?.disk).toEqual({ used: 3, total: 150 });
    infoItem(info, "web").disks = {};
    expect(parseInfo(JSON.stringify(info))[0]?.disk).toEqual({ used: null, total: null });
  });

  test("unknown extra keys are ignored", () => {
    const list = doc("list_3_instances.main.json");
    listItem(list).future = { anything: [1, 2] };
    expect(parseList(JSON.stringify(list))).toEqual(LIST_3);
    const version = doc("version.json");
    version.extra = 1;
    expect(parseVersion(JSON.stringify(version))).toEqual(BOTH_DAEMONS);
  });

  test("an empty multipassd is treated as no daemon", () => {
    expect(parseVersion('{"multipass": "1.16.3", "multipassd": ""}')).toEqual({ client: "1.16.3", daemon: null });
  });
});

// ---- malformed documents ----------------------------------------------------------------------

function mutatedInfo(change: (web: Doc) => void): string {
  const info = doc("info_running.main.json");
  change(infoItem(info, "web"));
  return JSON.stringify(info);
}
function mutatedList(change: (item: Doc) => void): string {
  const list = doc("list_3_instances.v1.16.json");
  change(listItem(list));
  return JSON.stringify(list);
}

describe("malformed documents are bad-output errors that say what is wrong", () => {
  test.each([
    ["empty stdout", "", "nothing on stdout"],
    ["spinner noise", "Starting web  \b|\b/", "not JSON ("],
    ["truncated JSON", fixture("list_3_instances.main.json").slice(0, 100), "not JSON ("],
    ["a table", "Name  State  IPv4  Image\nweb   Running", "not JSON ("],
    ["an array", "[]", "$ is an array, expected an object"],
    ["null", "null", "$ is null, expected an object"],
    ["no list", "{}", "$.list is missing"],
    ["list not an array", '{"list": {}}', "$.list is an object, expected an array"],
    ["item not an object", '{"list": ["web"]}', '$.list[0] is the string "web", expected an object'],
    ["missing name", mutatedList((item) => delete item.name), "$.list[0].name is missing"],
    ["empty name", mutatedList((item) => (item.name = "")), "$.list[0].name is empty"],
    ["numeric state", mutatedList((item) => (item.state = 3)), "$.list[0].state is the number 3, expected a string"],
    ["missing state", mutatedList((item) => delete item.state), "$.list[0].state is missing"],
    ["ipv4 a string", mutatedList((item) => (item.ipv4 = "10.0.0.1")), '$.list[0].ipv4 is the string "10.0.0.1", expected an array'],
    ["ipv4 entry a number", mutatedList((item) => (item.ipv4 = [10])), "$.list[0].ipv4[0] is the number 10, expected a string"],
    ["missing ipv4", mutatedList((item) => delete item.ipv4), "$.list[0].ipv4 is missing"],
    ["null release", mutatedList((item) => (item.release = null)), "$.list[0].release is null, expected a string"],
  ] as const)("list: %s", (_, stdout, message) => {
    const error = badOutput(() => parseList(stdout, ["multipass", "list", "--format", "json"]));
    expect(error.message).toStartWith("multipass list printed unexpected output: ");
    expect(error.message).toContain(message);
    expect(error.argv).toEqual(["multipass", "list", "--format", "json"]);
  });

  test.each([
    ["no info", '{"errors": []}', "$.info is missing"],
    ["info an array", '{"errors": [], "info": []}', "$.info is an array, expected an object"],
    ["errors not an array", '{"errors": {}, "info": {}}', "$.errors is an object, expected an array"],
    ["instance not an object", '{"info": {"web": 1}}', "$.info.web is the number 1, expected an object"],
    ["empty instance name", '{"info": {"": {}}}', '$.info[""] has an empty instance name'],
    ["quoted path", '{"info": {"old-box": []}}', '$.info["old-box"] is an array, expected an object'],
    ["missing state", mutatedInfo((web) => delete web.state), "$.info.web.state is missing"],
    ["missing cpu_count", mutatedInfo((web) => delete web.cpu_count), "$.info.web.cpu_count is missing"],
    ["cpu_count a word", mutatedInfo((web) => (web.cpu_count = "two")), '$.info.web.cpu_count is the string "two", expected a non-negative integer'],
    ["cpu_count negative", mutatedInfo((web) => (web.cpu_count = "-1")), '$.info.web.cpu_count is the string "-1", expected'],
    ["cpu_count fractional", mutatedInfo((web) => (web.cpu_count = 1.5)), "$.info.web.cpu_count is the number 1.5, expected"],
    ["cpu_count null", mutatedInfo((web) => (web.cpu_count = null)), "$.info.web.cpu_count is null, expected"],
    ["snapshot_count a word", mutatedInfo((web) => (web.snapshot_count = "many")), "$.info.web.snapshot_count is the string"],
    ["load of two", mutatedInfo((web) => (web.load = [0.1, 0.2])), "$.info.web.load has 2 values, expected 3 or none"],
    ["load entry a string", mutatedInfo((web) => (web.load = [0.1, "0.2", 0.3])), '$.info.web.load[1] is the string "0.2", expected a non-negative number'],
    ["load an object", mutatedInfo((web) => (web.load = {})), "$.info.web.load is an object, expected an array"],
    ["memory an array", mutatedInfo((web) => (web.memory = [])), "$.info.web.memory is an array, expected an object"],
    ["memory.used negative", mutatedInfo((web) => (web.memory = { used: -5, total: 10 })), "$.info.web.memory.used is the number -5"],
    ["memory.total a word", mutatedInfo((web) => (web.memory = { used: 1, total: "lots" })), '$.info.web.memory.total is the string "lots"'],
    ["disks a string", mutatedInfo((web) => (web.disks = "sda1")), '$.info.web.disks is the string "sda1", expected an object'],
    ["disk not an object", mutatedInfo((web) => (web.disks = { sda1: 5 })), "$.info.web.disks.sda1 is the number 5, expected an object"],
    ["disk used a word", mutatedInfo((web) => (web.disks = { sda1: { used: "x" } })), '$.info.web.disks.sda1.used is the string "x"'],
    ["mount without source", mutatedInfo((web) => (web.mounts = { "/mnt": {} })), '$.info.web.mounts["/mnt"].source_path is missing'],
    ["mount source a number", mutatedInfo((web) => (web.mounts = { "/mnt": { source_path: 1 } })), '$.info.web.mounts["/mnt"].source_path is the number 1'],
    ["mounts an array", mutatedInfo((web) => (web.mounts = [])), "$.info.web.mounts is an array, expected an object"],
    ["image_hash a number", mutatedInfo((web) => (web.image_hash = 12)), "$.info.web.image_hash is the number 12, expected a string"],
    ["missing release", mutatedInfo((web) => delete web.release), "$.info.web.release is missing"],
    ["ipv4 null", mutatedInfo((web) => (web.ipv4 = null)), "$.info.web.ipv4 is null, expected an array"],
  ] as const)("info: %s", (_, stdout, message) => {
    const error = badOutput(() => parseInfo(stdout));
    expect(error.message).toStartWith("multipass info printed unexpected output: ");
    expect(error.message).toContain(message);
  });

  test.each([
    ["not JSON", "multipass   1.16.3\nmultipassd  1.16.3\n", "not JSON ("],
    ["a string", '"1.16.3"', '$ is the string "1.16.3", expected an object'],
    ["no client", '{"multipassd": "1.16.3"}', "$.multipass is missing"],
    ["client a number", '{"multipass": 1.16}', "$.multipass is the number 1.16, expected a string"],
    ["empty client", '{"multipass": ""}', "$.multipass is empty"],
    ["daemon null", '{"multipass": "1.16.3", "multipassd": null}', "$.multipassd is null, expected a string"],
  ] as const)("version: %s", (_, stdout, message) => {
    const error = badOutput(() => parseVersion(stdout));
    expect(error.message).toStartWith("multipass version printed unexpected output: ");
    expect(error.message).toContain(message);
  });

  test("the JSON error is kept as the cause and the output is previewed", () => {
    const error = badOutput(() => parseList("Starting web"));
    expect(error.cause).toBeInstanceOf(SyntaxError);
    expect(error.message).toEndWith(': "Starting web"');
    const long = badOutput(() => parseList(`x${"y".repeat(200)}`));
    expect(long.message).toEndWith(`"x${"y".repeat(79)}…"`);
  });
});
