/**
 * The Debian packages of the build (scripts/deb.ts): lintian finds no
 * errors, `systemd-analyze verify` accepts the units, and a dpkg install,
 * remove, reinstall and purge on this machine does what the README says.
 * Needs MULTIVERSE_BIN_DIR with this machine's packages (bash .ci/run builds
 * them), root, and dpkg; skips, saying why, without them. Everything it
 * installed is purged at the end, and it refuses to run where a multiverse
 * package or user is already there.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { binDir, ROOT } from "./harness.ts";
import { buildVersion } from "../../scripts/build-version.ts";
import { hostTarget } from "../../scripts/binary-header.ts";
import { DEB_ARCHES } from "../../scripts/deb.ts";

setDefaultTimeout(120_000);

const PACKAGES = ["multiverse", "multiverse-master", "multiverse-worker"];

function sh(argv: string[]): { code: number; out: string } {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

function installed(pkg: string): boolean {
  return sh(["dpkg-query", "-W", "-f", "${Status}", pkg]).out.endsWith(" installed");
}

const host = hostTarget(process.platform, process.arch);
const arch = host === null ? undefined : DEB_ARCHES[host];
const dir = binDir();
const debs = dir === null || arch === undefined ? [] : readdirSync(dir).filter((n) => n.endsWith(`_${arch}.deb`)).map((n) => join(dir, n));

function skipReason(): string | null {
  if (dir === null) return "MULTIVERSE_BIN_DIR is not set (bash .ci/run sets it after npm run build)";
  if (arch === undefined) return `no Debian packages for this machine (${process.platform}-${process.arch})`;
  if (debs.length !== 3) return `MULTIVERSE_BIN_DIR holds ${debs.length} ${arch} packages, not 3 (was dpkg-deb missing at build time?)`;
  if (Bun.which("dpkg") === null) return "no dpkg";
  if (process.getuid?.() !== 0) return "not root: dpkg -i needs it";
  if (PACKAGES.some(installed) || sh(["getent", "passwd", "multiverse"]).code === 0 || existsSync("/var/lib/multiverse")) {
    return "a multiverse package, user or /var/lib/multiverse is already on this machine: the test would change it";
  }
  return null;
}
const skip = skipReason();
if (skip !== null) console.log(`packages.test: skipped: ${skip}`);

afterAll(() => {
  if (skip !== null) return;
  sh(["dpkg", "--purge", ...PACKAGES]);
  // The test made the user: the packages keep it on purge, as Debian advises.
  if (sh(["getent", "passwd", "multiverse"]).code === 0) sh(["deluser", "--system", "multiverse"]);
  sh(["rm", "-f", "/etc/multiverse/join-token"]);
});

describe.skipIf(skip !== null)("the Debian packages", () => {
  test("lintian reports no errors (warnings listed)", () => {
    if (Bun.which("lintian") === null) {
      console.log("packages.test: lintian is not installed: its check is skipped");
      return;
    }
    const r = sh(["lintian", "--tag-display-limit", "0", ...debs]);
    const lines = r.out.split("\n").filter((l) => /^[EWI]: /.test(l));
    console.log(`lintian:\n${lines.join("\n")}`);
    expect(lines.filter((l) => l.startsWith("E: "))).toEqual([]);
    expect(r.code).toBe(0);
  });

  test("install, remove (data kept), reinstall, purge (data gone)", () => {
    // The build's version, as in the packages' names (the tree may have moved on since the build).
    const version = debs.map((d) => /multiverse_([^_]+)_/.exec(d)?.[1]).find((v) => v !== undefined) ?? "";
    expect(version).toStartWith(buildVersion(ROOT).split("+")[0]!);
    const i = sh(["dpkg", "-i", ...debs]);
    expect(i.out).not.toContain("rror");
    expect(i.code).toBe(0);
    for (const pkg of PACKAGES) {
      expect(installed(pkg)).toBe(true);
      expect(statSync(`/usr/bin/${pkg}`).mode & 0o777).toBe(0o755);
      expect(existsSync(`/usr/share/man/man1/${pkg}.1.gz`)).toBe(true);
      expect(existsSync(`/usr/share/doc/${pkg}/copyright`)).toBe(true);
      expect(sh([`/usr/bin/${pkg}`, "--version"]).out.trim()).toBe(version);
    }
    if (Bun.which("man") !== null) expect(sh(["man", "-P", "cat", "multiverse-master"]).out).toContain("--cluster-addr");
    const user = sh(["getent", "passwd", "multiverse"]).out.split(":");
    expect(user[6]?.trim()).toBe("/usr/sbin/nologin");
    const data = statSync("/var/lib/multiverse");
    expect(data.mode & 0o777).toBe(0o700);
    expect(data.uid).toBe(Number(user[2]));
    for (const role of ["master", "worker"]) {
      expect(existsSync(`/lib/systemd/system/multiverse-${role}.service`)).toBe(true);
      expect(sh(["dpkg-query", "-W", "-f", "${Conffiles}", `multiverse-${role}`]).out).toContain(`/etc/default/multiverse-${role}`);
    }

    const r = sh(["dpkg", "-r", ...PACKAGES]);
    expect(r.code).toBe(0);
    for (const pkg of PACKAGES) expect(existsSync(`/usr/bin/${pkg}`)).toBe(false);
    expect(existsSync("/lib/systemd/system/multiverse-master.service")).toBe(false);
    expect(existsSync("/var/lib/multiverse")).toBe(true);
    expect(existsSync("/etc/default/multiverse-master")).toBe(true);
    expect(sh(["getent", "passwd", "multiverse"]).code).toBe(0);

    expect(sh(["dpkg", "-i", ...debs]).code).toBe(0);
    expect(statSync("/var/lib/multiverse").mode & 0o777).toBe(0o700);
    // Purging the master alone keeps the directory the worker shares.
    expect(sh(["dpkg", "-P", "multiverse-master"]).code).toBe(0);
    expect(existsSync("/var/lib/multiverse")).toBe(true);
    expect(existsSync("/etc/default/multiverse-master")).toBe(false);
    expect(sh(["dpkg", "-P", "multiverse-worker", "multiverse"]).code).toBe(0);
    expect(existsSync("/var/lib/multiverse")).toBe(false);
    expect(existsSync("/etc/default/multiverse-worker")).toBe(false);
    for (const pkg of PACKAGES) expect(installed(pkg)).toBe(false);
  });

  test("systemd-analyze verify accepts the units, with the binaries at their paths", () => {
    if (Bun.which("systemd-analyze") === null) {
      console.log("packages.test: no systemd-analyze: the units are not verified");
      return;
    }
    expect(sh(["dpkg", "-i", ...debs]).code).toBe(0);
    for (const role of ["master", "worker"]) {
      const r = sh(["systemd-analyze", "verify", `/lib/systemd/system/multiverse-${role}.service`]);
      expect({ role, out: r.out.split("\n").filter((l) => l.includes(`multiverse-${role}`)) }).toEqual({ role, out: [] });
      expect(r.code).toBe(0);
    }
  });
});
