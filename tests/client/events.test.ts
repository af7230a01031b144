import { afterEach, describe, expect, test } from "bun:test";
import type { AuditEvent } from "../../lib/protocol/audit.ts";
import { formatEvents, mergeEvents, sinceQuery } from "../../lib/client/events.ts";
import { colors } from "../../lib/client/tables.ts";
import { runCli } from "../../lib/cli/run.ts";
import { createClientCommand } from "../../lib/client/commands.ts";
import { arrayOf, parseJson } from "../../lib/core/parse.ts";
import { parseAuditEvent } from "../../lib/protocol/audit.ts";
import { fakeClient } from "../support/fake-client.ts";
import { API, runCleanups, startMaster } from "../support/in-process.ts";

const ev = (id: number, requestId: string, phase: "requested" | "done", extra: Partial<AuditEvent> = {}): AuditEvent => ({
  id,
  time: new Date(Date.parse("2024-05-01T12:00:00Z") + id * 1000).toISOString(),
  requestId,
  phase,
  token: "0123456789ab",
  action: "stop",
  node: "n1",
  instance: "vm1",
  ...extra,
});

const events: AuditEvent[] = [
  ev(1, "a", "requested", { action: "launch", node: null, instance: "web", params: { name: "web" } }),
  ev(2, "b", "requested"),
  ev(3, "b", "done", { result: "ok" }),
  ev(4, "a", "done", { action: "launch", node: "n2", instance: "web", result: "error", error: { code: "E_MULTIPASS", message: "launch failed:\n  no image" } }),
  ev(5, "c", "requested", { action: "delete", token: "ba9876543210" }),
  ev(7, "d", "done", { action: "purge", node: "n3", instance: null, result: "ok" }),
];

describe("client events", () => {
  test("one row per call, in the order the calls appear", () => {
    const rows = mergeEvents(events);
    expect(rows.map((r) => [r.requestId, r.result, r.node])).toEqual([
      ["a", "error", "n2"],
      ["b", "ok", "n1"],
      ["c", "pending", "n1"],
      ["d", "ok", "n3"],
    ]);
    expect(rows[0]!.time).toBe("2024-05-01T12:00:01.000Z");
  });

  test("the table", () => {
    expect(formatEvents(events, colors(false))).toBe(
      [
        "Time                      Action   Node   Instance   Token          Result",
        "2024-05-01 12:00:01 UTC   launch   n2     web        0123456789ab   error: launch failed: no image",
        "2024-05-01 12:00:02 UTC   stop     n1     vm1        0123456789ab   ok",
        "2024-05-01 12:00:05 UTC   delete   n1     vm1        ba9876543210   pending",
        "2024-05-01 12:00:07 UTC   purge    n3     --         0123456789ab   ok",
        "",
      ].join("\n"),
    );
    const coloured = formatEvents(events, colors(true));
    expect(coloured).toContain("\u001b[31merror: launch failed: no image\u001b[39m");
    expect(coloured).toContain("\u001b[33mpending\u001b[39m");
  });

  test("--since: durations become ISO times, ISO times and ids pass through", () => {
    const now = Date.parse("2024-05-01T12:00:00Z");
    expect(sinceQuery("1h", now)).toBe("2024-05-01T11:00:00.000Z");
    expect(sinceQuery("30m", now)).toBe("2024-05-01T11:30:00.000Z");
    expect(sinceQuery("2024-04-30T00:00:00Z", now)).toBe("2024-04-30T00:00:00Z");
    expect(sinceQuery("42", now)).toBe("42");
    expect(() => sinceQuery("yesterday", now)).toThrow(/Invalid --since "yesterday": expected a duration/);
  });
});

describe("client events --limit", () => {
  afterEach(runCleanups);

  async function client(args: string[]) {
    const c = fakeClient();
    const code = await runCli(createClientCommand(c.ctx), args, { stdout: c.ctx.stdout, stderr: c.ctx.stderr, verbose: false });
    return { code, out: c.out.join(""), err: c.err.join("") };
  }

  test("N rows in the table, one per call; N records with --json, as the API counts", async () => {
    const m = startMaster();
    const master = ["--master", `http://127.0.0.1:${m.api.port}`, "--token", API];
    // Four audited calls (removals of nodes that are not there), two records each.
    for (const name of ["g1", "g2", "g3", "g4"]) expect((await client(["nodes", "remove", name, ...master])).code).toBe(1);

    const table = await client(["events", "--limit", "3", ...master]);
    expect(table.code).toBe(0);
    const rows = table.out.trimEnd().split("\n").slice(1);
    expect(rows.map((r) => r.split(/\s{2,}/)[2])).toEqual(["g2", "g3", "g4"]);

    const json = await client(["events", "--limit", "3", "--json", ...master]);
    const records = arrayOf(parseAuditEvent)(parseJson(json.out, "events"), "events");
    expect(records.map((r) => [r.node, r.phase])).toEqual([["g3", "done"], ["g4", "requested"], ["g4", "done"]]);

    const one = await client(["events", "--limit", "1", ...master]);
    expect(one.out.trimEnd().split("\n").length).toBe(2);
  });
});
