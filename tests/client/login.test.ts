/**
 * `multiverse login` in this process, against a fake TLS master that checks
 * the token: the certificate's fingerprint is shown and asked about on a
 * terminal, nothing is sent to the master nor written before it is accepted,
 * and a refused token writes nothing.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { runCli } from "../../lib/cli/run.ts";
import { createClientCommand } from "../../lib/client/commands.ts";
import { readConfig } from "../../lib/client/config.ts";
import { fakeClient } from "../support/fake-client.ts";
import { selfSignedCertFiles } from "../support/certificate.ts";

const TOKEN = "mva_login-test-token";
let server: Server<undefined> | undefined;
let dir: string | undefined;
afterEach(() => {
  server?.stop(true);
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A TLS master that answers GET /api/v1/nodes to TOKEN alone, recording what it is sent. */
function tlsMaster(): { url: string; fingerprint: string; seen: (string | null)[] } {
  dir = mkdtempSync(join(tmpdir(), "login-"));
  const files = selfSignedCertFiles(dir, "master");
  const cert = readFileSync(files.cert, "utf8");
  const seen: (string | null)[] = [];
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert, key: readFileSync(files.key, "utf8") },
    fetch(req) {
      seen.push(req.headers.get("authorization"));
      if (req.headers.get("authorization") !== `Bearer ${TOKEN}`) return Response.json({ error: { code: "E_UNAUTHORIZED", message: "wrong token" } }, { status: 401 });
      return Response.json([]);
    },
  });
  return { url: `https://127.0.0.1:${server.port}`, fingerprint: new X509Certificate(cert).fingerprint256, seen };
}

async function login(args: string[], options: { answers?: string[] }) {
  const client = fakeClient({ stdinIsTTY: true, ...options });
  const file = join(dir!, "cfg", "config.yaml");
  client.ctx.configFile = file;
  const code = await runCli(createClientCommand(client.ctx), ["login", ...args], { stdout: client.ctx.stdout, stderr: client.ctx.stderr, verbose: false });
  return { code, file, out: client.out.join(""), err: client.err.join(""), asked: client.asked };
}

describe.skipIf(Bun.which("openssl") === null)("login on a terminal", () => {
  test("declining the certificate sends nothing and writes nothing", async () => {
    const master = tlsMaster();
    const tokenFile = join(dir!, "token");
    writeFileSync(tokenFile, TOKEN);
    const r = await login([master.url, "--token-file", tokenFile], { answers: ["n"] });
    expect(r.code).toBe(2);
    expect(r.err).toContain(`SHA-256 ${master.fingerprint}`);
    expect(r.err).toContain("that no system CA vouches for");
    expect(r.asked).toEqual(["Is this the master's certificate? Pin it and log in? [y/N] "]);
    expect(r.err).toContain("Certificate not accepted: nothing was written");
    expect(master.seen).toEqual([]);
    expect(existsSync(r.file)).toBe(false);
  });

  test("accepting it pins it; the token is checked, then the context written and made current", async () => {
    const master = tlsMaster();
    const tokenFile = join(dir!, "token");
    writeFileSync(tokenFile, TOKEN);
    const r = await login([master.url, "--name", "prod", "--token-file", tokenFile], { answers: ["yes"] });
    expect(r.err).toContain(`SHA-256 ${master.fingerprint}`);
    expect(r.code).toBe(0);
    expect(master.seen).toEqual([`Bearer ${TOKEN}`]);
    const config = readConfig(r.file);
    expect(config.currentContext).toBe("prod");
    expect(config.contexts).toEqual([{ name: "prod", master: master.url, tokenFile, fingerprint: master.fingerprint, ca: join(dir!, "cfg", "prod.crt") }]);
  });

  test("a refused token writes nothing", async () => {
    const master = tlsMaster();
    const tokenFile = join(dir!, "token");
    writeFileSync(tokenFile, "mva_wrong");
    const r = await login([master.url, "--token-file", tokenFile, "--fingerprint", master.fingerprint], {});
    expect(r.code).toBe(1);
    expect(r.err).toContain("refused");
    expect(master.seen).toEqual(["Bearer mva_wrong"]);
    expect(existsSync(r.file)).toBe(false);
  });

  test("a plain http master beyond loopback is warned about", async () => {
    dir = mkdtempSync(join(tmpdir(), "login-"));
    const r = await login(["http://192.0.2.1:1338", "--token-file", "/nonexistent/token"], {});
    expect(r.err).toContain("warning: http://192.0.2.1:1338 is plain http: the token travels in clear");
    expect(r.code).toBe(2);
    expect(existsSync(r.file)).toBe(false);
  });

  test("a token is not read from a terminal, where it would show", async () => {
    const master = tlsMaster();
    const r = await login([master.url, "--fingerprint", master.fingerprint], {});
    expect(r.code).toBe(2);
    expect(r.err).toContain("Give the token with --token-file FILE or --token-command COMMAND, or pipe it on stdin");
    expect(master.seen).toEqual([]);
  });
});
