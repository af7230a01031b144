/**
 * The version a build injects with `--define MULTIVERSE_VERSION=…`:
 * package.json's, plus the commit it was built from when the tree is a git
 * checkout (`0.1.0+1fefd03`, `.dirty` with uncommitted changes), so a bug
 * report names the exact code. Running from source prints package.json's alone.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

function git(root: string, args: string[]): string | null {
  try {
    const r = Bun.spawnSync(["git", "-C", root, ...args], { stdout: "pipe", stderr: "ignore" });
    return r.exitCode === 0 ? r.stdout.toString().trim() : null;
  } catch {
    return null;
  }
}

export function buildVersion(root: string): string {
  const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
  const commit = git(root, ["rev-parse", "--short=7", "HEAD"]);
  if (commit === null) return version;
  const dirty = (git(root, ["status", "--porcelain", "--untracked-files=no"]) ?? "") !== "";
  return `${version}+${commit}${dirty ? ".dirty" : ""}`;
}
