/**
 * Which master a command asks and which token it sends: flags > environment
 * > the selected context > the local master's token file; and a context's
 * token (and pin) goes to no master but the one it names. Fake masters
 * record the Authorization header of every request they receive.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { runCli } from "../../lib/cli/run.ts";
import { createClientCommand } from "../../lib/client/commands.ts";
import { writeConfig, type ConfigContext } from "../../lib/client/config.ts";
import { fakeClient } from "../support/fake-client.ts";
import { selfSignedCertFiles } from "../support/certificate.ts";

const servers: Server<undefined>[] = [];
let dir: string | undefined;
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

interface Recorder {
  url: string;
  seen: (string | null)[];
}

/** A master that records the Authorization header of every request and refuses them all. */
function recorder(tls?: { cert: string; key: string }): Recorder {
  const seen: (string | null)[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    ...(tls ? { tls } : {}),
    fetch(req) {
      seen.push(req.headers.get("authorization"));
      return Response.json({ error: { code: "E_UNAUTHORIZED", message: "refused" } }, { status: 401 });
    },
  });
  servers.push(server);
  return { url: `${tls ? "https" : "http"}://127.0.0.1:${server.port}`, seen };
}

async function run(args: string[], contexts: ConfigContext[], current: string | null, env: Record<string, string> = {}) {
  dir ??= mkdtempSync(join(tmpdir(), "precedence-"));
  const file = join(dir, "config.yaml");
  writeConfig(file, { currentContext: current, contexts });
  const client = fakeClient();
  client.ctx.configFile = file;
  client.ctx.env = { ...client.ctx.env, ...env };
  const code = await runCli(createClientCommand(client.ctx), ["nodes", ...args], { stdout: client.ctx.stdout, stderr: client.ctx.stderr, verbose: false });
  return { code, err: client.err.join("") };
}

const bearer = (t: string) => `Bearer ${t}`;

describe("precedence: flags > environment > context", () => {
  // Each row: the options and environment given; which master is asked (a: the current context's,
  // b: the other context's, x: a master no context names) and the Authorization it receives.
  const rows: [string, (m: Record<"a" | "b" | "x", string>) => { args: string[]; env?: Record<string, string> }, "a" | "b" | "x", string | null][] = [
    ["the current context alone", () => ({ args: [] }), "a", bearer("mva_ctx_a")],
    ["--context picks another", () => ({ args: ["--context", "b"] }), "b", bearer("mva_ctx_b")],
    ["the environment's token beats the context's", () => ({ args: [], env: { MULTIVERSE_API_TOKEN: "mva_env" } }), "a", bearer("mva_env")],
    ["--token beats the environment", () => ({ args: ["--token", "mva_flag"], env: { MULTIVERSE_API_TOKEN: "mva_env" } }), "a", bearer("mva_flag")],
    ["--master naming the context's own master keeps its token", (m) => ({ args: ["--master", `${m.a}/`] }), "a", bearer("mva_ctx_a")],
    ["MULTIVERSE_MASTER beats the context's master, and its token stays home", (m) => ({ args: [], env: { MULTIVERSE_MASTER: m.x } }), "x", null],
    ["--master to another master: the context's token is not sent", (m) => ({ args: ["--master", m.x] }), "x", null],
    ["--master to another context's master, without --context: no token", (m) => ({ args: ["--master", m.b] }), "b", null],
    ["--context b with --master a: neither token", (m) => ({ args: ["--context", "b", "--master", m.a] }), "a", null],
    ["--master elsewhere with --token: that token", (m) => ({ args: ["--master", m.x, "--token", "mva_flag"] }), "x", bearer("mva_flag")],
  ];
  test.each(rows)("%s", async (_what, given, asked, expected) => {
    const masters = { a: recorder(), b: recorder(), x: recorder() };
    const urls = { a: masters.a.url, b: masters.b.url, x: masters.x.url };
    const contexts = [
      { name: "a", master: urls.a, token: "mva_ctx_a" },
      { name: "b", master: urls.b, token: "mva_ctx_b" },
    ];
    const { args, env } = given(urls);
    const { code, err } = await run(args, contexts, "a", env);
    expect(code).toBe(1);
    for (const key of ["a", "b", "x"] as const) expect(masters[key].seen).toEqual(key === asked ? [expected] : []);
    expect(err).not.toContain("mva_ctx");
    if (expected === null) expect(err).toMatch(/\(context "[ab]" is for http:\/\/127\.0\.0\.1:\d+: its token goes only there\)$/m);
  });

  test("tokenFile and tokenCommand are read only when their context is used", async () => {
    const a = recorder();
    const x = recorder();
    dir = mkdtempSync(join(tmpdir(), "precedence-"));
    const marker = join(dir, "ran");
    writeFileSync(join(dir, "token"), "mva_from_file\n");
    await run([], [{ name: "a", master: a.url, tokenFile: join(dir, "token") }], "a");
    expect(a.seen).toEqual([bearer("mva_from_file")]);
    await run([], [{ name: "c", master: a.url, tokenCommand: ["sh", "-c", 'echo mva_from_command; : > "$0"', marker] }], "c");
    expect(a.seen).toEqual([bearer("mva_from_file"), bearer("mva_from_command")]);
    rmSync(marker, { force: true });
    await run(["--master", x.url], [{ name: "c", master: a.url, tokenCommand: ["sh", "-c", ': > "$0"; echo mva_no', marker] }], "c");
    expect(x.seen).toEqual([null]);
    expect(await Bun.file(marker).exists()).toBe(false);
  });

  test("an unknown --context is a usage error and asks no master", async () => {
    const a = recorder();
    const { code, err } = await run(["--context", "nope"], [{ name: "a", master: a.url, token: "mva_a" }], "a");
    expect(code).toBe(2);
    expect(err).toContain('No context "nope"');
    expect(err).toContain("(contexts: a)");
    expect(a.seen).toEqual([]);
  });
});

describe.skipIf(Bun.which("openssl") === null)("a pinned fingerprint", () => {
  test("the token goes to the certificate pinned, and not to another one", async () => {
    dir = mkdtempSync(join(tmpdir(), "precedence-"));
    const real = selfSignedCertFiles(dir, "real");
    const impostor = selfSignedCertFiles(dir, "impostor");
    const pem = (f: string) => Bun.file(f).text();
    const pin = new X509Certificate(await pem(real.cert)).fingerprint256;
    const good = recorder({ cert: await pem(real.cert), key: await pem(real.key) });
    await run([], [{ name: "a", master: good.url, token: "mva_a", ca: real.cert, fingerprint: pin }], "a");
    expect(good.seen).toEqual([bearer("mva_a")]);
    // The impostor's certificate is vouched for by the CA given, but is not the one pinned.
    const bad = recorder({ cert: await pem(impostor.cert), key: await pem(impostor.key) });
    const { code, err } = await run([], [{ name: "a", master: bad.url, token: "mva_a", ca: impostor.cert, fingerprint: pin }], "a");
    expect(code).toBe(1);
    expect(bad.seen).toEqual([]);
    expect(err).toContain("is not the one pinned by the context");
  });
});
