/**
 * What the client says when it is pointed at the wrong thing: a master's
 * cluster port or a worker's agent port, an https master whose certificate
 * it does not trust, an http port over https, and a token the master
 * refuses (said with where the token came from).
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../lib/cli/run.ts";
import { createClientCommand } from "../../lib/client/commands.ts";
import { fakeClient } from "../support/fake-client.ts";
import { selfSignedCertFiles } from "../support/certificate.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { API, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

let server: Server<undefined> | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await server?.stop(true);
  server = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  await runCleanups();
});

async function client(args: string[], env: Record<string, string> = {}) {
  const c = fakeClient();
  Object.assign(c.ctx.env, env);
  const code = await runCli(createClientCommand(c.ctx), args, { stdout: c.ctx.stdout, stderr: c.ctx.stderr, verbose: false });
  return { code, out: c.out.join(""), err: c.err.join("") };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "mv-messages-"));
  dirs.push(dir);
  return dir;
}

describe("the wrong port", () => {
  test("the master's cluster port is named as such, with where the API is", async () => {
    const m = startMaster();
    const url = `http://127.0.0.1:${m.cluster.port}`;
    expect(await client(["nodes", "--master", url, "--token", API])).toEqual({
      code: 1,
      out: "",
      err: `error: ${url} is the master's cluster port, where workers join; the client API is on the master's API port (its --api-addr, default 1338): point --master there\n`,
    });
  });

  test("a worker's agent port is not a master", async () => {
    const m = startMaster();
    const w = startWorker(m.cluster.port!, "n1", createFakeMultipass([]));
    const url = `http://127.0.0.1:${w.agent.port}`;
    const r = await client(["instances", "--master", url, "--token", API]);
    expect(r.err).toBe(`error: ${url} is a worker's agent port, not a master; point --master at the master's API port (its --api-addr, default 1338)\n`);
  });

  test("a server that is neither keeps the master's own words", async () => {
    server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Response.json({ error: { code: "E_NOT_FOUND", message: "No route GET /api/v1/nodes" } }, { status: 404 }) });
    expect((await client(["nodes", "--master", `http://127.0.0.1:${server.port}`, "--token", API])).err).toBe("error: No route GET /api/v1/nodes\n");
  });
});

describe("TLS", () => {
  function httpsMaster() {
    const dir = tempDir();
    const mine = selfSignedCertFiles(dir, "master");
    const other = selfSignedCertFiles(dir, "other");
    server = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert: Bun.file(mine.cert), key: Bun.file(mine.key) }, fetch: () => Response.json([]) });
    return { url: `https://127.0.0.1:${server.port}`, cert: mine.cert, otherCert: other.cert };
  }

  test("an untrusted certificate: said so, with the error's name and how to pass the CA", async () => {
    const { url, cert } = httpsMaster();
    expect(await client(["nodes", "--master", url, "--token", API])).toEqual({
      code: 1,
      out: "",
      err:
        `error: Cannot reach the master at ${url}: its TLS certificate is not trusted: self signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT); ` +
        "if you trust it, pass the master's certificate or its CA with --ca FILE (or set MULTIVERSE_CA)\n",
    });
    expect(await client(["nodes", "--master", url, "--token", API, "--ca", cert])).toEqual({ code: 0, out: "No nodes have joined yet.\n", err: "" });
  });

  test("a CA that does not vouch for the master's certificate", async () => {
    const { url, otherCert } = httpsMaster();
    const r = await client(["nodes", "--master", url, "--token", API, "--ca", otherCert]);
    expect(r.err).toBe(
      `error: Cannot reach the master at ${url}: its TLS certificate is not trusted: self signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT); ` +
        "the CA given (--ca or MULTIVERSE_CA) does not vouch for it: give the master's own certificate or the CA that signed it\n",
    );
  });

  test("https to a master without TLS", async () => {
    const m = startMaster();
    const url = `https://127.0.0.1:${m.api.port}`;
    expect((await client(["nodes", "--master", url, "--token", API])).err).toBe(
      `error: Cannot reach the master at ${url}: the TLS handshake failed; if the master does not use TLS, use an http:// URL\n`,
    );
  });
});

describe("a refused token says where it came from", () => {
  test.each([
    ["--token", (file: string) => ({ args: ["--token", "mva_wrong"], env: {}, from: "given with --token" }) ],
    ["--token-file", (file: string) => ({ args: ["--token-file", file], env: {}, from: `read from --token-file ${file}` })],
    ["MULTIVERSE_API_TOKEN", (_file: string) => ({ args: [], env: { MULTIVERSE_API_TOKEN: "mva_wrong" }, from: "from MULTIVERSE_API_TOKEN" })],
  ])("%s", async (_label, make) => {
    const m = startMaster();
    const file = join(tempDir(), "token");
    writeFileSync(file, "mva_wrong\n");
    const { args, env, from } = make(file);
    const url = `http://127.0.0.1:${m.api.port}`;
    const r = await client(["nodes", "--master", url, ...args], env);
    expect({ code: r.code, err: r.err }).toEqual({ code: 1, err: `error: The master at ${url} refused the token ${from}: The API token was refused\n` });
  });
});
