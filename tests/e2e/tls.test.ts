/**
 * TLS end to end: a master serving both listeners over TLS, a worker that
 * trusts it with --ca and serves its own agent over TLS (pinned by the
 * master), and the client with --ca — listings, a session and an exec.
 * Without TLS beyond loopback, the master warns that tokens travel in clear.
 */
import { selfSignedCertFiles } from "../support/certificate.ts";
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { parseJson } from "../../lib/core/parse.ts";
import {
  hostMultipass,
  removeTempDirs,
  roleCommand,
  runClient,
  simConfig,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
  workerMultipassArgs,
} from "./harness.ts";

setDefaultTimeout(60_000);
afterEach(stopAll);
afterAll(removeTempDirs);

const noOpenssl = Bun.which("openssl") === null;
if (noOpenssl) console.log("skipping the TLS tests: openssl is not installed");

describe.skipIf(noOpenssl)("TLS", () => {
  test("master, worker agent and client over TLS: listings, info, an exec, and refusals without the certificate", async () => {
    const dir = tempDir("tls");
    const masterCert = selfSignedCertFiles(dir, "master");
    const agentCert = selfSignedCertFiles(dir, "agent");
    const master = await startMaster({ extraArgs: ["--tls-cert", masterCert.cert, "--tls-key", masterCert.key] });
    expect(master.proc.output).toMatch(/api server on 127\.0\.0\.1:\d+ \(https\)/);
    await master.proc.waitForOutput(/TLS certificate fingerprint \(SHA-256\): ([0-9A-F]{2}:){31}[0-9A-F]{2}/);

    const sim = tempDir("sim-tls");
    simConfig(sim, { stepMs: 5 });
    await hostMultipass(sim, ["launch", "--name", "secure"]);
    const workerArgs = (ca: string[]) => [
      ...roleCommand("worker"),
      "--master",
      `https://127.0.0.1:${master.clusterPort}`,
      ...ca,
      "--token-file",
      master.joinTokenFile,
      "--name",
      "s1",
      ...workerMultipassArgs(sim),
      "--poll-interval",
      "250ms",
      "--tls-cert",
      agentCert.cert,
      "--tls-key",
      agentCert.key,
    ];
    // Without the master's certificate the worker cannot verify it and does not join.
    const untrusting = await startWorker(master, "s1", { simDir: sim, command: workerArgs([]), waitForJoin: false });
    await untrusting.proc.waitForOutput(/cannot join the master at https:\/\/127\.0\.0\.1:\d+: master unreachable \(.*(certificate|self.signed|verify)/i, 15_000);
    untrusting.proc.kill("SIGTERM");
    await untrusting.proc.exited;

    const worker = await startWorker(master, "s1", { simDir: sim, command: workerArgs(["--ca", masterCert.cert]) });
    expect(worker.proc.output).toContain("(TLS)");
    await waitFor("joined over TLS with a pinned agent", () => /node "s1" joined with id .* \(TLS, certificate [0-9A-F:]+…\)/.test(master.proc.output));

    const https = `https://127.0.0.1:${master.apiPort}`;
    const tlsClient = (args: string[], stdin?: string) => {
      const at = args.indexOf("--");
      const cut = at < 0 ? args.length : at;
      return runClient([...args.slice(0, cut), "--master", https, "--token", master.apiToken, "--ca", masterCert.cert, ...args.slice(cut)], stdin === undefined ? {} : { stdin });
    };
    const listed = await tlsClient(["instances", "--json"]);
    expect(listed.code).toBe(0);
    expect(parseJson(listed.stdout, "instances --json")).toEqual([expect.objectContaining({ node: "s1", name: "secure", state: "Running" })]);
    // Live info goes master → agent over TLS, pinned to the agent's certificate.
    const info = await tlsClient(["info", "secure", "--json"]);
    expect(info.code).toBe(0);
    expect(parseJson(info.stdout, "info --json")).toMatchObject({ instances: [{ node: "s1", name: "secure", state: "Running" }], errors: [] });
    // A session: client → master (wss) → agent (wss, pinned).
    const exec = await tlsClient(["exec", "secure", "--", "sh", "-c", "cat; exit 7"], "through TLS\n");
    expect(exec).toEqual({ code: 7, stdout: "through TLS\n", stderr: "" });

    const untrusted = await runClient(["nodes", "--master", https, "--token", master.apiToken]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/^error: Cannot reach the master at https:\/\/127\.0\.0\.1:\d+: .*(certificate|self.signed|verify)/i);
    const plain = await runClient(["nodes", "--master", `http://127.0.0.1:${master.apiPort}`, "--token", master.apiToken]);
    expect(plain.code).toBe(1);
  });

  test("a half-given TLS pair or a certificate that is not one is a usage error at start", async () => {
    const dir = tempDir("tls-bad");
    const { cert } = selfSignedCertFiles(dir, "m");
    for (const extra of [["--tls-cert", cert], ["--tls-cert", join(dir, "missing.pem"), "--tls-key", cert], ["--tls-cert", "/etc/hostname", "--tls-key", cert]]) {
      const proc = Bun.spawn([...roleCommand("master"), "--data-dir", tempDir("m"), "--cluster-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", ...extra], { stdout: "pipe", stderr: "pipe" });
      const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
      expect({ extra: extra[0], code }).toEqual({ extra: extra[0], code: 2 });
      expect(stderr).toMatch(/--tls-cert and --tls-key go together|Cannot read the TLS certificate|is not a PEM file/);
    }
  });
});

test("listening beyond loopback without TLS prints a warning that tokens travel in clear text", async () => {
  const master = await startMaster({ clusterHost: "0.0.0.0" });
  expect(master.proc.output).toContain("--cluster-addr 0.0.0.0:0 is not loopback and TLS is off: tokens travel in clear text");
  expect(master.proc.output).not.toContain("--api-addr 127.0.0.1");
  // The worker says the same of its agent server.
  const worker = await startWorker(master, "wide", { extraArgs: ["--agent-addr", "0.0.0.0:0", "--advertise-addr", "127.0.0.1:1"], waitForJoin: false });
  await worker.proc.waitForOutput(/the agent server listens on 0\.0\.0\.0:0 without TLS: the master's calls travel in clear text/);
  const quiet = await startWorker(master, "narrow", { waitForJoin: false });
  await quiet.proc.waitForOutput(/agent server on 127\.0\.0\.1:\d+/);
  expect(quiet.proc.output).not.toContain("clear text");
});
