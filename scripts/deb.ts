/**
 * The Debian packages of the build (scripts/build.ts): for linux-x64 (amd64)
 * and linux-arm64 (arm64), `multiverse` (the client), `multiverse-master` and
 * `multiverse-worker`, each with its executable in /usr/bin, its man page,
 * copyright and changelog; the master and the worker also with the systemd
 * unit, the defaults file (a conffile) and the maintainer scripts of
 * packaging/. Built offline with `dpkg-deb --root-owner-group --build`.
 */
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, relative, resolve } from "node:path";
import type { Target } from "./binary-header.ts";
import type { Role } from "./bundle-contents.ts";

const PACKAGING = resolve(import.meta.dir, "../packaging");
const MAINTAINER = "multiverse maintainers <maintainers@multiverse.invalid>";

/** The Debian architecture of each target that gets packages. */
export const DEB_ARCHES: Partial<Record<Target, string>> = { "linux-x64": "amd64", "linux-arm64": "arm64" };

/** The package (and program, and man page) name of a role. */
export function packageName(role: Role): string {
  return role === "client" ? "multiverse" : `multiverse-${role}`;
}

/** The file name dpkg-deb writes: NAME_VERSION_ARCH.deb. */
export function debFileName(role: Role, version: string, arch: string): string {
  return `${packageName(role)}_${version}_${arch}.deb`;
}

const SUMMARY: Record<Role, [string, string]> = {
  client: ["command line client of multiverse, a Multipass cluster manager", "See and drive the Multipass VMs of every host of a multiverse cluster\n from one place: nodes, instances, shells, execs, files, ports, snapshots."],
  master: ["multiverse master: cluster server and API for Multipass hosts", "The server that multiverse workers join and clients call. The package\n runs it as the systemd service multiverse-master, as the system user\n multiverse, with its data in /var/lib/multiverse."],
  worker: ["multiverse worker: joins a Multipass host to a multiverse master", "Runs next to Multipass and drives it for the master. The package\n installs the systemd service multiverse-worker, which starts once\n /etc/multiverse/join-token exists; its flags are in\n /etc/default/multiverse-worker."],
};

/** The DEBIAN/control file of a package. */
export function controlFile(role: Role, version: string, arch: string, installedKiB: number): string {
  const [short, long] = SUMMARY[role];
  const depends = role === "client" ? "libc6" : "libc6, adduser";
  return [
    `Package: ${packageName(role)}`,
    `Version: ${version}`,
    `Architecture: ${arch}`,
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${installedKiB}`,
    `Depends: ${depends}`,
    "Section: admin",
    "Priority: optional",
    `Description: ${short}`,
    ` ${long}`,
    "",
  ].join("\n");
}

/** A native package's changelog entry (Debian format) for `version`, dated `date`. */
export function changelogFile(role: Role, version: string, date: Date): string {
  const rfc2822 = date.toUTCString().replace("GMT", "+0000");
  return `${packageName(role)} (${version}) unstable; urgency=medium\n\n  * Built from multiverse ${version}.\n\n -- ${MAINTAINER}  ${rfc2822}\n`;
}

/** What a package is built from. */
export interface DebInput {
  role: Role;
  target: Target;
  version: string;
  /** The compiled executable of this role and target. */
  binary: string;
  /** The roff man page of this role (scripts/man.ts). */
  manPage: string;
  outDir: string;
  /** The changelog's date (SOURCE_DATE_EPOCH's, or now). */
  date: Date;
}

function put(root: string, path: string, content: string | Buffer | Uint8Array, mode: number): void {
  const full = join(root, path);
  mkdirSync(join(full, ".."), { recursive: true });
  writeFileSync(full, content);
  chmodSync(full, mode);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).map((p) => join(dir, p)).filter((p) => statSync(p).isFile());
}

/** Lays out the package tree of `input` under `root` (its DEBIAN/ included). */
export function stagePackage(input: DebInput, root: string): void {
  const { role, version } = input;
  const arch = DEB_ARCHES[input.target];
  if (arch === undefined) throw new Error(`No Debian packages for ${input.target}`);
  const name = packageName(role);
  const doc = `usr/share/doc/${name}`;
  put(root, `usr/bin/${name}`, readFileSync(input.binary), 0o755);
  put(root, `usr/share/man/man1/${name}.1.gz`, Bun.gzipSync(readFileSync(input.manPage), { level: 9 }), 0o644);
  put(root, `${doc}/copyright`, readFileSync(join(PACKAGING, "copyright")), 0o644);
  put(root, `${doc}/changelog.gz`, Bun.gzipSync(changelogFile(role, version, input.date), { level: 9 }), 0o644);
  const conffiles: string[] = [];
  if (role !== "client") {
    put(root, `lib/systemd/system/${name}.service`, readFileSync(join(PACKAGING, `${name}.service`)), 0o644);
    put(root, `etc/default/${name}`, readFileSync(join(PACKAGING, `${name}.default`)), 0o644);
    conffiles.push(`/etc/default/${name}`);
    const other = packageName(role === "master" ? "worker" : "master");
    for (const script of ["postinst", "prerm", "postrm"]) {
      const text = readFileSync(join(PACKAGING, script), "utf8").replaceAll("@PACKAGE@", name).replaceAll("@OTHER@", other);
      put(root, `DEBIAN/${script}`, text, 0o755);
    }
    put(root, "DEBIAN/conffiles", `${conffiles.join("\n")}\n`, 0o644);
  }
  put(root, `usr/share/lintian/overrides/${name}`, readFileSync(join(PACKAGING, "lintian-overrides"), "utf8").replaceAll("@PACKAGE@", name), 0o644);
  const payload = filesUnder(root).filter((p) => !relative(root, p).startsWith("DEBIAN"));
  const sums = payload.map((p) => `${createHash("md5").update(readFileSync(p)).digest("hex")}  ${relative(root, p)}`).sort();
  put(root, "DEBIAN/md5sums", `${sums.join("\n")}\n`, 0o644);
  const bytes = payload.reduce((sum, p) => sum + statSync(p).size, 0);
  put(root, "DEBIAN/control", controlFile(role, version, arch, Math.ceil(bytes / 1024)), 0o644);
  for (const dir of [root, ...readdirSync(root, { recursive: true, encoding: "utf8" }).map((p) => join(root, p))]) if (statSync(dir).isDirectory()) chmodSync(dir, 0o755);
}

/** Builds the package of `input` with dpkg-deb; returns its path. Throws with dpkg-deb's output when it fails. */
export function buildDeb(input: DebInput): string {
  const arch = DEB_ARCHES[input.target];
  if (arch === undefined) throw new Error(`No Debian packages for ${input.target}`);
  const stage = join(input.outDir, `.deb-${packageName(input.role)}-${arch}`);
  rmSync(stage, { recursive: true, force: true });
  try {
    stagePackage(input, stage);
    const out = join(input.outDir, debFileName(input.role, input.version, arch));
    // gzip: xz takes tens of seconds over a 100 MB executable, for a few MB saved.
    const r = Bun.spawnSync(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", stage, out], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`dpkg-deb --build of ${packageName(input.role)} (${arch}) exited with ${r.exitCode}:\n${r.stdout.toString()}${r.stderr.toString()}`);
    return out;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Whether dpkg-deb is on PATH (the build makes no packages without it, and says so). */
export function haveDpkgDeb(): boolean {
  return Bun.which("dpkg-deb") !== null;
}
