/**
 * Bun runtimes for cross-compiling: the npm packages `@oven/bun-<os>-<cpu>`
 * at exactly the project's bun version, fetched with `npm pack` (the npm
 * registry is the only place the build downloads from), checked against the
 * integrity package-lock.json records for them, and unpacked into a cache.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Target } from "./binary-header.ts";

/** The npm package that carries bun's runtime for each target. */
export const RUNTIME_PACKAGES: Record<Target, string> = {
  "linux-x64": "@oven/bun-linux-x64",
  "linux-arm64": "@oven/bun-linux-aarch64",
  "darwin-x64": "@oven/bun-darwin-x64",
  "darwin-arm64": "@oven/bun-darwin-aarch64",
  "windows-x64": "@oven/bun-windows-x64",
};

/** Where inside the package tarball the runtime is. */
export function runtimeFile(target: Target): string {
  return target.startsWith("windows") ? "package/bin/bun.exe" : "package/bin/bun";
}

/** The bun version this project builds with: package.json's pin, which the installed bun must match. */
export function pinnedBunVersion(root: string, running: string): string {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { devDependencies?: Record<string, string> };
  const pinned = pkg.devDependencies?.["bun"];
  if (pinned === undefined || !/^\d+\.\d+\.\d+$/.test(pinned)) throw new Error(`package.json must pin devDependencies.bun to an exact version, not ${JSON.stringify(pinned)}`);
  const installed = (JSON.parse(readFileSync(join(root, "node_modules/bun/package.json"), "utf8")) as { version: string }).version;
  if (installed !== pinned) throw new Error(`node_modules has bun ${installed} but package.json pins ${pinned}: run npm ci`);
  // Bytecode is only valid for the runtime version that compiled it.
  if (running !== pinned) throw new Error(`This is bun ${running}; build with the project's bun ${pinned}: npm run build`);
  return pinned;
}

/** The sha512 integrity package-lock.json records for `name`; the build refuses to use anything else. */
export function lockedIntegrity(root: string, name: string, version: string): string {
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
    packages?: Record<string, { version?: string; integrity?: string }>;
  };
  const entry = lock.packages?.[`node_modules/${name}`];
  if (entry?.version !== version || entry.integrity === undefined || !entry.integrity.startsWith("sha512-")) {
    throw new Error(`package-lock.json has no sha512 integrity for ${name}@${version} (found ${JSON.stringify(entry ?? null)})`);
  }
  return entry.integrity;
}

function sha512Integrity(path: string): string {
  return `sha512-${createHash("sha512").update(readFileSync(path)).digest("base64")}`;
}

function run(argv: string[], cwd: string): string {
  const result = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) {
    throw new Error(`${argv.join(" ")} exited with ${result.exitCode}: ${result.stderr.toString().trim().slice(-2000)}`);
  }
  return result.stdout.toString();
}

export interface RuntimeOptions {
  root: string;
  cacheDir: string;
  version: string;
  log: (line: string) => void;
}

/**
 * The path of bun's runtime for `target`, from the cache or fetched into it.
 * @throws Error when npm fails, the tarball differs from the lockfile, or the runtime is missing from it.
 */
export function runtimeFor(target: Target, options: RuntimeOptions): string {
  const name = RUNTIME_PACKAGES[target];
  const dir = join(options.cacheDir, `${name.replace("@oven/", "")}-${options.version}`);
  const binary = join(dir, runtimeFile(target));
  if (existsSync(binary)) return binary;

  const integrity = lockedIntegrity(options.root, name, options.version);
  const npm = Bun.which("npm");
  if (npm === null) throw new Error(`npm is needed to fetch ${name}@${options.version}`);
  mkdirSync(options.cacheDir, { recursive: true });
  const work = `${dir}.partial-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    options.log(`fetching ${name}@${options.version} with npm pack`);
    const packed = JSON.parse(run([npm, "pack", `${name}@${options.version}`, "--pack-destination", work, "--json", "--silent"], work)) as { filename: string }[];
    const tarball = join(work, packed[0]?.filename ?? "");
    const actual = sha512Integrity(tarball);
    if (actual !== integrity) throw new Error(`${name}@${options.version} from npm has integrity ${actual}, but package-lock.json records ${integrity}`);
    run(["tar", "-xzf", tarball, "-C", work], work);
    if (!existsSync(join(work, runtimeFile(target)))) throw new Error(`${name}@${options.version} has no ${runtimeFile(target)}`);
    rmSync(tarball);
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return binary;
}
