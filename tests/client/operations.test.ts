/**
 * The client's lifecycle verbs, purge and launch against a fake master:
 * streamed answers printed as each result comes, `--json` as before, Ctrl-C
 * that stops watching and cancels nothing, a master lost mid-way, the
 * `primary` default, and text from the network made safe for a terminal.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { fakeClient, fakeMaster, ndjsonAnswer, runClient, type FakeMaster, type SeenRequest } from "../support/fake-client.ts";

let master: FakeMaster | undefined;
afterEach(async () => {
  await master?.stop();
  master = undefined;
});

const stopped = (node: string, name: string) => ({ node, name, ok: true, state: "Stopped", error: null });
const failed = (node: string, name: string, message: string) => ({ node, name, ok: false, state: "Running", error: { code: "E_MULTIPASS", message } });

function serve(route: (request: SeenRequest) => Response | Promise<Response>): FakeMaster {
  master = fakeMaster(route);
  return master;
}

const json = (value: unknown, status = 200) => Response.json(value, { status });

describe("lifecycle verbs", () => {
  test("stream: each instance's row as it finishes, asked for with Accept NDJSON; the status says whether all went well", async () => {
    const m = serve(() =>
      ndjsonAnswer([
        { afterMs: 0, line: "" },
        { afterMs: 0, line: { type: "result", result: stopped("n1", "web") } },
        { afterMs: 50, line: { type: "result", result: failed("n2", "db", "Cannot stop instance \"db\": \u001b[31mred\u001b[0m\r") } },
        { afterMs: 0, line: { type: "done", ok: false, results: [failed("n2", "db", "x"), stopped("n1", "web")] } },
      ]),
    );
    const client = fakeClient();
    expect(await runClient(client, m, ["stop", "web", "db"])).toBe(1);
    expect(m.seen).toEqual([{ method: "POST", path: "/api/v1/actions/stop", accept: "application/x-ndjson", body: { instances: ["web", "db"], force: false, purge: false } }]);
    expect(client.out.join("")).toBe("Stopping web, db\nNode Name   Instance Name   State\nn1          web             Stopped\nn2          db              failed\n");
    // The message lost its escape sequences and carriage return on the way to the terminal.
    expect(client.err.join("")).toBe('error: Cannot stop instance "db": red\n');
  });

  test("--json prints what the JSON answer held, byte for byte, and nothing else", async () => {
    const results = [stopped("n1", "db"), stopped("n1", "web")];
    const m = serve(() => ndjsonAnswer([{ afterMs: 0, line: { type: "result", result: results[1] } }, { afterMs: 0, line: { type: "done", ok: true, results } }]));
    const client = fakeClient({ isTTY: true });
    expect(await runClient(client, m, ["stop", "web", "db", "--json"])).toBe(0);
    expect(client.out.join("")).toBe(JSON.stringify({ ok: true, results }) + "\n");
    expect(client.err).toEqual([]);
  });

  test("on a terminal: the verb, the instances still going and the time spent, redrawn on one line", async () => {
    const m = serve(() =>
      ndjsonAnswer([
        { afterMs: 1300, line: { type: "result", result: stopped("n1", "web") } },
        { afterMs: 0, line: { type: "done", ok: true, results: [stopped("n1", "web")] } },
      ]),
    );
    const client = fakeClient({ isTTY: true });
    expect(await runClient(client, m, ["stop", "web"])).toBe(0);
    const out = client.out.join("");
    expect(out).toContain("\r\u001b[2KStopping web … 0 s");
    expect(out).toContain("\r\u001b[2KStopping web … 1 s");
    // Wiped before the result, which stays.
    expect(out).toEndWith("\r\u001b[2KNode Name   Instance Name   State\nn1          web             Stopped\n");
  });

  test("Ctrl-C stops watching, says the operation goes on and how to follow it, exits 130, and cancels nothing", async () => {
    const m = serve(() => ndjsonAnswer([{ afterMs: 0, line: "" }], "hang"));
    const client = fakeClient();
    const running = runClient(client, m, ["stop", "web"]);
    while (!client.listening() || m.seen.length === 0) await Bun.sleep(10);
    await Bun.sleep(50);
    client.signal("SIGINT");
    expect(await running).toBe(130);
    expect(client.err.join("")).toMatch(
      /^Stopped watching; the stop of "web" goes on on the host\.\nFollow it with "multiverse instances" and "multiverse events --since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\.\n$/,
    );
    expect(m.seen.map((r) => r.path)).toEqual(["/api/v1/actions/stop"]);
  });

  test("a master lost mid-way: said plainly, with how to check, exit 1", async () => {
    const m = serve(() => ndjsonAnswer([{ afterMs: 0, line: "" }], "hang"));
    const client = fakeClient();
    const running = runClient(client, m, ["restart", "web"]);
    while (m.seen.length === 0) await Bun.sleep(10);
    await Bun.sleep(50);
    await m.stop();
    expect(await running).toBe(1);
    expect(client.err.join("")).toMatch(
      /^error: Lost the connection to the master at http:\/\/127\.0\.0\.1:\d+ \(.+\) during the restart of "web"\.\nIt goes on, or has ended, on the host; check with "multiverse instances" and "multiverse events --since .+Z"\.\n$/,
    );
  });

  test("a refusal before anything started is the master's error, as before", async () => {
    const m = serve(() => json({ error: { code: "E_AMBIGUOUS", message: 'Instance name "web" exists on several nodes', candidates: ["web@n1", "web@n2"] } }, 409));
    const client = fakeClient();
    expect(await runClient(client, m, ["stop", "web"])).toBe(1);
    expect(client.err.join("")).toBe('error: Instance name "web" exists on several nodes\n');
  });
});

describe("the primary default", () => {
  const instances = (...nodes: string[]) => nodes.map((node) => ({ node, name: "primary", state: "Running", ipv4: [], release: null }));

  test("a verb without a name acts on the one instance named primary, by NAME@NODE", async () => {
    const m = serve((r) => (r.method === "GET" ? json(instances("n2")) : ndjsonAnswer([{ afterMs: 0, line: { type: "done", ok: true, results: [] } }])));
    expect(await runClient(fakeClient(), m, ["stop"])).toBe(0);
    expect(m.seen.map((r) => r.body)).toEqual([undefined, { instances: ["primary@n2"], force: false, purge: false }]);
  });

  test("none, or one on several nodes: a usage error, and nothing is asked of any host", async () => {
    for (const [nodes, why] of [
      [[], 'error: Name the instance to start: there is no instance named "primary" to default to\n'],
      [["n1", "n2"], 'error: Name the instance to start: "primary" is on several nodes (primary@n1, primary@n2)\n'],
    ] as const) {
      const m = serve(() => json(instances(...nodes)));
      const client = fakeClient();
      expect(await runClient(client, m, ["start"])).toBe(2);
      expect(client.err[0]).toBe(why);
      expect(m.seen.map((r) => r.method)).toEqual(["GET"]);
      await m.stop();
    }
    const m = serve(() => json(instances()));
    const shell = fakeClient();
    expect(await runClient(shell, m, ["shell"])).toBe(2);
    expect(shell.err[0]).toBe('error: Name the instance to open a shell in: there is no instance named "primary" to default to\n');
  });
});

describe("an instance gone from its node's listing", () => {
  test("after delete --purge it shows as Purged, not Unknown; after another verb, as Gone", async () => {
    const gone = (name: string) => ({ node: "n1", name, ok: true, state: null, error: null });
    const m = serve((r) => {
      const done = (name: string) => ndjsonAnswer([{ afterMs: 0, line: { type: "result", result: gone(name) } }, { afterMs: 0, line: { type: "done", ok: true, results: [gone(name)] } }]);
      return done((r.body as { instances: string[] }).instances[0]!);
    });
    const purged = fakeClient();
    expect(await runClient(purged, m, ["delete", "old", "--purge", "--yes"])).toBe(0);
    expect(purged.out.join("")).toBe("Deleting old\nNode Name   Instance Name   State\nn1          old             Purged\n");
    const stopped = fakeClient();
    expect(await runClient(stopped, m, ["stop", "web"])).toBe(0);
    expect(stopped.out.join("")).toBe("Stopping web\nNode Name   Instance Name   State\nn1          web             Gone\n");
  });
});

describe("purge", () => {
  test("each node's result as it comes; --json as the JSON answer", async () => {
    const results = [
      { node: "n1", ok: true, purged: ["old"], error: null },
      { node: "n2", ok: true, purged: [], error: null },
    ];
    const answer = () => ndjsonAnswer([...results.map((result) => ({ afterMs: 0, line: { type: "result", result } })), { afterMs: 0, line: { type: "done", ok: true, results } }]);
    const m = serve(answer);
    const client = fakeClient();
    expect(await runClient(client, m, ["purge", "--yes"])).toBe(0);
    expect(client.out.join("")).toBe("Purging deleted instances\nn1: purged old\nn2: nothing to purge\n");
    const asJson = fakeClient();
    expect(await runClient(asJson, m, ["purge", "--json"])).toBe(0);
    expect(asJson.out.join("")).toBe(JSON.stringify({ ok: true, results }) + "\n");
  });
});

describe("launch", () => {
  const events = [
    { type: "placed", node: "n3", reason: "asked for with --node" },
    { type: "progress", node: "n3", phase: "Retrieving image", percent: 10, text: "Retrieving image: 10%" },
    { type: "progress", node: "n3", phase: "Retrieving image", percent: 90, text: "Retrieving image: 90%" },
    { type: "progress", node: "n3", phase: "Starting", percent: null, text: "Starting web" },
    { type: "progress", node: "n3", phase: "Waiting for initialization", percent: null, text: "Waiting for initialization" },
    { type: "launched", node: "n3", name: "web", state: "Running", ipv4: ["10.0.0.9"] },
  ];

  test("not on a terminal: the placement, each phase once as a plain line, the result", async () => {
    const m = serve(() => ndjsonAnswer(events.map((line) => ({ afterMs: 0, line }))));
    const client = fakeClient();
    expect(await runClient(client, m, ["launch", "web"])).toBe(0);
    expect(client.out.join("")).toBe(
      'Launching web\nPlacing on node "n3": asked for with --node\nRetrieving image\nStarting web\nWaiting for cloud-init in web\nLaunched "web" on node "n3" (10.0.0.9)\n',
    );
  });

  test("on a terminal: the phase, its percentage and the time spent in it on one line", async () => {
    const m = serve(() => ndjsonAnswer(events.map((line) => ({ afterMs: 0, line }))));
    const client = fakeClient({ isTTY: true });
    expect(await runClient(client, m, ["launch", "web"])).toBe(0);
    const out = client.out.join("");
    expect(out).toContain("\r\u001b[2KRetrieving image 90% … 0 s");
    expect(out).toContain("\r\u001b[2KWaiting for cloud-init in web … 0 s");
    expect(out).toEndWith('\r\u001b[2KLaunched "web" on node "n3" (10.0.0.9)\n');
  });

  test("--json prints the events as they came; --allow-primary allows the name primary, refused without it in the master's words", async () => {
    const m = serve(() => ndjsonAnswer(events.map((line) => ({ afterMs: 0, line }))));
    const client = fakeClient();
    expect(await runClient(client, m, ["launch", "primary", "--allow-primary", "--json"])).toBe(0);
    expect(client.out.join("")).toBe(events.map((e) => JSON.stringify(e) + "\n").join(""));
    expect(m.seen[0]!.body).toEqual({ name: "primary", allowPrimary: true, dryRun: false });

    const refused = fakeClient();
    expect(await runClient(refused, m, ["launch", "primary"])).toBe(2);
    expect(refused.err[0]).toStartWith('error: An instance named "primary" is Multipass\'s primary instance: launching it mounts the home directory');
    expect(m.seen).toHaveLength(1);
  });

  test("every --network goes in the request, in order; a bad spec is refused in Multipass's words before any request", async () => {
    const m = serve(() => ndjsonAnswer(events.map((line) => ({ afterMs: 0, line }))));
    const client = fakeClient();
    const args = ["launch", "web", "--network", "bridged", "--network=name=eth1,mode=manual,mac=52:54:00:12:34:56", "--json"];
    expect(await runClient(client, m, args)).toBe(0);
    expect(m.seen[0]!.body).toEqual({ name: "web", networks: ["bridged", "name=eth1,mode=manual,mac=52:54:00:12:34:56"], dryRun: false });

    const refused = fakeClient();
    expect(await runClient(refused, m, ["launch", "web", "--network", "bridged", "--network", "name=eth1,mode=bridge"])).toBe(2);
    expect(refused.err[0]).toBe(`error: Invalid network spec "name=eth1,mode=bridge": Bad network mode 'bridge', need 'auto' or 'manual'\n`);
    expect(m.seen).toHaveLength(1);
  });
});

describe("info", () => {
  test("asks for the per-node limit given with --timeout", async () => {
    const m = serve(() => json({ instances: [], errors: [{ node: "n2", message: 'Node "n2" did not answer within 2m' }] }));
    const client = fakeClient();
    expect(await runClient(client, m, ["info", "--timeout", "2m"])).toBe(1);
    expect(m.seen[0]!.path).toBe("/api/v1/info?timeout=120000");
    expect(client.err.join("")).toBe('error: node "n2": Node "n2" did not answer within 2m\n');
    const over = fakeClient();
    expect(await runClient(over, m, ["info", "--timeout", "11m"])).toBe(2);
  });
});
