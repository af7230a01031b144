/**
 * End-to-end SSH through the cluster with real OpenSSH (issue 14): an `sshd`
 * started inside a simulated instance (by the client's exec, as a user would
 * start a service) listens on the instance's own loopback address; `ssh-key
 * add` authorizes a throwaway key; `ssh -F` with the config `ssh-config`
 * prints runs a command through `ssh-proxy` and returns its status; `scp`
 * copies a file there and back byte-exact.
 *
 * The simulated instance runs its commands as the user running the tests, so
 * sshd does too: it can log in only that user (as root, sshd needs its
 * privilege separation directory, /run/sshd, which is made if missing), and
 * that is who ssh-config's --user names. The instance home's
 * ~/.ssh/authorized_keys (where ssh-key add writes) is sshd's
 * AuthorizedKeysFile. Skipped, saying why, only when OpenSSH is missing.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  apiInstances,
  client,
  envWithBun,
  hostMultipass,
  removeTempDirs,
  roleCommand,
  simConfig,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  TimedProcess,
  waitFor,
  type MasterHandle,
  type WorkerHandle,
} from "./harness.ts";

setDefaultTimeout(120_000);

const SSHD = "/usr/sbin/sshd";
const missing = [SSHD, "/usr/bin/ssh", "/usr/bin/scp", "/usr/bin/ssh-keygen"].filter((p) => !existsSync(p));
if (missing.length > 0) console.warn(`tests/e2e/ssh.test.ts skipped: OpenSSH is missing (${missing.join(", ")}); install openssh-client and openssh-server (.ci/run does when it runs as root)`);

let master: MasterHandle;
let n1: WorkerHandle;
let dir = "";
let config = "";
let sshdPort = 0;
// Not os.userInfo().username: Bun says "unknown" for root here.
const user = Bun.spawnSync(["id", "-un"]).stdout.toString().trim();

function run(argv: string[], env: Record<string, string> = envWithBun()): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(argv, { env, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** ssh or scp with the generated config and the test key, nothing of the user's own. */
function sshArgs(): string[] {
  return ["-F", config, "-i", join(dir, "id_ed25519"), "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${join(dir, "known_hosts")}`, "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes"];
}

function freePort(host: string): number {
  const l = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

beforeAll(async () => {
  if (missing.length > 0) return;
  master = await startMaster();
  const sim = tempDir("sim-ssh");
  simConfig(sim, { stepMs: 5 });
  expect((await hostMultipass(sim, ["launch", "--name", "web"])).code).toBe(0);
  n1 = await startWorker(master, "n1", { simDir: sim });
  const [web] = await waitFor("web's address", async () => (await apiInstances(master)).filter((i) => i.ipv4.length > 0));
  const address = web!.ipv4[0]!;
  const home = join(sim, "instances", "web", "home");
  mkdirSync(home, { recursive: true });

  dir = tempDir("ssh");
  expect(run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test-host", "-f", join(dir, "host_ed25519")]).code).toBe(0);
  expect(run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "you@laptop", "-f", join(dir, "id_ed25519")]).code).toBe(0);
  if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  sshdPort = freePort(address);
  const sshdConfig = join(dir, "sshd_config");
  writeFileSync(
    sshdConfig,
    [
      `ListenAddress ${address}:${sshdPort}`,
      `HostKey ${join(dir, "host_ed25519")}`,
      "PidFile none",
      "StrictModes no",
      "UsePAM no",
      `AuthorizedKeysFile ${join(home, ".ssh", "authorized_keys")}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "Subsystem sftp internal-sftp",
      "",
    ].join("\n"),
  );
  const sshd = new TimedProcess(
    [...roleCommand("client"), "exec", "web", "--master", master.apiUrl, "--token", master.apiToken, "--", SSHD, "-D", "-e", "-f", sshdConfig],
    envWithBun({ HOME: tempDir("home") }),
  );
  await waitFor(`sshd on ${address}:${sshdPort}`, async () => {
    const s = await Bun.connect({ hostname: address, port: sshdPort, socket: { data() {} } }).catch(() => null);
    s?.terminate();
    return s !== null;
  }, 20_000).catch((error: unknown) => {
    throw new Error(`${String(error)}; sshd said:\n${sshd.text("stderr")}`);
  });

  const generated = await client(master, ["ssh-config", "--user", user, "--token-file", master.apiTokenFile]);
  expect(generated.code).toBe(0);
  config = join(dir, "config");
  writeFileSync(config, generated.stdout);
});
afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

describe.skipIf(missing.length > 0)("SSH through the cluster", () => {
  test("ssh-config names the proxy and never a token", () => {
    const text = readFileSync(config, "utf8");
    expect(text).toContain("Host web.n1.multiverse\n");
    expect(text).toContain(`  User ${user}\n  Port 22\n  HostKeyAlias web.n1.multiverse\n`);
    expect(text).toMatch(/ProxyCommand .+ ssh-proxy web@n1 --master http:\/\/127\.0\.0\.1:\d+ --token-file \S+api-token --port %p\n/);
    expect(text).not.toContain(master.apiToken);
  });

  test("ssh-key add authorizes the key once; again, it is already present", async () => {
    const key = join(dir, "id_ed25519.pub");
    const first = await client(master, ["ssh-key", "add", "web", "--key", key]);
    expect(first).toMatchObject({ code: 0, stdout: `Added ${key} to web@n1\n` });
    const again = await client(master, ["ssh-key", "add", "web", "--key", key]);
    expect(again).toMatchObject({ code: 0, stdout: `Already present in web@n1: ${key}\n` });
    const authorized = readFileSync(join(n1.simDir, "instances", "web", "home", ".ssh", "authorized_keys"), "utf8");
    expect(authorized).toBe(readFileSync(key, "utf8"));
  });

  test("ssh -F runs a command through ssh-proxy and returns its exit status", () => {
    const ok = run(["ssh", ...sshArgs(), "-p", String(sshdPort), "web.n1.multiverse", "echo hello from $(hostname) && exit 7"]);
    expect({ out: ok.stdout, err: ok.stderr }).toMatchObject({ out: expect.stringContaining("hello from") });
    expect(ok.code).toBe(7);
  });

  test("scp copies a file there and back byte-exact", () => {
    const local = join(dir, "payload.bin");
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(local, bytes);
    const remote = join(dir, "remote.bin");
    const back = join(dir, "back.bin");
    const scp = (from: string, to: string) => run(["scp", ...sshArgs(), "-P", String(sshdPort), "-q", from, to]);
    expect(scp(local, `web.n1.multiverse:${remote}`)).toMatchObject({ code: 0 });
    expect(scp(`web.n1.multiverse:${remote}`, back)).toMatchObject({ code: 0 });
    const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
    expect(sha(back)).toBe(sha(local));
  });

  test("a port nothing listens on: ssh fails, and the proxy said why on stderr", () => {
    // The config's own Port is 22, where nothing listens in this instance.
    const r = run(["ssh", ...sshArgs(), "web.n1.multiverse", "true"]);
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('multiverse ssh-proxy: web@n1:22: Cannot connect to port 22 of "web": connection refused');
  });

  test("launch --ssh-key puts the key into the instance's cloud-init", async () => {
    const key = join(dir, "id_ed25519.pub");
    const r = await client(master, ["launch", "keyed", "--ssh-key", key, "--node", "n1"]);
    expect(r.code).toBe(0);
    const userData = readFileSync(join(n1.simDir, "instances", "keyed", "user-data"), "utf8");
    expect(Bun.YAML.parse(userData)).toEqual({ ssh_authorized_keys: [readFileSync(key, "utf8").trim()] });
  });
});
