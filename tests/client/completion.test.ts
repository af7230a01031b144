/**
 * The completion engine against the client's real command tree and a fake
 * source: commands, sub-commands and options as --help defines them, and the
 * cluster's values where the definitions say an argument takes them. Then
 * the master source against a fake master (failures and late answers are
 * silent), `__complete` end to end in-process, and `completion SHELL`.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { ArgsDef, CommandDef } from "citty";
import { createClientCommand } from "../../lib/client/commands.ts";
import { complete, kindOf, planCompletion, type CompletionSource, type DynamicKind, type TypedOptions } from "../../lib/client/completion.ts";
import { createMasterSource } from "../../lib/client/completion-source.ts";
import { apiFor } from "../../lib/client/context.ts";
import { completionScript, SHELLS } from "../../lib/client/completion-scripts.ts";
import { aliasesOf, metaOf, resolve } from "../../lib/cli/citty.ts";
import { runCli } from "../../lib/cli/run.ts";
import { writeConfig } from "../../lib/client/config.ts";
import { fakeClient, fakeMaster, type FakeMaster } from "../support/fake-client.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = (): CommandDef<ArgsDef> => createClientCommand(fakeClient().ctx);

const VALUES: Record<DynamicKind, string[]> = {
  instance: ["web", "web@n1", "web@n2", "db", "db@n1"],
  node: ["n1", "n2"],
  snapshot: ["web.snapshot1", "web.snapshot1@n1"],
  "label-key": ["role", "zone"],
  context: [],
};

/** A source answering from VALUES, recording what it was asked. */
function fakeSource(): CompletionSource & { asked: [DynamicKind, TypedOptions][] } {
  const asked: [DynamicKind, TypedOptions][] = [];
  return {
    asked,
    async values(kind, options) {
      asked.push([kind, options]);
      return VALUES[kind];
    },
  };
}

const candidates = (typed: string) => complete(root(), typed.split(" "), fakeSource());

describe("commands and options from the command tree", () => {
  test("a new first word: every visible command of the tree and its aliases, the hidden __complete left out", async () => {
    const subs = (await resolve(root().subCommands!)) as Record<string, CommandDef<ArgsDef>>;
    const visible: string[] = [];
    for (const [name, sub] of Object.entries(subs)) {
      const meta = await metaOf(await resolve(sub));
      if (!meta.hidden) visible.push(name, ...aliasesOf(meta.alias));
    }
    expect(visible).toContain("completion");
    expect(visible).not.toContain("__complete");
    expect(await candidates("")).toEqual(visible.sort());
  });

  test("a prefix narrows them; a sub-command level has its own", async () => {
    expect(await candidates("sh")).toEqual(["shell"]);
    expect(await candidates("nodes ")).toEqual(["cordon", "drain", "label", "remove", "uncordon"]);
    // snapshot takes an instance too: its names come beside the sub-command.
    expect(await candidates("snapshot d")).toEqual(["db", "db@n1", "delete"]);
  });

  test("options of the command typed, with aliases and --help", async () => {
    const shell = await candidates("shell --");
    expect(shell).toContain("--new");
    expect(shell).toContain("--master");
    expect(shell).toContain("--help");
    expect(shell).not.toContain("--all");
    expect(await candidates("instances -")).toContain("-l");
    expect(await candidates("completion --")).toEqual(["--help"]);
  });

  test("nothing after -- (a remote command's words), nor for a value the cluster does not know", async () => {
    expect(await candidates("exec web -- l")).toEqual([]);
    expect(await candidates("launch --cpus ")).toEqual([]);
  });
});

describe("values of the cluster where the definitions take them", () => {
  test("instances: NAME and NAME@NODE for every command taking an instance", async () => {
    expect(await candidates("shell w")).toEqual(["web", "web@n1", "web@n2"]);
    expect(await candidates("exec web@")).toEqual(["web@n1", "web@n2"]);
    expect(await candidates("stop web db@")).toEqual(["db@n1"]);
    expect(await candidates("label d")).toEqual(["db", "db@n1"]);
    // A command given no positional completes none; launch names a new instance.
    expect(await candidates("launch w")).toEqual([]);
    expect(await candidates("shell web w")).toEqual([]);
  });

  test("nodes, snapshots and label keys (after the last , or ! of a selector)", async () => {
    expect(await candidates("launch --node n")).toEqual(["n1", "n2"]);
    expect(await candidates("nodes remove ")).toEqual(["n1", "n2"]);
    expect(await candidates("restore web.")).toEqual(["web.snapshot1", "web.snapshot1@n1"]);
    expect(await candidates("snapshot delete ")).toEqual(["web.snapshot1", "web.snapshot1@n1"]);
    expect(await candidates("instances -l r")).toEqual(["role"]);
    expect(await candidates("instances -l role=web,!z")).toEqual(["role=web,!zone"]);
    expect(await candidates("instances --selector=role=web,")).toEqual(["--selector=role=web,role", "--selector=role=web,zone"]);
    expect(await candidates("instances -l role=w")).toEqual([]);
    // bash hands `--selector=role=web,z` over split at its first "=".
    expect(await candidates("instances --selector = role=web,z")).toEqual(["role=web,zone"]);
    expect(await candidates("launch --node = n")).toEqual(["n1", "n2"]);
    expect(await candidates("launch --node = n1 --")).toContain("--image");
  });

  test("the connection options typed go to the source; other options' values are skipped over", async () => {
    const source = fakeSource();
    expect(await complete(root(), ["shell", "--master", "http://m:1", "--token=t", "--new", "w"], source)).toEqual(["web", "web@n1", "web@n2"]);
    expect(source.asked).toEqual([["instance", { master: "http://m:1", token: "t" }]]);
    expect((await planCompletion(root(), ["exec", "--timeout", "5s", ""])).dynamic).toBe("instance");
  });

  test("what the definitions say decides the kind", () => {
    expect(kindOf("name", { type: "positional", description: "Instance, NAME or NAME@NODE" })).toBe("instance");
    expect(kindOf("snapshot", { type: "positional", valueHint: "NAME.SNAP" })).toBe("snapshot");
    expect(kindOf("node", { type: "string", valueHint: "NODE" })).toBe("node");
    expect(kindOf("image", { type: "string", valueHint: "IMAGE" })).toBeNull();
  });
});

let master: FakeMaster | undefined;
afterEach(async () => {
  await master?.stop();
  master = undefined;
});

const vm = (node: string, name: string, labels: Record<string, string> = {}) => ({ node, name, state: "Running", ipv4: [], release: null, labels });

describe("the master source", () => {
  const sourceFor = (m: FakeMaster, timeoutMs = 2000) =>
    createMasterSource({ apiFor: (o) => apiFor({ master: m.url, token: o["token"] ?? "mva_test", json: false }, fakeClient().ctx), timeoutMs });

  test("instance names, NAME@NODE, and the label keys of instances and nodes, each once", async () => {
    const node = { name: "n3", state: "Ready", address: "h:1", lastSync: "2026-01-01T00:00:00Z", multipassVersion: null, multipassError: null, staleSince: null, resources: { cpus: 2, load: [0, 0, 0], memory: { total: 10, available: 5 }, disk: { total: 10, available: 5 } }, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instanceCount: 2, labels: { rack: "r1", role: "x" } };
    master = fakeMaster((r) => (r.path === "/api/v1/nodes" ? Response.json([node]) : Response.json([vm("n1", "web", { role: "a" }), vm("n2", "web", { role: "b" })])));
    const source = sourceFor(master);
    expect((await source.values("instance", {})).sort()).toEqual(["web", "web@n1", "web@n2"]);
    expect((await source.values("label-key", {})).sort()).toEqual(["rack", "role"]);
  });

  test("an error, a refusal or a late answer is an empty list, within the limit", async () => {
    master = fakeMaster(async (r) => {
      if (r.path === "/api/v1/nodes") return Response.json({ error: { code: "E_AUTH", message: "no" } }, { status: 401 });
      if (r.path === "/api/v1/snapshots") return new Response("not json");
      await Bun.sleep(5000);
      return Response.json([]);
    });
    const source = sourceFor(master, 200);
    expect(await source.values("node", {})).toEqual([]);
    expect(await source.values("snapshot", {})).toEqual([]);
    expect(await source.values("instance", {})).toEqual([]);
    const broken = createMasterSource({
      apiFor: () => {
        throw new Error("no token");
      },
    });
    expect(await broken.values("instance", {})).toEqual([]);
  });
});

describe("__complete and completion", () => {
  const run = (client: ReturnType<typeof fakeClient>, args: string[]) => runCli(createClientCommand(client.ctx), args, { stdout: client.ctx.stdout, stderr: client.ctx.stderr, verbose: false });

  test("__complete prints one candidate a line, from the master the typed flags name", async () => {
    master = fakeMaster(() => Response.json([vm("n1", "web"), vm("n1", "db")]));
    const client = fakeClient();
    expect(await run(client, ["__complete", "--", "shell", "--master", master.url, "--token", "mva_x", "w"])).toBe(0);
    expect(client.out.join("")).toBe("web\nweb@n1\n");
    expect(client.err).toEqual([]);
    expect(master.seen.map((r) => r.path)).toEqual(["/api/v1/instances"]);
    // PowerShell's script passes a blank word for a new one: every instance.
    const blank = fakeClient();
    expect(await run(blank, ["__complete", "--", "shell", "--master", master.url, "--token", "mva_x", " "])).toBe(0);
    expect(blank.out.join("")).toBe("db\ndb@n1\nweb\nweb@n1\n");
  });

  test("__complete with an unreachable master: nothing printed, exit 0", async () => {
    const client = fakeClient();
    expect(await run(client, ["__complete", "--", "shell", "--master", "http://127.0.0.1:9", "--token", "t", ""])).toBe(0);
    expect(client.out).toEqual([]);
    expect(client.err).toEqual([]);
  });

  test("contexts from the config file; a typed --context reaches its own master, with its own token", async () => {
    const other = fakeMaster(() => Response.json([vm("n9", "elsewhere")]));
    master = fakeMaster(() => Response.json([vm("n1", "web")]));
    const dir = mkdtempSync(join(tmpdir(), "completion-"));
    try {
      const file = join(dir, "config.yaml");
      writeConfig(file, { currentContext: "home", contexts: [{ name: "home", master: other.url, token: "mva_home" }, { name: "lab", master: master.url, token: "mva_lab" }] });
      const client = fakeClient();
      client.ctx.configFile = file;
      expect(await run(client, ["__complete", "--", "nodes", "--context", ""])).toBe(0);
      expect(await run(client, ["__complete", "--", "config", "use-context", "l"])).toBe(0);
      expect(await run(client, ["__complete", "--", "info", "--context", "lab", "w"])).toBe(0);
      expect(client.out.join("")).toBe("home\nlab\nlab\nweb\nweb@n1\n");
      expect(other.seen).toEqual([]);
    } finally {
      await other.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("completion SHELL prints that shell's script; an unknown shell is a usage error printing nothing", async () => {
    for (const shell of SHELLS) {
      const client = fakeClient();
      expect(await run(client, ["completion", shell])).toBe(0);
      expect(client.out.join("")).toBe(completionScript(shell));
      expect(client.out.join("")).toContain("__complete --");
    }
    const client = fakeClient();
    expect(await run(client, ["completion", "tcsh"])).toBe(2);
    expect(client.out).toEqual([]);
    expect(client.err.join("")).toContain('Unknown shell "tcsh"');
  });
});
