/**
 * The Debian packages' layout (scripts/deb.ts) without dpkg: what each
 * package holds and with which modes, its control file, and the README's
 * systemd units being exactly the ones the packages install.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { changelogFile, controlFile, debFileName, packageName, stagePackage } from "../../scripts/deb.ts";

const ROOT = resolve(import.meta.dir, "../..");
const work = mkdtempSync(join(tmpdir(), "mv-deb-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function staged(role: "client" | "master" | "worker"): string {
  const binary = join(work, "binary");
  const manPage = join(work, "page.1");
  writeFileSync(binary, "#!/bin/sh\n");
  writeFileSync(manPage, ".TH X 1\n");
  const root = join(work, role);
  stagePackage({ role, target: "linux-arm64", version: "1.2.3+abc", binary, manPage, outDir: work, date: new Date(0) }, root);
  return root;
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe("scripts/deb.ts", () => {
  test("names: package, file", () => {
    expect(packageName("client")).toBe("multiverse");
    expect(debFileName("worker", "1.2.3", "arm64")).toBe("multiverse-worker_1.2.3_arm64.deb");
  });

  test("the control file names the package, version, arch, size and dependencies", () => {
    const control = controlFile("master", "1.2.3", "amd64", 42);
    expect(control).toContain("Package: multiverse-master\nVersion: 1.2.3\nArchitecture: amd64\n");
    expect(control).toContain("Installed-Size: 42\nDepends: libc6, adduser\n");
    expect(controlFile("client", "1", "arm64", 1)).toContain("Depends: libc6\n");
  });

  test("the changelog is a Debian changelog entry", () => {
    expect(changelogFile("client", "1.2.3", new Date(0))).toBe(
      "multiverse (1.2.3) unstable; urgency=medium\n\n  * Built from multiverse 1.2.3.\n\n -- multiverse maintainers <maintainers@multiverse.invalid>  Thu, 01 Jan 1970 00:00:00 +0000\n",
    );
  });

  test("the master's package: executable 0755, man page, unit, conffile, maintainer scripts, md5sums", () => {
    const root = staged("master");
    expect(mode(join(root, "usr/bin/multiverse-master"))).toBe(0o755);
    expect(Buffer.from(Bun.gunzipSync(readFileSync(join(root, "usr/share/man/man1/multiverse-master.1.gz")))).toString()).toBe(".TH X 1\n");
    expect(mode(join(root, "lib/systemd/system/multiverse-master.service"))).toBe(0o644);
    expect(readFileSync(join(root, "DEBIAN/conffiles"), "utf8")).toBe("/etc/default/multiverse-master\n");
    for (const script of ["postinst", "prerm", "postrm"]) {
      const text = readFileSync(join(root, "DEBIAN", script), "utf8");
      expect(mode(join(root, "DEBIAN", script))).toBe(0o755);
      expect(text).toStartWith("#!/bin/sh\n");
      expect(text).toContain("set -e\n");
      expect(text).not.toContain("@");
    }
    expect(readFileSync(join(root, "DEBIAN/postrm"), "utf8")).toContain("other=multiverse-worker\n");
    const sums = readFileSync(join(root, "DEBIAN/md5sums"), "utf8");
    expect(sums).toContain("  usr/bin/multiverse-master\n");
    expect(sums).not.toContain("DEBIAN");
    expect(readFileSync(join(root, "DEBIAN/control"), "utf8")).toContain("Architecture: arm64\n");
  });

  test("the client's package has no service, user or maintainer scripts", () => {
    const root = staged("client");
    expect(mode(join(root, "usr/bin/multiverse"))).toBe(0o755);
    for (const absent of ["DEBIAN/postinst", "DEBIAN/conffiles", "lib/systemd"]) expect(() => statSync(join(root, absent))).toThrow();
  });

  test.each(["master", "worker"])("README's %s unit is the one the package installs", (role) => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const at = readme.indexOf(`**systemd, ${role === "master" ? "the master" : "a worker"}**`);
    expect(at).toBeGreaterThan(0);
    const block = /```ini\n([\s\S]*?)```/.exec(readme.slice(at))?.[1];
    expect(block).toBe(readFileSync(join(ROOT, `packaging/multiverse-${role}.service`), "utf8"));
  });
});
