/**
 * The linux-arm64 executables under qemu-user: each answers --version and
 * --help, and an arm64 master, an arm64 worker (playing its own multipass)
 * and the arm64 client make a cluster that this machine's client sees too. Needs MULTIVERSE_BIN_DIR (the compiled-executables
 * pass of bash .ci/run), `qemu-aarch64-static` (Debian: qemu-user-static)
 * and an aarch64 glibc (Debian: libc6-arm64-cross); skipped otherwise, with
 * the reason printed. Without linux-arm64 executables in MULTIVERSE_BIN_DIR
 * it builds them (npm pack of @oven/bun-linux-aarch64).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { binaryName } from "../../scripts/build.ts";
import { buildVersion } from "../../scripts/build-version.ts";
import { parseJson } from "../../lib/core/parse.ts";
import { simulatedMultipassCommand } from "../../lib/multipass/simulated.ts";
import { binDir, envWithBun, removeTempDirs, roleCommand, RoleProcess, ROOT, simConfig, stopAll, tempDir } from "./harness.ts";

setDefaultTimeout(180_000);

const QEMU = Bun.which("qemu-aarch64-static");
/** Where qemu finds the aarch64 dynamic loader and libc. */
const SYSROOT = [process.env["QEMU_LD_PREFIX"], "/usr/aarch64-linux-gnu", "/"].find(
  (dir) => dir !== undefined && dir !== "" && existsSync(join(dir, "lib/ld-linux-aarch64.so.1")),
);
/** What the executables print for --version: the build names the commit (scripts/build-version.ts). */
const VERSION = buildVersion(ROOT);

function skipReason(): string | null {
  if (process.platform !== "linux" || process.arch !== "x64") return `qemu-user runs arm64 executables on linux-x64 only, not ${process.platform}-${process.arch}`;
  if (binDir() === null) return "MULTIVERSE_BIN_DIR is not set (bash .ci/run sets it after npm run build)";
  if (QEMU === null) return "qemu-aarch64-static is not on PATH (Debian: apt-get install qemu-user-static)";
  if (SYSROOT === undefined) return "no aarch64 glibc for qemu (Debian: apt-get install libc6-arm64-cross, or set QEMU_LD_PREFIX)";
  return null;
}
const reason = skipReason();
if (reason !== null) console.log(`arm64.test: skipped: ${reason}`);

describe.skipIf(reason !== null)("linux-arm64 executables under qemu", () => {
  let armDir: string;
  let env: Record<string, string>;
  const arm = (role: "master" | "worker" | "client"): string[] => [QEMU!, join(armDir, binaryName(role, "linux-arm64"))];
  const run = (argv: string[]) => {
    const result = Bun.spawnSync(argv, { env, stdout: "pipe", stderr: "pipe" });
    return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
  };

  // Registered only when it runs: hooks of a skipped block are listed as unnamed skips.
  if (reason === null) {
    beforeAll(() => {
      env = envWithBun({ QEMU_LD_PREFIX: SYSROOT! });
      armDir = binDir()!;
      if (existsSync(join(armDir, binaryName("worker", "linux-arm64")))) return;
      armDir = tempDir("arm64-bin");
      const argv = [process.execPath, join(ROOT, "scripts/build.ts"), "--targets", "linux-arm64", "--out", armDir];
      const build = Bun.spawnSync(argv, { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
      if (build.exitCode !== 0) throw new Error(`building the linux-arm64 executables failed (exit ${build.exitCode})`);
    });
    afterAll(async () => {
      await stopAll();
      removeTempDirs();
    });
  }

  test.each(["master", "worker", "client"] as const)("the arm64 %s answers --version and --help", (role) => {
    expect(run([...arm(role), "--version"])).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
    const help = run([...arm(role), "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(`Usage: ${role === "client" ? "multiverse" : `multiverse-${role}`}`);
  });

  test("an arm64 master, worker and client make a cluster, and this machine's client sees it too", async () => {
    const dataDir = tempDir("arm64-master");
    const master = new RoleProcess(
      [...arm("master"), "--data-dir", dataDir, "--cluster-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--heartbeat-interval", "5s", "--node-timeout", "30s"],
      env,
    );
    const clusterPort = Number((await master.waitForOutput(/cluster server on 127\.0\.0\.1:(\d+)/, 60_000))[1]);
    const apiUrl = `http://127.0.0.1:${(await master.waitForOutput(/api server on 127\.0\.0\.1:(\d+)/, 60_000))[1]}`;

    const simDir = tempDir("sim-arm");
    simConfig(simDir, { stepMs: 5 });
    // qemu-user cannot exec an arm64 file by itself (no binfmt_misc here), so the worker's
    // multipass is a script that runs the arm64 worker, acting as multipass, under qemu.
    const multipass = join(tempDir("arm64-mp"), "multipass");
    const actAs = simulatedMultipassCommand(arm("worker"), simDir).map((word) => `'${word}'`).join(" ");
    writeFileSync(multipass, `#!/bin/sh\nexec ${actAs} "$@"\n`);
    chmodSync(multipass, 0o755);
    expect(run([multipass, "launch", "--name", "primary"]).code).toBe(0);

    const worker = new RoleProcess(
      [...arm("worker"), "--master", `127.0.0.1:${clusterPort}`, "--token-file", join(dataDir, "join-token"), "--name", "arm", "--multipass", multipass, "--poll-interval", "2s"],
      env,
    );
    await worker.waitForOutput(/joined with id/, 120_000);

    const access = ["--master", apiUrl, "--token-file", join(dataDir, "api-token")];
    const nodes = run([...arm("client"), "nodes", "--json", ...access]);
    expect(nodes.code).toBe(0);
    expect(parseJson(nodes.stdout, "nodes --json")).toMatchObject([{ name: "arm", state: "Ready" }]);
    expect(run([...arm("client"), "instances", ...access]).stdout).toMatch(/arm\s+primary\s+Running/);
    const exec = run([...arm("client"), "exec", "primary", ...access, "--", "sh", "-c", "echo hello from arm64; exit 7"]);
    expect({ code: exec.code, stdout: exec.stdout }).toEqual({ code: 7, stdout: "hello from arm64\n" });
    expect(run([...roleCommand("client"), "instances", ...access]).stdout).toMatch(/arm\s+primary\s+Running/);
  });
});
