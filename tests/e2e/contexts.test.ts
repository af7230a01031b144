/**
 * Contexts end to end: `multiverse login` against a real master (plain, and
 * TLS with the certificate's fingerprint to accept), then commands that find
 * their master, token and trust in the context alone.
 */
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { selfSignedCertFiles } from "../support/certificate.ts";
import { readConfig } from "../../lib/client/config.ts";
import { removeTempDirs, runClient, startMaster, stopAll, tempDir } from "./harness.ts";

setDefaultTimeout(60_000);
afterEach(stopAll);
afterAll(removeTempDirs);

describe("login", () => {
  test("plain http: the token from stdin is checked, written (0600) and used by the next command", async () => {
    const master = await startMaster();
    const file = join(tempDir("config"), "multiverse", "config.yaml");
    const env = { MULTIVERSE_CONFIG: file };
    const refused = await runClient(["login", master.apiUrl, "--name", "lab"], { env, stdin: "mva_wrong\n" });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("refused");
    expect(existsSync(file)).toBe(false);

    const ok = await runClient(["login", master.apiUrl, "--name", "lab"], { env, stdin: `${master.apiToken}\n` });
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toBe(`Logged in to ${master.apiUrl} (0 nodes): context "lab" written to ${file} and made current.\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readConfig(file)).toEqual({ currentContext: "lab", contexts: [{ name: "lab", master: master.apiUrl, token: master.apiToken }] });

    const nodes = await runClient(["nodes", "--json"], { env });
    expect(nodes.stderr).toBe("");
    expect(nodes.stdout).toBe("[]\n");
    const view = await runClient(["config", "view"], { env });
    expect(view.stdout).toContain("token: REDACTED");
    expect(view.stdout).not.toContain(master.apiToken);
  });

  test.skipIf(Bun.which("openssl") === null)("TLS: the fingerprint is shown, refused without an answer, and pinned once accepted", async () => {
    const dir = tempDir("ctx-tls");
    const cert = selfSignedCertFiles(dir, "master");
    const fp = new X509Certificate(readFileSync(cert.cert, "utf8")).fingerprint256;
    const master = await startMaster({ extraArgs: ["--tls-cert", cert.cert, "--tls-key", cert.key] });
    const url = `https://127.0.0.1:${master.apiPort}`;
    const file = join(dir, "conf", "config.yaml");
    const env = { MULTIVERSE_CONFIG: file };
    const login = (extra: string[]) => runClient(["login", url, "--token-file", master.apiTokenFile, ...extra], { env });

    const unasked = await login([]);
    expect(unasked.code).toBe(2);
    expect(unasked.stderr).toContain(`SHA-256 ${fp}`);
    expect(unasked.stderr).toContain("run login again with --fingerprint");
    expect(existsSync(file)).toBe(false);

    const wrong = await login(["--fingerprint", "00".repeat(32)]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("is not the one --fingerprint names");
    expect(existsSync(file)).toBe(false);

    const ok = await login(["--fingerprint", fp.replace(/:/g, "").toLowerCase()]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`context "127.0.0.1" written to ${file} and made current`);
    const saved = readConfig(file).contexts[0];
    expect(saved).toEqual({ name: "127.0.0.1", master: url, tokenFile: master.apiTokenFile, fingerprint: fp, ca: join(dir, "conf", "127.0.0.1.crt") });
    expect(statSync(saved!.ca!).mode & 0o777).toBe(0o600);

    const nodes = await runClient(["nodes", "--json"], { env });
    expect(nodes.stderr).toBe("");
    expect(nodes.stdout).toBe("[]\n");
  });
});
