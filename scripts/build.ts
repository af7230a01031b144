#!/usr/bin/env bun
/**
 * `npm run build`: standalone executables of every role for every target,
 * in dist/ as multiverse-<role>-<target>[.exe], the Debian packages of the
 * linux targets (scripts/deb.ts, with the man pages of scripts/man.ts) when
 * dpkg-deb is there, and dist/SHA256SUMS.
 *
 *   bun scripts/build.ts [--targets linux-x64,darwin-arm64|host] [--roles worker,client] [--out DIR]
 *
 * (`--targets host` is this machine's target.) The output directory holds one
 * build: earlier multiverse-*, multiverse_*.deb files and SHA256SUMS in it
 * are removed first.
 *
 * The runtime of this machine's target is the installed bun; the others are
 * the npm packages @oven/bun-<target> at the same version (scripts/runtimes.ts).
 * Each output's header must name its target's format and CPU, and the
 * executables this machine can run must answer --version and --help without
 * bun on PATH; anything else fails the build.
 */
import { createHash } from "node:crypto";
import { closeSync, createReadStream, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { HEADER_BYTES, headerMismatch, hostTarget, readBinaryHeader, TARGETS, type Target } from "./binary-header.ts";
import { buildVersion } from "./build-version.ts";
import { buildDeb, DEB_ARCHES, haveDpkgDeb } from "./deb.ts";
import { manPagesIn } from "./man.ts";
import { forbiddenIn, libFoldersOf, ROLES, type Role } from "./bundle-contents.ts";
import { pinnedBunVersion, runtimeFor } from "./runtimes.ts";

const ROOT = resolve(import.meta.dir, "..");

/** The executable's file name: multiverse-<role>-<target>, with .exe on Windows. */
export function binaryName(role: Role, target: Target): string {
  return `multiverse-${role}-${target}${target.startsWith("windows") ? ".exe" : ""}`;
}

function log(line: string): void {
  console.log(`build: ${line}`);
}

class BuildError extends Error {}

function listOf<T extends string>(value: string | undefined, all: readonly T[], what: string): T[] {
  if (value === undefined) return [...all];
  const picked = value.split(",").map((v) => v.trim()).filter((v) => v !== "");
  for (const v of picked) if (!(all as readonly string[]).includes(v)) throw new BuildError(`Unknown ${what} "${v}": expected ${all.join(", ")}`);
  return [...new Set(picked)] as T[];
}

/** The start of a file, enough for its header and load commands. */
export function firstBytes(path: string): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const buffer = new Uint8Array(HEADER_BYTES * 16);
    return buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0));
  } finally {
    closeSync(fd);
  }
}

/** PATH without any directory that holds a bun: proves the executables need none. */
export function pathWithoutBun(path: string): string {
  const hasBun = (dir: string) => ["bun", "bun.exe"].some((name) => {
    try {
      return statSync(join(dir, name)).isFile();
    } catch {
      return false;
    }
  });
  return path.split(delimiter).filter((dir) => dir !== "" && !hasBun(dir)).join(delimiter);
}

async function compile(role: Role, target: Target, runtime: string, out: string, version: string): Promise<void> {
  const argv = [
    process.execPath,
    "build",
    join(ROOT, `${role}.ts`),
    "--compile",
    "--minify",
    "--bytecode",
    // --bytecode alone means CommonJS, where consola's import.meta breaks at run time.
    "--format=esm",
    `--target=bun-${target}`,
    `--compile-executable-path=${runtime}`,
    "--define",
    `MULTIVERSE_VERSION=${JSON.stringify(version)}`,
    // A service must not change behaviour with the .env or bunfig.toml of its working directory.
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    `--outfile=${out}`,
  ];
  const proc = Bun.spawn(argv, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new BuildError(`bun build of ${role} for ${target} exited with ${code}:\n${stdout}${stderr}`);
}

/** Runs a freshly built executable without bun on PATH; returns its stdout. */
function runBuilt(path: string, args: string[], expectStatus = 0): string {
  const env = { PATH: pathWithoutBun(process.env["PATH"] ?? ""), HOME: tmpdir(), NO_COLOR: "1" };
  const result = Bun.spawnSync([path, ...args], { env, stdout: "pipe", stderr: "pipe" });
  const stdout = result.stdout.toString();
  if (result.exitCode !== expectStatus) {
    throw new BuildError(`${path} ${args.join(" ")} exited with ${result.exitCode}, not ${expectStatus}:\n${stdout}${result.stderr.toString()}`);
  }
  return stdout;
}

/** The checks of an executable this machine can run. */
function smokeTest(role: Role, path: string, version: string): void {
  const printed = runBuilt(path, ["--version"]).trim();
  if (printed !== version) throw new BuildError(`${path} --version printed ${JSON.stringify(printed)}, not ${JSON.stringify(version)}`);
  const help = runBuilt(path, ["--help"]);
  const name = role === "client" ? "multiverse" : `multiverse-${role}`;
  if (!help.includes(`Usage: ${name}`)) throw new BuildError(`${path} --help printed no "Usage: ${name}":\n${help}`);
  if (role === "worker") {
    const simDir = join(tmpdir(), `mv-build-sim-${process.pid}`);
    try {
      const answer = runBuilt(path, [`--act-as-multipass=${simDir}`, "version", "--format", "json"]);
      if (!answer.includes('"multipassd"')) throw new BuildError(`${path} acting as multipass printed no version:\n${answer}`);
    } finally {
      rmSync(simDir, { recursive: true, force: true });
    }
  }
}

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Runs `jobs` with at most `limit` at a time; the first failure wins. */
async function pool(jobs: (() => Promise<void>)[], limit: number): Promise<void> {
  const queue = [...jobs];
  const lane = async (): Promise<void> => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) await job();
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, lane));
}

/** The Debian packages of the linux outputs, with man pages generated now from the command definitions. */
function packages(outputs: { role: Role; target: Target; path: string }[], outDir: string, version: string): string[] {
  const linux = outputs.filter((o) => DEB_ARCHES[o.target] !== undefined);
  if (linux.length === 0) return [];
  if (!haveDpkgDeb()) {
    log("no dpkg-deb on PATH: no Debian packages");
    return [];
  }
  const manDir = join(outDir, ".man");
  rmSync(manDir, { recursive: true, force: true });
  try {
    manPagesIn(manDir, version);
    const epoch = Number(process.env["SOURCE_DATE_EPOCH"]);
    const date = Number.isFinite(epoch) && epoch > 0 ? new Date(epoch * 1000) : new Date();
    return linux.map(({ role, target, path }) => {
      const name = role === "client" ? "multiverse" : `multiverse-${role}`;
      const deb = buildDeb({ role, target, version, binary: path, manPage: join(manDir, `${name}.1`), outDir, date });
      log(`${deb.slice(outDir.length + 1)}: ${(statSync(deb).size / 1024 / 1024).toFixed(1)} MiB`);
      return deb;
    });
  } finally {
    rmSync(manDir, { recursive: true, force: true });
  }
}

const BUILD_HELP = `npm run build -- [options]: standalone executables of every role for every target, in dist/

Options:
  --targets LIST   Comma-separated targets (${TARGETS.join(", ")}), or "host" for this machine's (default: all)
  --roles LIST     Comma-separated roles (${ROLES.join(", ")}) (default: all)
  --out DIR        Output directory (default: dist/); earlier multiverse-* files and SHA256SUMS in it are removed
  --no-debs        No Debian packages (made for linux-x64 and linux-arm64 when dpkg-deb is installed)
  -h, --help       Show this help
`;

function buildFlags(): { targets?: string; roles?: string; out?: string; "no-debs": boolean; help: boolean } {
  try {
    const { values } = parseArgs({
      options: { targets: { type: "string" }, roles: { type: "string" }, out: { type: "string" }, "no-debs": { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false } },
    });
    return values;
  } catch (error) {
    throw new BuildError(`${error instanceof Error ? error.message : String(error)}\n\n${BUILD_HELP}`);
  }
}

async function main(): Promise<void> {
  const values = buildFlags();
  if (values.help) {
    console.log(BUILD_HELP);
    return;
  }
  const host = hostTarget(process.platform, process.arch);
  if (values.targets === "host" && host === null) throw new BuildError(`multiverse ships no executable for this machine (${process.platform}-${process.arch})`);
  const targets = listOf(values.targets === "host" ? (host ?? undefined) : values.targets, TARGETS, "target");
  const roles = listOf(values.roles, ROLES, "role");
  const outDir = resolve(values.out ?? join(ROOT, "dist"));
  const bunVersion = pinnedBunVersion(ROOT, Bun.version);
  const version = buildVersion(ROOT);
  const started = performance.now();
  log(`multiverse ${version} with bun ${bunVersion}: ${roles.join(", ")} for ${targets.join(", ")} into ${outDir}`);

  for (const role of roles) {
    const folders = await libFoldersOf(role);
    const forbidden = forbiddenIn(role, folders);
    if (forbidden.length > 0) throw new BuildError(`The ${role} would carry lib/${forbidden.join(", lib/")}, which it must not`);
    log(`${role} carries lib/{${folders.join(",")}}`);
  }

  // One build per directory: SHA256SUMS must list exactly what is there.
  mkdirSync(outDir, { recursive: true });
  for (const name of readdirSync(outDir)) if (name.startsWith("multiverse-") || (name.startsWith("multiverse_") && name.endsWith(".deb")) || name === "SHA256SUMS") rmSync(join(outDir, name), { force: true });

  const runtimes = new Map<Target, string>();
  for (const target of targets) {
    const runtime =
      target === host
        ? process.execPath
        : runtimeFor(target, { root: ROOT, cacheDir: join(ROOT, "node_modules/.cache/multiverse-runtimes"), version: bunVersion, log });
    const wrong = headerMismatch(firstBytes(runtime), target);
    if (wrong !== null) throw new BuildError(`The runtime for ${target} (${runtime}) is the wrong one: ${wrong}`);
    runtimes.set(target, runtime);
  }

  const outputs: { role: Role; target: Target; path: string }[] = [];
  for (const target of targets) for (const role of roles) outputs.push({ role, target, path: join(outDir, binaryName(role, target)) });
  await pool(
    outputs.map(({ role, target, path }) => async () => {
      await compile(role, target, runtimes.get(target)!, path, version);
      const bytes = firstBytes(path);
      const wrong = headerMismatch(bytes, target);
      if (wrong !== null) {
        rmSync(path, { force: true });
        throw new BuildError(`${binaryName(role, target)} is not a ${target} executable: ${wrong}`);
      }
      const header = readBinaryHeader(bytes);
      log(`${binaryName(role, target)}: ${(statSync(path).size / 1024 / 1024).toFixed(1)} MiB, ${header.format} ${header.arch}`);
    }),
    2,
  );

  for (const { role, target, path } of outputs) {
    if (target !== host) continue;
    smokeTest(role, path, version);
    log(`${binaryName(role, target)}: --version and --help answer without bun on PATH${role === "worker" ? "; it acts as multipass" : ""}`);
  }
  const notRun = targets.filter((t) => t !== host);
  if (notRun.length > 0) log(`not run here (other platforms; header checked only): ${notRun.join(", ")}`);

  const debs = values["no-debs"] ? [] : packages(outputs, outDir, version);
  const sums: string[] = [];
  for (const path of [...outputs.map((o) => o.path), ...debs].sort()) sums.push(`${await sha256(path)}  ${path.slice(outDir.length + 1)}`);
  writeFileSync(join(outDir, "SHA256SUMS"), `${sums.join("\n")}\n`);
  log(`${outputs.length} executables${debs.length > 0 ? `, ${debs.length} Debian packages` : ""} and SHA256SUMS in ${outDir} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`\nBUILD FAILED: ${error instanceof Error ? error.message : String(error)}`);
    if (!(error instanceof BuildError) && error instanceof Error && error.stack) console.error(error.stack);
    process.exitCode = 1;
  }
}
