/**
 * `multiverse version` against a fake master: client, master and every
 * node's worker and Multipass versions, a warning per major.minor skew, a
 * note (no warning) for Multipass versions that differ, and -o json|yaml.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { parse as parseYaml } from "yaml";
import { fakeClient, fakeMaster, runClient, type FakeMaster } from "../support/fake-client.ts";
import { majorMinor, versionReport } from "../../lib/client/version.ts";
import { VERSION } from "../../lib/core/version.ts";
import { parseNodeView } from "../../lib/protocol/api.ts";

const stats = (version: string) => ({
  version,
  startedAt: "2026-01-01T00:00:00.000Z",
  uptimeSeconds: 5,
  nodes: { Ready: 2, NotReady: 0, Down: 0 },
  instances: 0,
  sessions: 0,
  cluster: { joins: 2, rejoins: 0, states: 0, heartbeats: 0, rejected: 0 },
  process: { rssBytes: 1, cpuSeconds: 0 },
});
const node = (name: string, workerVersion: string | null, multipassVersion: string | null) => ({
  name,
  state: "Ready",
  address: "10.0.0.1:7778",
  lastSync: "2026-01-01T00:00:00.000Z",
  multipassVersion,
  workerVersion,
  multipassError: null,
  staleSince: null,
  resources: { cpus: 2, load: [0, 0, 0], memory: { total: 10, available: 5 }, disk: { total: 10, available: 5 } },
  allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 },
  instanceCount: 0,
  labels: {},
  cordoned: null,
});

let master: FakeMaster | undefined;
afterEach(async () => {
  await master?.stop();
  master = undefined;
});

async function run(masterVersion: string, nodes: unknown[], args: string[] = []) {
  master = fakeMaster((r) => Response.json(r.path === "/api/v1/stats" ? stats(masterVersion) : nodes));
  const c = fakeClient();
  const code = await runClient(c, master, ["version", ...args]);
  return { code, out: c.out.join(""), err: c.err.join(""), seen: master.seen.map((s) => s.path) };
}

describe("version", () => {
  test("no skew: the versions, no warning", async () => {
    const r = await run(VERSION, [node("n1", VERSION, "1.16.3"), node("n2", VERSION, "1.16.3")]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`Client: ${VERSION}\nMaster: ${VERSION}\n\nNode Name   Worker   Multipass   State\nn1          ${VERSION}    1.16.3      Ready\nn2          ${VERSION}    1.16.3      Ready\n`);
    expect(r.err).toBe("");
    expect(r.seen).toEqual(["/api/v1/stats", "/api/v1/nodes"]);
  });
  test("a master and a worker of another major.minor are warned of; Multipass versions that differ are noted", async () => {
    const r = await run("9.3.0", [node("n1", "9.3.1", "1.16.3"), node("n2", "9.2.0", "1.15.0"), node("old", null, null)]);
    expect(r.code).toBe(0);
    expect(r.err).toBe(
      [
        `warning: the client is ${VERSION} and the master 9.3.0: their major.minor versions differ`,
        'warning: node "n2" runs worker 9.2.0 and the master is 9.3.0: their major.minor versions differ',
        "note: the nodes run different Multipass versions (1.15.0, 1.16.3)",
        "",
      ].join("\n"),
    );
    expect(r.out).toContain("old         --       --          Ready");
  });
  test("-o json and -o yaml carry the same report; a bad -o is a usage error before the master is asked", async () => {
    const json = JSON.parse((await run("9.3.0", [node("n1", "9.2.0", "1.16.3")], ["-o", "json"])).out);
    expect(json).toEqual({ client: VERSION, master: "9.3.0", nodes: [{ name: "n1", state: "Ready", workerVersion: "9.2.0", multipassVersion: "1.16.3" }], skew: expect.any(Array), notes: [] });
    expect(json.skew).toHaveLength(2);
    expect(parseYaml((await run("9.3.0", [node("n1", "9.2.0", "1.16.3")], ["-o", "yaml"])).out)).toEqual(json);
    const bad = await run(VERSION, [], ["-o", "wide"]);
    expect(bad).toMatchObject({ code: 2, out: "", seen: [] });
    expect(bad.err).toContain('Unknown output format "wide": expected one of table, json, yaml');
  });
  test("major.minor", () => {
    expect(majorMinor("1.16.3-dev+g12")).toBe("1.16");
    expect(majorMinor("v0.1.0")).toBe("0.1");
    expect(majorMinor("nightly")).toBeNull();
    const n = parseNodeView(node("n1", "nightly", null), "n");
    expect(versionReport("0.1.0", "0.1.5", [n]).skew).toEqual(['node "n1" runs worker nightly and the master is 0.1.5: their major.minor versions differ']);
  });
});
