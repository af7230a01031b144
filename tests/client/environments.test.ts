/**
 * The client's environment verbs (issue 17) against a fake master: the file
 * read and checked first (schema errors with their line, unset variables,
 * cloudInitFile read in), diff's plan, apply's stream (failures and skipped
 * steps, the closing account, removals asked first or refused without
 * --yes, Ctrl-C), delete -f and envs.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fakeClient, fakeMaster, ndjsonAnswer, runClient, type FakeMaster, type SeenRequest } from "../support/fake-client.ts";

let master: FakeMaster | undefined;
afterEach(async () => {
  await master?.stop();
  master = undefined;
});

function serve(route: (request: SeenRequest) => Response | Promise<Response>): FakeMaster {
  master = fakeMaster(route);
  return master;
}

const json = (value: unknown, status = 200) => Response.json(value, { status });

let dir = "";
let lab = "";
const AGENT_INIT = '#cloud-config\nruncmd:\n  - echo "{{ instances.server.ipv4 }}" > /etc/lab-server\n  - echo "{{ env.LAB_TOKEN }}" > /etc/lab-token\n';
const LAB = [
  "name: lab",
  'defaults: { image: "24.04", cpus: 1, memory: 1G, disk: 5G }',
  "instances:",
  "  - name: server",
  "    labels: { role: server }",
  "  - name: agent",
  "    count: 2",
  "    after: [server]",
  "    cloudInitFile: agent-init.yaml",
  "",
].join("\n");

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "environments-"));
  lab = join(dir, "lab.yaml");
  writeFileSync(lab, LAB);
  writeFileSync(join(dir, "agent-init.yaml"), AGENT_INIT);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

type Step = { name: string; key: string | null; action: string; node: string | null; reason: string; state: string | null; after: string[]; drift: string[] };
const step = (name: string, action: string, extra: Partial<Step> = {}): Step => ({ name, key: name.slice(4), action, node: "n1", reason: "most room", state: null, after: [], drift: [], ...extra });
const planOf = (steps: Step[], notes: string[] = []) => ({ environment: "lab", steps, notes });
const LAUNCH_ALL = planOf([
  step("lab-server", "launch", { reason: "most free memory" }),
  step("lab-agent-1", "launch", { node: "n2", after: ["lab-server"] }),
  step("lab-agent-2", "launch", { node: "n3", after: ["lab-server"] }),
]);
const result = (name: string, extra: Record<string, unknown> = {}) => ({ name, node: "n1", action: "launch", ok: true, skipped: false, state: "Running", ipv4: ["10.0.0.5"], error: null, ...extra });

/** The environment variable the file's cloud-init uses. */
function withToken(client: ReturnType<typeof fakeClient>) {
  client.ctx.env["LAB_TOKEN"] = "s3cret";
  return client;
}

describe("reading the file", () => {
  test("a schema error names the file and line, exits 2, and nothing is sent", async () => {
    const m = serve(() => json({}));
    const bad = write("bad.yaml", "name: lab\ninstances:\n  - name: web\n    colour: blue\n");
    const client = withToken(fakeClient());
    expect(await runClient(client, m, ["diff", "-f", bad])).toBe(2);
    expect(client.err.join("")).toStartWith(`error: ${bad}:4: `);
    expect(m.seen).toEqual([]);
  });

  test("a variable the cloud-init uses that is not set: a usage error naming it and where it is used", async () => {
    const m = serve(() => json({}));
    const client = fakeClient();
    expect(await runClient(client, m, ["apply", "-f", lab, "--yes"])).toBe(2);
    expect(client.err.join("")).toStartWith("error: agent-init.yaml:4: the environment variable LAB_TOKEN is not set");
    expect(m.seen).toEqual([]);
  });

  test("an unreadable cloudInitFile names the line that names it", async () => {
    const m = serve(() => json({}));
    const missing = write("missing.yaml", "name: lab\ninstances:\n  - name: web\n    cloudInitFile: nowhere.yaml\n");
    const client = fakeClient();
    expect(await runClient(client, m, ["diff", "-f", missing])).toBe(2);
    expect(client.err.join("")).toStartWith(`error: ${missing}:4: cannot read cloudInitFile "nowhere.yaml"`);
    expect(m.seen).toEqual([]);
  });

  test("no -f: a usage error", async () => {
    const client = fakeClient();
    expect(await runClient(client, serve(() => json({})), ["apply"])).toBe(2);
    expect(client.err.join("")).toStartWith("error: apply needs the environment's file: apply -f FILE\n");
  });
});

describe("diff", () => {
  test("sends the document with the cloudInitFile read in (and no variables: a plan needs none); shows the plan", async () => {
    const plan = planOf(
      [step("lab-server", "keep", { reason: "exists, Running", state: "Running", drift: ["cpus: 2 in the file, launched with 1"] }), step("lab-agent-1", "launch", { node: "n2", after: ["lab-server"] })],
      ["spread of \"agent\": only one node has room"],
    );
    const m = serve(() => json(plan));
    const client = withToken(fakeClient());
    expect(await runClient(client, m, ["diff", "-f", lab])).toBe(0);
    expect(m.seen).toHaveLength(1);
    const body = m.seen[0]!.body as { action: string; document: { instances: Record<string, unknown>[] }; env: unknown; confirm: boolean; purge: boolean };
    expect(m.seen[0]!.path).toBe("/api/v1/environments");
    expect([body.action, body.env, body.confirm, body.purge]).toEqual(["plan", {}, false, false]);
    expect(body.document.instances[1]!["cloudInit"]).toBe(AGENT_INIT);
    expect(body.document.instances[1]!["cloudInitFile"]).toBeUndefined();
    expect(client.out.join("")).toBe(
      [
        'Plan of environment "lab":',
        "Action   Instance      Node   State     After        Reason",
        "keep     lab-server    n1     Running   --           exists, Running",
        "                                                     drift: cpus: 2 in the file, launched with 1",
        "launch   lab-agent-1   n2     --        lab-server   most room",
        'note: spread of "agent": only one node has room',
        "1 to launch, 1 unchanged (1 with drift, not changed in place: recreate it to apply the file's sizes).",
        "",
      ].join("\n"),
    );
  });

  test("a variable that is not set is a warning: apply will need it", async () => {
    const m = serve(() => json(LAUNCH_ALL));
    const client = fakeClient();
    expect(await runClient(client, m, ["diff", "-f", lab])).toBe(0);
    expect(client.err.join("")).toBe("warning: agent-init.yaml:4: the environment variable LAB_TOKEN is not set; apply will need it\n");
    expect(client.out.join("")).toContain("3 to launch.\n");
  });

  test("--json prints the plan as the API answered it", async () => {
    const m = serve(() => new Response(JSON.stringify(LAUNCH_ALL), { headers: { "content-type": "application/json" } }));
    const client = withToken(fakeClient());
    expect(await runClient(client, m, ["diff", "-f", lab, "--json"])).toBe(0);
    expect(client.out.join("")).toBe(JSON.stringify(LAUNCH_ALL) + "\n");
  });
});

/** A master that plans with `plan` and streams `events` for an apply or delete. */
function environmentsMaster(plan: unknown, events: unknown[]) {
  return serve((r) => {
    const action = (r.body as { action?: string } | undefined)?.action;
    if (r.method === "POST" && action === "plan") return json(plan);
    return ndjsonAnswer(events.map((line) => ({ afterMs: 0, line })));
  });
}

describe("apply", () => {
  test("the plan, each instance's progress and result, then the account of what exists, failed and was skipped; exit 1", async () => {
    const failed = result("lab-agent-1", { node: "n2", ok: false, state: null, ipv4: [], error: { code: "E_MULTIPASS", message: "launch failed: \u001b[31mno room\u001b[0m" } });
    const skipped = result("lab-agent-2", { node: "n3", ok: false, skipped: true, state: null, ipv4: [], error: { code: "E_SKIPPED", message: 'waits for "lab-agent-1", which failed' } });
    const events = [
      { type: "plan", plan: LAUNCH_ALL },
      { type: "step", name: "lab-server", node: "n1", status: "started" },
      { type: "step", name: "lab-server", node: "n1", status: "progress", phase: "Retrieving image", percent: 40 },
      { type: "result", result: result("lab-server") },
      { type: "step", name: "lab-agent-1", node: "n2", status: "started" },
      { type: "result", result: failed },
      { type: "result", result: skipped },
      { type: "done", ok: false, results: [result("lab-server"), failed, skipped] },
    ];
    const m = environmentsMaster(LAUNCH_ALL, events);
    const client = withToken(fakeClient());
    expect(await runClient(client, m, ["apply", "-f", lab])).toBe(1);
    expect(m.seen.map((r) => [(r.body as { action: string }).action, r.accept, (r.body as { confirm: boolean }).confirm])).toEqual([
      ["plan", "*/*", false],
      ["apply", "application/x-ndjson", false],
    ]);
    const out = client.out.join("");
    expect(out).toContain("3 to launch.\nApplying environment \"lab\"\nlab-server: started\nlab-server: Retrieving image\nlaunched lab-server on n1 (10.0.0.5)\nlab-agent-1: started\n");
    expect(out).toContain("failed lab-agent-1 on n2: launch failed: no room\nskipped lab-agent-2 on n3: waits for \"lab-agent-1\", which failed\n");
    expect(out).toEndWith(
      [
        "Not done: 1 failed, 1 skipped, 1 succeeded.",
        "Exists:",
        "  lab-server    n1, Running, 10.0.0.5",
        "Failed:",
        "  lab-agent-1   on n2: launch failed: no room",
        "Skipped:",
        '  lab-agent-2   waits for "lab-agent-1", which failed',
        `Fix what failed and run "multiverse apply -f ${lab}" again: it goes on from here.`,
        "",
      ].join("\n"),
    );
  });

  test("only the names the file uses are sent, with the apply; an apply that could not start says so, exit 1", async () => {
    const m = environmentsMaster(LAUNCH_ALL, [{ type: "error", code: "E_CONFLICT", message: "the plan changed while waiting" }]);
    const client = withToken(fakeClient());
    client.ctx.env["UNRELATED"] = "x";
    expect(await runClient(client, m, ["apply", "-f", lab])).toBe(1);
    expect(m.seen.map((r) => (r.body as { env: unknown }).env)).toEqual([{}, { LAB_TOKEN: "s3cret" }]);
    expect(client.err.join("")).toBe("error: the plan changed while waiting (nothing was done)\n");
  });

  test("on a terminal: every instance at work on one redrawn line, its percentage with it", async () => {
    const events = [
      { type: "step", name: "lab-agent-1", node: "n2", status: "started", message: "launching on n2" },
      { type: "step", name: "lab-agent-2", node: "n3", status: "progress", phase: "Retrieving image", percent: 40, message: "Retrieving image: 40%" },
      { type: "result", result: result("lab-agent-1", { node: "n2" }) },
      { type: "done", ok: true, results: [result("lab-agent-1", { node: "n2" }), result("lab-agent-2", { node: "n3" })] },
    ];
    const m = environmentsMaster(LAUNCH_ALL, events);
    const client = withToken(fakeClient({ isTTY: true, cols: 200 }));
    expect(await runClient(client, m, ["apply", "-f", lab])).toBe(0);
    const out = client.out.join("");
    expect(out).toContain("\r\u001b[2Klab-agent-1: launching on n2; lab-agent-2: Retrieving image 40% … 0 s");
    expect(out).toContain("\r\u001b[2Klaunched lab-agent-1 on n2 (10.0.0.5)\n\r\u001b[2Klab-agent-2: Retrieving image 40% … 0 s");
  });

  test("-f - reads the file from stdin, never from a terminal", async () => {
    const m = serve(() => json({}));
    const tty = fakeClient({ stdinIsTTY: true });
    expect(await runClient(tty, m, ["diff", "-f", "-"])).toBe(2);
    expect(tty.err.join("")).toStartWith("error: -f - reads the environment's file from stdin, which is a terminal here");
    const empty = fakeClient();
    expect(await runClient(empty, m, ["diff", "-f", "-"])).toBe(2);
    expect(empty.err.join("")).toStartWith("error: stdin: ");
    expect(m.seen).toEqual([]);
  });

  test("a second apply of the same file: nothing to launch, exit 0", async () => {
    const kept = planOf([step("lab-server", "keep", { reason: "exists, Running", state: "Running" })]);
    const done = { type: "done", ok: true, results: [result("lab-server", { action: "keep" })] };
    const m = environmentsMaster(kept, [{ type: "plan", plan: kept }, done]);
    const client = withToken(fakeClient());
    expect(await runClient(client, m, ["apply", "-f", lab])).toBe(0);
    const out = client.out.join("");
    expect(out).toContain('Nothing to launch: environment "lab" is as the file says.\n');
    expect(out).not.toContain("kept lab-server");
    expect(out).toEndWith("Done: 1 step succeeded.\nExists:\n  lab-server   n1, Running, 10.0.0.5\n");
  });

  const lowered = planOf([step("lab-server", "keep", { state: "Running" }), step("lab-agent-3", "remove", { key: null, node: "n2", state: "Running", reason: 'count of "agent" lowered from 3 to 2' })]);
  const removedResult = result("lab-agent-3", { node: "n2", action: "remove", state: null, ipv4: [] });
  const removedDone = [{ type: "result", result: removedResult }, { type: "done", ok: true, results: [removedResult] }];

  test("removals without a terminal need --yes: a usage error, and nothing is applied", async () => {
    const m = environmentsMaster(lowered, removedDone);
    const client = withToken(fakeClient());
    expect(await runClient(client, m, ["apply", "-f", lab])).toBe(2);
    expect(client.err.join("")).toStartWith("error: The plan removes lab-agent-3@n2: give --yes to go ahead (nothing was changed)\n");
    expect(m.seen.map((r) => (r.body as { action: string }).action)).toEqual(["plan"]);
  });

  test("removals are asked on a terminal: no cancels; yes, or --yes, sends confirm", async () => {
    const m = environmentsMaster(lowered, removedDone);
    const no = withToken(fakeClient({ isTTY: true, stdinIsTTY: true, answers: ["n"] }));
    expect(await runClient(no, m, ["apply", "-f", lab])).toBe(1);
    expect(no.asked).toEqual(["Remove lab-agent-3@n2? [y/N] "]);
    expect(m.seen.map((r) => (r.body as { action: string }).action)).toEqual(["plan"]);
    const yes = withToken(fakeClient({ isTTY: true, stdinIsTTY: true, answers: ["y"] }));
    expect(await runClient(yes, m, ["apply", "-f", lab])).toBe(0);
    const flagged = withToken(fakeClient());
    expect(await runClient(flagged, m, ["apply", "-f", lab, "--yes"])).toBe(0);
    expect(flagged.out.join("")).toContain("removed lab-agent-3 on n2\n");
    expect(m.seen.filter((r) => (r.body as { action: string }).action === "apply").map((r) => (r.body as { confirm: boolean }).confirm)).toEqual([true, true]);
  });

  test("--json prints the API's events as they came, and nothing else", async () => {
    const events = [{ type: "plan", plan: LAUNCH_ALL }, { type: "done", ok: true, results: [] }];
    const m = environmentsMaster(LAUNCH_ALL, events);
    const client = withToken(fakeClient());
    expect(await runClient(client, m, ["apply", "-f", lab, "--json"])).toBe(0);
    expect(client.out.join("")).toBe(events.map((e) => JSON.stringify(e) + "\n").join(""));
  });

  test("Ctrl-C stops watching: the apply goes on at the master, apply again follows it; exit 130", async () => {
    const m = serve((r) => ((r.body as { action: string }).action === "plan" ? json(LAUNCH_ALL) : ndjsonAnswer([{ afterMs: 0, line: "" }], "hang")));
    const client = withToken(fakeClient());
    const running = runClient(client, m, ["apply", "-f", lab]);
    while (!client.listening() || m.seen.length < 2) await Bun.sleep(10);
    await Bun.sleep(50);
    client.signal("SIGINT");
    expect(await running).toBe(130);
    expect(client.err.join("")).toBe(`Stopped watching; the apply of environment "lab" goes on at the master.\nRun "multiverse apply -f ${lab}" again to follow it and finish it.\n`);
  });
});

const VIEWS = {
  environments: [
    {
      name: "lab",
      createdAt: "2026-01-01T00:00:00Z",
      updatedAt: "2026-01-01T00:00:00Z",
      lastApply: { at: "2026-01-01T00:00:00Z", ok: false },
      declared: 3,
      instances: [
        { name: "lab-server", node: "n1", state: "Running", ipv4: ["10.0.0.5"] },
        { name: "lab-agent-1", node: "n2", state: "Stopped", ipv4: [] },
      ],
    },
    { name: "empty", createdAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z", lastApply: null, declared: 1, instances: [] },
  ],
};

describe("delete -f", () => {
  test("asks on a terminal, listing the environment's instances, then deletes it through the environments API", async () => {
    const done = { type: "done", ok: true, results: [result("lab-server", { action: "delete", state: null, ipv4: [] })] };
    const m = serve((r) => (r.method === "GET" ? json(VIEWS) : ndjsonAnswer([{ afterMs: 0, line: { type: "result", result: done.results[0] } }, { afterMs: 0, line: done }])));
    const client = fakeClient({ isTTY: true, stdinIsTTY: true, answers: ["y"] });
    expect(await runClient(client, m, ["delete", "-f", lab, "--purge"])).toBe(0);
    expect(client.asked).toEqual(['Delete for good lab-server@n1, lab-agent-1@n2 (environment "lab")? [y/N] ']);
    expect(m.seen.map((r) => [r.method, r.path])).toEqual([
      ["GET", "/api/v1/environments"],
      ["POST", "/api/v1/environments"],
    ]);
    expect(m.seen[1]!.body).toMatchObject({ action: "delete", name: "lab", purge: true, env: {} });
    expect(client.out.join("")).toContain("deleted lab-server on n1\n");
  });

  test("with instance names, --all or -l: a usage error, and nothing is sent", async () => {
    const m = serve(() => json({}));
    for (const extra of [["web"], ["--all"], ["-l", "role=web"]]) {
      const client = fakeClient();
      expect(await runClient(client, m, ["delete", "-f", lab, ...extra])).toBe(2);
      expect(client.err.join("")).toStartWith("error: Give instance names, --all, -l or -f FILE: only one of them\n");
    }
    expect(m.seen).toEqual([]);
  });
});

describe("envs", () => {
  test("a row per environment: instances existing/declared, nodes, states, last apply", async () => {
    const m = serve(() => json(VIEWS));
    const client = fakeClient();
    expect(await runClient(client, m, ["envs"])).toBe(0);
    const [header, first, second] = client.out.join("").split("\n");
    expect(header).toBe("Environment   Instances   Nodes   States                 Last Apply");
    expect(first).toMatch(/^lab           2\/3         n1,n2   1 Running, 1 Stopped   failed \d+d ago$/);
    expect(second).toBe("empty         0/1         --      --                     --");
  });

  test("-o wide: a row per instance; --json: the API's answer as it came; -o name: the environments' names", async () => {
    const text = JSON.stringify(VIEWS);
    const m = serve(() => new Response(text, { headers: { "content-type": "application/json" } }));
    const wide = fakeClient();
    expect(await runClient(wide, m, ["envs", "-o", "wide"])).toBe(0);
    expect(wide.out.join("")).toBe(
      [
        "Environment   Node Name   Instance Name   State     IPv4",
        "lab           n1          lab-server      Running   10.0.0.5",
        "lab           n2          lab-agent-1     Stopped   --",
        "empty         --          --              --        --",
        "",
      ].join("\n"),
    );
    const asJson = fakeClient();
    expect(await runClient(asJson, m, ["envs", "--json"])).toBe(0);
    expect(asJson.out.join("")).toBe(text + "\n");
    const names = fakeClient();
    expect(await runClient(names, m, ["envs", "-o", "name"])).toBe(0);
    expect(names.out.join("")).toBe("lab\nempty\n");
  });

  test("envs NAME: that environment's instances, a row each; --json its API answer; an unknown one is the master's 404, a bad name refused unsent", async () => {
    const one = { ...VIEWS.environments[0], document: { name: "lab", instances: [{ name: "server" }] } };
    const text = JSON.stringify(one);
    const m = serve((r) => (r.path === "/api/v1/environments/lab" ? new Response(text, { headers: { "content-type": "application/json" } }) : Response.json({ error: { code: "E_NOT_FOUND", message: 'No environment "nope"' } }, { status: 404 })));
    const table = fakeClient();
    expect(await runClient(table, m, ["envs", "lab"])).toBe(0);
    expect(table.out.join("")).toBe(
      ["Environment   Node Name   Instance Name   State     IPv4", "lab           n1          lab-server      Running   10.0.0.5", "lab           n2          lab-agent-1     Stopped   --", ""].join("\n"),
    );
    const asJson = fakeClient();
    expect(await runClient(asJson, m, ["envs", "lab", "--json"])).toBe(0);
    expect(asJson.out.join("")).toBe(text + "\n");
    const missing = fakeClient();
    expect(await runClient(missing, m, ["envs", "nope"])).toBe(1);
    expect(missing.err.join("")).toContain('No environment "nope"');
    const seen = m.seen.length;
    const bad = fakeClient();
    expect(await runClient(bad, m, ["envs", "no/pe"])).toBe(2);
    expect(m.seen.length).toBe(seen);
  });
});
