/**
 * `npm start -- --help` and `npm run build -- --help` answer with their
 * options, and a wrong flag is a usage error with the help, never a stack
 * trace.
 */
import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");

function run(script: string, args: string[]) {
  const r = Bun.spawnSync([process.execPath, join(ROOT, "scripts", script), ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  return { exitCode: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("the scripts' own flags", () => {
  test.each([
    ["local-cluster.ts", "--api-addr HOST:PORT"],
    ["build.ts", "--targets LIST"],
  ])("%s --help lists its options and exits 0", (script, option) => {
    const r = run(script, ["--help"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(option);
    expect(r.stderr).not.toContain("    at ");
  });

  test.each([
    ["local-cluster.ts", 2],
    ["build.ts", 1],
  ])("%s with an unknown flag says so, shows the help and no stack", (script, exitCode) => {
    const r = run(script, ["--bogus"]);
    expect(r.exitCode).toBe(exitCode);
    expect(r.stderr).toContain("Unknown option '--bogus'");
    expect(r.stderr).toContain("Options:");
    expect(r.stderr).not.toContain("    at ");
  });
});
