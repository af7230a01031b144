/**
 * Environments as code (issue 17) end to end: a real master, three workers
 * on simulated hosts and the real client. The shipped examples apply cleanly
 * (spread, the server's bridged address and the generated token in every
 * agent's cloud-init); the token is in no log, no audit record and no
 * output; a re-apply launches nothing; counts go up and down (down only when
 * confirmed); drift is reported and never relaunched; an impossible spread
 * is explained; `after` is kept in the hosts' own call logs; schema errors
 * name their line and launch nothing; `{{ env.NAME }}` comes from the
 * client's environment; `delete -f` and `--purge`; `envs` and its `--json`.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { arrayOf, parseJson } from "../../lib/core/parse.ts";
import { parseAuditEvent } from "../../lib/protocol/audit.ts";
import { parseEnvironmentEvent, parseEnvironmentPlan, type EnvironmentEvent, type EnvironmentPlan } from "../../lib/protocol/environments.ts";
import { api, apiInstances, apiNodes, apiRead, client, removeTempDirs, ROOT, simConfig, simStates, simTimedCalls, startMaster, startWorker, stopAll, tempDir, waitFor, type MasterHandle, type RunResult, type WorkerHandle } from "./harness.ts";

setDefaultTimeout(90_000);

const NODES = ["n1", "n2", "n3"] as const;
const FAST = { stepMs: 20 };

let master: MasterHandle;
const workers: WorkerHandle[] = [];
const sims = new Map<string, string>();
/** Everything the client printed, for the secrets check. */
const clientOutput: string[] = [];
let docs: string;

/** One line of a host's calls.log. */
interface Call {
  node: string;
  time: number;
  argv: string[];
}

/** Lines of each host's calls.log so far: `calls(mark)` gives only what came after. */
type Mark = Map<string, number>;

function mark(): Mark {
  return new Map([...sims].map(([node, dir]) => [node, simTimedCalls(dir).length]));
}

function calls(since: Mark = new Map()): Call[] {
  return [...sims].flatMap(([node, dir]) =>
    simTimedCalls(dir)
      .slice(since.get(node) ?? 0)
      .map((c) => ({ node, ...c })),
  );
}

/** The `launch` calls (and `delete`s) naming an instance that starts with `prefix`. */
const launches = (prefix: string, all = calls()) => all.filter((c) => c.argv[0] === "launch" && c.argv[2]?.startsWith(prefix));
const deletes = (prefix: string, all = calls()) => all.filter((c) => c.argv[0] === "delete" && c.argv.some((a) => a.startsWith(prefix)));

function doc(name: string, text: string): string {
  const path = join(docs, name);
  writeFileSync(path, text);
  return path;
}

async function run(args: string[], options: Parameters<typeof client>[2] = {}): Promise<RunResult> {
  const r = await client(master, args, { timeoutMs: 80_000, ...options });
  clientOutput.push(r.stdout, r.stderr);
  return r;
}

/** `apply --json`: its events, read with the protocol's parser. */
async function applyJson(path: string, env: Record<string, string> = {}): Promise<{ r: RunResult; events: EnvironmentEvent[]; plan: EnvironmentPlan; done: Extract<EnvironmentEvent, { type: "done" }> }> {
  const r = await run(["apply", "-f", path, "--json"], { env });
  const events = r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => parseEnvironmentEvent(parseJson(l, "event")));
  const plan = events.find((e): e is Extract<EnvironmentEvent, { type: "plan" }> => e.type === "plan")?.plan;
  const done = events.find((e): e is Extract<EnvironmentEvent, { type: "done" }> => e.type === "done");
  if (!plan || !done) throw new Error(`apply --json of ${path} ended without a plan or done (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return { r, events, plan, done };
}

function post(body: unknown): Promise<Response> {
  return fetch(`${master.apiUrl}/api/v1/environments`, {
    method: "POST",
    headers: { authorization: `Bearer ${master.apiToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function envInstances(env: string) {
  return (await apiInstances(master)).filter((i) => i.labels["multiverse/env"] === env);
}

const userData = (node: string, name: string) => readFileSync(join(sims.get(node)!, "instances", name, "user-data"), "utf8");

beforeAll(async () => {
  docs = tempDir("env-docs");
  master = await startMaster();
  for (const node of NODES) {
    const sim = tempDir(`sim-${node}`);
    simConfig(sim, FAST);
    sims.set(node, sim);
    workers.push(await startWorker(master, node, { simDir: sim }));
  }
  await waitFor("3 nodes Ready", async () => (await apiNodes(master)).filter((n) => n.state === "Ready").length === 3);
});

afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

describe("environments", () => {
  let token = "";
  let dbPassword = "";

  test("examples/k3s.yaml: spread agents, each given the server's bridged address and its token", async () => {
    const { r, plan, done } = await applyJson(join(ROOT, "examples/k3s.yaml"));
    expect(r.code).toBe(0);
    expect(done.ok).toBe(true);
    expect(done.results.map((x) => `${x.name} ${x.ok}`).sort()).toEqual(["k3s-agent-1 true", "k3s-agent-2 true", "k3s-server true"]);
    const planned = new Map(plan.steps.map((s) => [s.name, s.node]));
    expect([...planned.values()].every((n) => n !== null)).toBe(true);
    const listed = await envInstances("k3s");
    expect(listed.map((i) => `${i.name}@${i.node} ${i.state}`).sort()).toEqual([...planned].map(([n, node]) => `${n}@${node} Running`).sort());
    expect(planned.get("k3s-agent-1")).not.toBe(planned.get("k3s-agent-2"));
    expect(plan.steps.find((s) => s.name === "k3s-agent-2")?.reason).toStartWith("spread: apart from k3s-agent-1; ");
    expect(plan.steps.find((s) => s.name === "k3s-agent-1")?.after).toEqual(["k3s-server"]);

    const server = listed.find((i) => i.name === "k3s-server")!;
    expect(server.labels).toEqual({ "multiverse/env": "k3s", role: "server" });
    expect(server.ipv4).toHaveLength(2);
    const serverData = userData(server.node, server.name);
    token = /K3S_TOKEN='([^']*)'/.exec(serverData)?.[1] ?? "";
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    for (const agent of listed.filter((i) => i.name.startsWith("k3s-agent-"))) {
      const data = userData(agent.node, agent.name);
      expect(data).toContain(`K3S_URL='https://${server.ipv4[1]}:6443'`);
      expect(data).toContain(`K3S_TOKEN='${token}'`);
      expect(data).not.toContain("{{");
    }
  });

  test("a re-apply launches nothing and says so", async () => {
    const before = mark();
    const r = await run(["apply", "-f", join(ROOT, "examples/k3s.yaml")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Nothing to launch: environment "k3s" is as the file says');
    const { plan } = await applyJson(join(ROOT, "examples/k3s.yaml"));
    expect(plan.steps.map((s) => s.action)).toEqual(["keep", "keep", "keep"]);
    expect(launches("", calls(before))).toEqual([]);
  });

  test("examples/microservices.yaml applies cleanly, labelled for exec -l", async () => {
    const diff = await run(["diff", "-f", join(ROOT, "examples/microservices.yaml"), "--json"]);
    expect(diff.code).toBe(0);
    const plan = parseEnvironmentPlan(parseJson(diff.stdout, "diff --json"));
    expect(plan.steps.map((s) => s.action)).toEqual(["launch", "launch", "launch", "launch", "launch"]);
    const r = await run(["apply", "-f", join(ROOT, "examples/microservices.yaml")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Done: 5 steps succeeded.");
    const listed = await envInstances("shop");
    expect(listed.map((i) => `${i.name}@${i.node} ${i.state}`).sort()).toEqual(plan.steps.map((s) => `${s.name}@${s.node} Running`).sort());
    const orders = listed.filter((i) => i.name.startsWith("shop-orders-"));
    expect(new Set(orders.map((i) => i.node)).size).toBe(2);
    const db = listed.find((i) => i.name === "shop-db")!;
    const gateway = listed.find((i) => i.name === "shop-gateway")!;
    const users = listed.find((i) => i.name === "shop-users")!;
    expect(gateway.labels).toEqual({ "multiverse/env": "shop", app: "shop", tier: "web" });
    dbPassword = new RegExp(`postgres://shop:([^@]*)@${db.ipv4[0]!.replaceAll(".", "\\.")}/shop`).exec(userData(users.node, users.name))?.[1] ?? "";
    expect(dbPassword).toMatch(/^[0-9a-f]{64}$/);
    expect(userData(db.node, db.name)).toContain(`PASSWORD '${dbPassword}'`);
    expect(userData(gateway.node, gateway.name)).toContain(`orders ${orders.sort((a, b) => (a.name < b.name ? -1 : 1)).map((o) => o.ipv4[0]).join(" ")}`);
    const tier = await run(["exec", "-l", "app=shop,tier=api", "--", "echo", "hi"]);
    expect(tier.code).toBe(0);
    expect(tier.stdout.match(/hi/g)).toHaveLength(3);
  });

  test("scale up launches only the new one; scale down needs a confirmation, then deletes and purges the highest index", async () => {
    const file = (count: number) => doc("scale.yaml", `name: scale\ndefaults: { cpus: 1, memory: 1G, disk: 5G }\ninstances:\n  - name: web\n    count: ${count}\n`);
    expect((await run(["apply", "-f", file(2)])).code).toBe(0);
    let before = mark();
    const up = await run(["apply", "-f", file(3)]);
    expect(up.code).toBe(0);
    expect(launches("scale-", calls(before)).map((c) => c.argv[2])).toEqual(["scale-web-3"]);
    expect((await envInstances("scale")).map((i) => i.name).sort()).toEqual(["scale-web-1", "scale-web-2", "scale-web-3"]);

    before = mark();
    const refused = await run(["apply", "-f", file(2)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("The plan removes scale-web-3@");
    expect(refused.stderr).toContain("give --yes to go ahead (nothing was changed)");
    const text = readFileSync(file(2), "utf8");
    const conflict = await post({ action: "apply", document: text });
    expect(conflict.status).toBe(409);
    const body = (await conflict.json()) as { error: { code: string; message: string; plan?: EnvironmentPlan } };
    expect(body.error.code).toBe("E_CONFLICT");
    expect(body.error.message).toContain("would remove scale-web-3");
    expect(deletes("scale-", calls(before))).toEqual([]);
    expect((await envInstances("scale")).map((i) => `${i.name} ${i.state}`).sort()).toEqual(["scale-web-1 Running", "scale-web-2 Running", "scale-web-3 Running"]);

    const down = await run(["apply", "-f", file(2), "--yes"]);
    expect(down.code).toBe(0);
    expect(deletes("scale-", calls(before)).map((c) => c.argv)).toEqual([["delete", "--purge", "--", "scale-web-3"]]);
    expect(launches("scale-", calls(before))).toEqual([]);
    expect((await apiInstances(master)).filter((i) => i.name.startsWith("scale-")).map((i) => i.name).sort()).toEqual(["scale-web-1", "scale-web-2"]);
  });

  test("drift: a changed size or image is reported, never relaunched", async () => {
    const file = (size: string) => doc("drift.yaml", `name: drift\ninstances:\n  - name: box\n    ${size}\n`);
    expect((await run(["apply", "-f", file("image: '24.04'\n    cpus: 1\n    memory: 1G")])).code).toBe(0);
    const before = mark();
    const changed = file("image: '22.04'\n    cpus: 2\n    memory: 2G");
    const diff = await run(["diff", "-f", changed, "--json"]);
    const [step] = parseEnvironmentPlan(parseJson(diff.stdout, "diff --json")).steps;
    expect(step?.action).toBe("keep");
    expect(step?.drift).toEqual(['image: "22.04" in the file, launched with "24.04"', "cpus: 2 in the file, launched with 1", 'memory: "2G" in the file, launched with "1G"']);
    const text = await run(["diff", "-f", changed]);
    expect(text.stdout).toContain("drift: cpus: 2 in the file, launched with 1");
    const r = await run(["apply", "-f", changed]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("with drift");
    // The API without a stream holds the request open and answers at the end; YAML text is a document too.
    const held = await post({ action: "apply", document: readFileSync(changed, "utf8") });
    expect(held.status).toBe(200);
    const answer = (await held.json()) as { ok: boolean; plan: EnvironmentPlan; results: { name: string; action: string; ok: boolean }[] };
    expect(answer.ok).toBe(true);
    expect(answer.plan.steps.map((s) => `${s.action} ${s.drift.length}`)).toEqual(["keep 3"]);
    expect(answer.results.map((x) => `${x.name} ${x.action} ${x.ok}`)).toEqual(["drift-box keep true"]);
    const after = calls(before);
    expect(launches("drift-", after)).toEqual([]);
    expect(deletes("drift-", after)).toEqual([]);
    expect((await envInstances("drift")).map((i) => `${i.name} ${i.state}`)).toEqual(["drift-box Running"]);
  });

  test("spread of 4 over 3 nodes: the plan says why, and the 4th shares a node", async () => {
    const file = doc("spread.yaml", "name: spread\ndefaults: { cpus: 1, memory: 1G, disk: 5G }\ninstances:\n  - name: w\n    count: 4\n    spread: true\n");
    const { r, plan } = await applyJson(file);
    expect(r.code).toBe(0);
    expect(plan.notes).toEqual([expect.stringMatching(/^spread of "w" not possible for spread-w-4: every Ready node has one of "w" already; it shares node "n\d" with spread-w-\d$/)]);
    const nodes = (await envInstances("spread")).sort((a, b) => (a.name < b.name ? -1 : 1)).map((i) => i.node);
    expect(new Set(nodes.slice(0, 3)).size).toBe(3);
    expect(nodes.slice(0, 3)).toContain(nodes[3]!);
  });

  test("after: the dependents' launches reach their hosts once the server's launch has ended", async () => {
    const step = 150;
    for (const sim of sims.values()) simConfig(sim, { stepMs: step });
    try {
      const file = doc(
        "order.yaml",
        "name: order\ndefaults: { cpus: 1, memory: 1G, disk: 5G }\ninstances:\n  - name: server\n  - name: client\n    count: 2\n    spread: true\n    after: [server]\n  - name: free\n",
      );
      const before = mark();
      const { r } = await applyJson(file);
      expect(r.code).toBe(0);
      const made = launches("order-", calls(before));
      const at = (name: string) => made.find((c) => c.argv[2] === name)!.time;
      // A launch takes at least five phases (creating, preparing, configuring, starting, waiting for cloud-init).
      const serverEnded = at("order-server") + 5 * step;
      expect(at("order-client-1")).toBeGreaterThanOrEqual(serverEnded);
      expect(at("order-client-2")).toBeGreaterThanOrEqual(serverEnded);
      // Independent instances are not held back.
      expect(Math.abs(at("order-free") - at("order-server"))).toBeLessThan(5 * step);
      const events = await apiRead(master, "/api/v1/events?limit=10000", (body) => arrayOf(parseAuditEvent)(body, "events"));
      const serverDone = events.find((e) => e.action === "launch" && e.instance === "order-server" && e.phase === "done");
      expect(serverDone?.result).toBe("ok");
    } finally {
      for (const sim of sims.values()) simConfig(sim, FAST);
    }
  });

  test("schema errors: FILE:LINE and exit 2 from the client, 400 from the API, and nothing launched", async () => {
    const cases: [string, string, number, RegExp][] = [
      ["unknown-key", "name: bad\ninstances:\n  - name: a\n    cpu: 2\n", 4, /instances\[0\]\.cpu: unknown key "cpu" \(did you mean cpus\?\)/],
      ["bad-cpus", "name: bad\ninstances:\n  - name: a\n    cpus: lots\n", 4, /instances\[0\]\.cpus: must be a whole number/],
      ["unknown-ref", "name: bad\ninstances:\n  - name: a\n    cloudInit: |\n      #cloud-config\n      runcmd:\n        - echo {{ instances.nope.ipv4 }}\n", 4, /cloudInit line 3: "\{\{ instances\.nope\.ipv4 \}\}" names no instance/],
      ["cycle", "name: bad\ninstances:\n  - name: a\n    after: [b]\n  - name: b\n    after: [a]\n", 4, /instances\[0\]\.after: the instances wait for each other in a cycle: a → b → a/],
    ];
    const before = mark();
    for (const [name, text, line, what] of cases) {
      const path = doc(`${name}.yaml`, text);
      const r = await run(["apply", "-f", path]);
      expect({ name, code: r.code }).toEqual({ name, code: 2 });
      const at = String(line);
      expect(r.stderr).toMatch(new RegExp(`${path.replaceAll(".", "\\.")}:${at}: `));
      expect(r.stderr).toMatch(what);
      const response = await post({ action: "apply", document: text });
      expect({ name, status: response.status }).toEqual({ name, status: 400 });
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe("E_USAGE");
      expect(error.message).toMatch(new RegExp(`^document:${at}: `));
      expect(error.message).toMatch(what);
    }
    expect(launches("", calls(before))).toEqual([]);
    expect((await apiInstances(master)).filter((i) => i.name.startsWith("bad-"))).toEqual([]);
  });

  test("{{ env.NAME }} comes from the client's environment; a missing one is refused before anything launches", async () => {
    const file = doc("templ.yaml", "name: templ\ninstances:\n  - name: box\n    cloudInit: |\n      #cloud-config\n      runcmd:\n        - echo 'hello {{ env.GREETING }}' > /etc/greeting\n");
    // An empty value is a value: only an unset variable is refused.
    const empty = await run(["apply", "-f", file], { env: { GREETING: "" } });
    expect(empty.code).toBe(0);
    expect(userData((await envInstances("templ"))[0]!.node, "templ-box")).toContain("echo 'hello ' > /etc/greeting");
    expect((await run(["delete", "-f", file, "--purge", "--yes"])).code).toBe(0);

    const before = mark();
    const unset = await run(["apply", "-f", file]);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain(`${file}:7: the environment variable GREETING is not set`);
    const api400 = await post({ action: "apply", document: readFileSync(file, "utf8") });
    expect(api400.status).toBe(400);
    expect(await api400.text()).toContain("{{ env.GREETING }}");
    expect(launches("", calls(before))).toEqual([]);
    expect(await envInstances("templ")).toEqual([]);

    const set = await run(["apply", "-f", file], { env: { GREETING: "from-the-shell" } });
    expect(set.code).toBe(0);
    const [box] = await envInstances("templ");
    expect(userData(box!.node, "templ-box")).toContain("echo 'hello from-the-shell' > /etc/greeting");
  });

  test("envs lists environments with their instances, states and nodes; --json is the API's JSON", async () => {
    const table = await run(["envs"]);
    expect(table.code).toBe(0);
    const rows = table.stdout.trim().split("\n").map((l) => l.split(/\s{2,}/));
    expect(rows[0]).toEqual(["Environment", "Instances", "Nodes", "States", "Last Apply"]);
    const k3s = rows.find((r) => r[0] === "k3s")!;
    const nodes = [...new Set((await envInstances("k3s")).map((i) => i.node))].sort().join(",");
    expect(k3s.slice(1, 4)).toEqual(["3/3", nodes, "3 Running"]);
    expect(rows.map((r) => r[0])).toEqual(expect.arrayContaining(["drift", "scale", "shop", "spread", "templ"]));
    const wide = await run(["envs", "-o", "wide"]);
    expect(wide.stdout).toMatch(/shop\s+n\d\s+shop-gateway\s+Running\s+127\./);
    const json = await run(["envs", "--json"]);
    const raw = await fetch(`${master.apiUrl}/api/v1/environments`, { headers: { authorization: `Bearer ${master.apiToken}` } });
    expect(json.stdout).toBe((await raw.text()) + "\n");
  });

  test("delete -f FILE: Deleted and recoverable; --purge: gone, and the environment forgotten", async () => {
    const file = join(ROOT, "examples/microservices.yaml");
    const names = (await envInstances("shop")).map((i) => `${i.name}@${i.node}`).sort();
    expect(names).toHaveLength(5);
    const del = await run(["delete", "-f", file, "--yes"]);
    expect(del.code).toBe(0);
    await waitFor("shop Deleted", async () => (await envInstances("shop")).every((i) => i.state === "Deleted"));
    for (const ref of names) {
      const [name, node] = ref.split("@") as [string, string];
      expect(simStates(sims.get(node)!).get(name)).toBe("Deleted");
    }
    const recover = await run(["recover", names[0]!.split("@")[0]!]);
    expect(recover.code).toBe(0);
    expect(simStates(sims.get(names[0]!.split("@")[1]!)!).get(names[0]!.split("@")[0]!)).toBe("Stopped");

    // Applied again: the deleted ones recovered and started, the recovered one started; nothing launched.
    let before = mark();
    const again = await run(["apply", "-f", file]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("5 to start");
    expect(launches("", calls(before))).toEqual([]);
    expect((await envInstances("shop")).map((i) => `${i.name}@${i.node} ${i.state}`).sort()).toEqual(names.map((n) => `${n} Running`));

    before = mark();
    const purge = await run(["delete", "-f", file, "--purge", "--yes"]);
    expect(purge.code).toBe(0);
    expect(deletes("shop-", calls(before)).every((c) => c.argv.includes("--purge"))).toBe(true);
    await waitFor("shop gone", async () => (await apiInstances(master)).every((i) => !i.name.startsWith("shop-")));
    for (const [node, sim] of sims) expect({ node, left: [...simStates(sim).keys()].filter((n) => n.startsWith("shop-")) }).toEqual({ node, left: [] });
    expect((await run(["envs"])).stdout).not.toMatch(/^shop\s/m);
    expect((await api(master, "/api/v1/environments/shop")).status).toBe(404);
  });

  test("after all of the above, the generated secrets are in no log, no audit record, no call log and no client output", async () => {
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(dbPassword).toMatch(/^[0-9a-f]{64}$/);
    const events = await apiRead(master, "/api/v1/events?limit=10000", (body) => arrayOf(parseAuditEvent)(body, "events"));
    expect(events.some((e) => e.action === "launch" && e.instance === "k3s-server")).toBe(true);
    const stored = await api(master, "/api/v1/environments/k3s");
    expect(stored.status).toBe(200);
    expect(JSON.stringify(stored.body)).toContain("{{ secrets.k3s_token }}");
    const places: [string, string][] = [
      ["master output", master.proc.output],
      ...workers.map((w): [string, string] => [`worker ${w.name} output`, w.proc.output]),
      ["audit trail", JSON.stringify(events)],
      ["the stored document", JSON.stringify(stored.body)],
      ...[...sims].map(([node, dir]): [string, string] => [`calls.log of ${node}`, readFileSync(join(dir, "calls.log"), "utf8")]),
      ["client output", clientOutput.join("\n")],
    ];
    for (const [where, text] of places) expect({ where, leaked: [token, dbPassword].filter((secret) => text.includes(secret)).length }).toEqual({ where, leaked: 0 });
  });
});
