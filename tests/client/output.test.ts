/**
 * The listings' output formats (client/output.ts, tables.ts) against a fake
 * master: -o json is the API's text byte for byte, yaml the same data, name
 * and jsonpath for pipes, --sort-by and --no-headers, bad values refused as
 * usage errors before the master is asked, and tables fitted to a terminal.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { parse as parseYaml } from "yaml";
import { fakeClient, fakeMaster, runClient, type FakeMaster } from "../support/fake-client.ts";
import { parseOutput, sortItems } from "../../lib/client/output.ts";
import { colors, fitWidths, renderTable } from "../../lib/client/tables.ts";

const resources = (cpus: number) => ({ cpus, load: [0, 0, 0], memory: { total: 8 * 1024 ** 3, available: 6 * 1024 ** 3 }, disk: { total: 100 * 1024 ** 3, available: 50 * 1024 ** 3 } });
const node = (name: string, cpus: number, labels: Record<string, string> = {}) => ({
  name,
  state: "Ready",
  address: "10.0.0.1:7778",
  lastSync: "2026-01-01T00:00:00.000Z",
  multipassVersion: "1.16.0",
  multipassError: null,
  staleSince: null,
  resources: resources(cpus),
  allocated: { cpus: 2, memory: 1024 ** 3, disk: 5 * 1024 ** 3, unknown: 0 },
  instanceCount: 1,
  labels,
  cordoned: null,
});
const instance = (name: string, nodeName: string, state: string, release = "Ubuntu 24.04 LTS", labels: Record<string, string> = {}) => ({ node: nodeName, name, state, ipv4: ["10.1.0.2"], release, labels });

// The API's own layout, which --json must keep: spacing and key order as sent.
const NODES_TEXT = JSON.stringify([node("n2", 4, { zone: "b" }), node("n1", 8)], null, 1);
const INSTANCES_TEXT = JSON.stringify([instance("web", "n2", "Running", "Ubuntu 24.04 LTS", { tier: "front" }), instance("db", "n1", "Stopped")]);

let master: FakeMaster | undefined;
afterEach(async () => {
  await master?.stop();
  master = undefined;
});

async function run(args: string[], options: { isTTY?: boolean; cols?: number } = {}) {
  master = fakeMaster((r) => new Response(r.path.startsWith("/api/v1/nodes") ? NODES_TEXT : INSTANCES_TEXT, { headers: { "content-type": "application/json" } }));
  const c = fakeClient(options);
  const code = await runClient(c, master, args);
  return { code, out: c.out.join(""), err: c.err.join(""), asked: master.seen.length };
}

describe("listing formats", () => {
  test("--json and -o json print the API's text byte for byte", async () => {
    expect(await run(["nodes", "--json"])).toMatchObject({ code: 0, out: NODES_TEXT + "\n" });
    expect(await run(["nodes", "-o", "json"])).toMatchObject({ code: 0, out: NODES_TEXT + "\n" });
    expect(await run(["instances", "--output", "json"])).toMatchObject({ code: 0, out: INSTANCES_TEXT + "\n" });
  });
  test("yaml is the same data", async () => {
    const { code, out } = await run(["instances", "-o", "yaml"]);
    expect(code).toBe(0);
    expect(parseYaml(out)).toEqual(JSON.parse(INSTANCES_TEXT));
    expect(out).toContain("- node: n2\n  name: web\n");
  });
  test("name: NAME@NODE for instances, the name for nodes, one a line", async () => {
    expect((await run(["instances", "-o", "name"])).out).toBe("web@n2\ndb@n1\n");
    expect((await run(["nodes", "-o", "name"])).out).toBe("n2\nn1\n");
  });
  test("jsonpath over the API's JSON, with range", async () => {
    expect((await run(["instances", "-o", "jsonpath={[*].name}"])).out).toBe("web db\n");
    expect((await run(["nodes", "-o", 'jsonpath={range [*]}{.name}={.resources.cpus}{"\\n"}{end}'])).out).toBe("n2=4\nn1=8\n");
  });
  test("--sort-by orders every format; json then prints the sorted objects", async () => {
    expect((await run(["instances", "-o", "name", "--sort-by", ".name"])).out).toBe("db@n1\nweb@n2\n");
    expect((await run(["nodes", "-o", "name", "--sort-by", "resources.cpus"])).out).toBe("n2\nn1\n");
    expect(JSON.parse((await run(["nodes", "--json", "--sort-by", "name"])).out).map((n: { name: string }) => n.name)).toEqual(["n1", "n2"]);
    const table = (await run(["instances", "--sort-by", "state", "--no-headers"])).out.split("\n");
    expect(table[0]).toMatch(/^n2\s+web\s+Running/);
    expect(table[1]).toMatch(/^n1\s+db\s+Stopped/);
  });
  test("an unknown sort field is refused, naming the fields", async () => {
    const { code, err } = await run(["instances", "--sort-by", ".colour"]);
    expect(code).toBe(2);
    expect(err).toContain('Cannot sort by ".colour": no item has that field (fields: node, name, state, ipv4, release, labels)');
  });
  test("--no-headers leaves out the header row", async () => {
    const withHeaders = (await run(["nodes"])).out;
    const without = (await run(["nodes", "--no-headers"])).out;
    expect(withHeaders.startsWith("Node Name")).toBe(true);
    expect(without).toBe(withHeaders.split("\n").slice(1).join("\n"));
  });
  test("wide: allocations out of totals, the Multipass version and the labels", async () => {
    const lines = (await run(["nodes", "-o", "wide"])).out.split("\n");
    expect(lines[0]).toMatch(/Alloc Cpu\s+Alloc Mem\s+Alloc Disk\s+Multipass\s+Labels$/);
    expect(lines[1]).toMatch(/2\/4\s+1\.0GiB\/8\.0GiB\s+5\.0GiB\/100\.0GiB\s+1\.16\.0\s+zone=b$/);
    expect(lines[2]).toMatch(/2\/8 .* --$/);
    expect((await run(["instances", "-o", "wide"])).out.split("\n")[1]).toMatch(/web .*tier=front$/);
  });
  test("a bad -o is a usage error listing the formats, and the master is not asked", async () => {
    for (const args of [["-o", "xml"], ["-o", "jsonpath={.name"], ["--json", "-o", "yaml"], ["--sort-by", ""], ["--watch", "-o", "name"], ["--watch", "--sort-by", "name"]]) {
      const r = await run(["instances", ...args]);
      expect(r.code).toBe(2);
      expect(r.asked).toBe(0);
      expect(r.out).toBe("");
    }
    expect((await run(["nodes", "-o", "xml"])).err).toContain('Unknown output format "xml": expected one of table, wide, json, yaml, name, jsonpath=EXPR');
  });
});

describe("on a terminal", () => {
  test("yaml and jsonpath lose the control characters a name may carry; the help names --no-headers", async () => {
    master = fakeMaster(() => Response.json([instance("web\u009b31m\u001b]0;x\u0007", "n1", "Running")]));
    for (const format of ["yaml", "jsonpath={[*].name}", "name"]) {
      const c = fakeClient({ isTTY: true });
      expect(await runClient(c, master, ["instances", "-o", format])).toBe(0);
      expect(c.out.join("")).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
      expect(c.out.join("")).toContain("web");
    }
    const help = fakeClient();
    expect(await runClient(help, master, ["nodes", "--help"])).toBe(0);
    expect(help.out.join("")).toContain("  --no-headers   ");
  });
});

describe("events", () => {
  const record = (id: number, requestId: string, phase: string) => ({ id, time: "2026-01-01T00:00:00.000Z", requestId, phase, action: "stop", node: "n1", instance: "web", token: "admin", ...(phase === "done" ? { result: "ok" } : {}) });
  test("-o name prints the records' ids (for --since), asking for records as --json does; --follow takes only table or json", async () => {
    master = fakeMaster(() => Response.json([record(1, "r1", "requested"), record(2, "r1", "done")]));
    const c = fakeClient();
    expect(await runClient(c, master, ["events", "-o", "name", "--limit", "5"])).toBe(0);
    expect(c.out.join("")).toBe("1\n2\n");
    expect(master.seen.map((r) => r.path)).toEqual(["/api/v1/events?limit=5"]);
    const f = fakeClient();
    expect(await runClient(f, master, ["events", "--follow", "-o", "yaml"])).toBe(2);
    expect(master.seen).toHaveLength(1);
  });
});

describe("a master that answers something else", () => {
  test("is a protocol error in every format, not an empty listing", async () => {
    master = fakeMaster(() => Response.json({ not: "a list" }));
    for (const format of ["table", "name", "yaml"]) {
      const c = fakeClient();
      expect(await runClient(c, master, ["instances", "-o", format, "--sort-by", "name"])).toBe(1);
      expect(c.out.join("")).toBe("");
      expect(c.err.join("")).toContain("is it a multiverse master?");
    }
  });
});

describe("terminal width", () => {
  test("a table wider than the terminal cuts its free-text column with an ellipsis, never a name", async () => {
    const long = "Ubuntu 24.04 LTS with a very long release title indeed";
    master = fakeMaster(() => Response.json([instance("a-rather-long-instance-name", "node-one", "Running", long)]));
    const c = fakeClient({ isTTY: true, cols: 80 });
    expect(await runClient(c, master, ["instances"])).toBe(0);
    const lines = c.out.join("").split("\n").filter((l) => l !== "");
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(80);
    expect(lines[1]).toContain("a-rather-long-instance-name");
    expect(lines[1]).toContain("…");
    expect(lines[1]).toContain("Ubuntu 24.04");
  });
  test("a pipe gets the full width", async () => {
    const long = "x".repeat(200);
    master = fakeMaster(() => Response.json([instance("web", "n1", "Running", long)]));
    const c = fakeClient({ isTTY: false, cols: 70 });
    expect(await runClient(c, master, ["instances"])).toBe(0);
    expect(c.out.join("")).toContain(long);
  });
  test("fitWidths: the widest shrinkable column first, down to its floor, then left as is", () => {
    expect(fitWidths([4, 30, 20], ["A", "B", "C"], 40, [1, 2])).toEqual([4, 10, 20]);
    expect(fitWidths([4, 30, 20], ["A", "B", "C"], 20, [1, 2])).toEqual([4, 6, 6]);
    expect(fitWidths([4, 30, 20], ["A", "B", "C"], 20, [])).toEqual([4, 30, 20]);
    expect(fitWidths([4, 30], ["A", "B"], null, [1])).toEqual([4, 30]);
  });
  test("renderTable cuts to the width, the cell ending in …", () => {
    const table = renderTable(["N", "Text"], [["a", "abcdefghijklmnop"]], colors(false), { maxWidth: 14, shrinkable: [1] });
    expect(table).toBe("N   Text\na   abcdefghi…\n");
  });
});

describe("parseOutput and sortItems", () => {
  test("defaults, aliases", () => {
    expect(parseOutput({})).toMatchObject({ format: { kind: "table" }, headers: true, sortBy: null });
    expect(parseOutput({ json: true })).toMatchObject({ format: { kind: "json" } });
    expect(parseOutput({ json: true, output: "json" })).toMatchObject({ format: { kind: "json" } });
    expect(parseOutput({ output: "jsonpath={.a}" }).format.kind).toBe("jsonpath");
    expect(parseOutput({ headers: false }).headers).toBe(false);
  });
  test("a stable sort, missing values last, numbers as numbers", () => {
    const items = [{ n: "a", v: 10 }, { n: "b" }, { n: "c", v: 9 }, { n: "d", v: 10 }];
    expect(sortItems(items, "v").map((i) => (i as { n: string }).n)).toEqual(["c", "a", "d", "b"]);
    expect(sortItems([], "v")).toEqual([]);
  });
});
