/**
 * The README shows each role's --help verbatim; this keeps it true. The help
 * is rendered from source with HOME=/home/you, as the README shows defaults
 * that depend on the home directory.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");

describe("README", () => {
  test.each(["master", "worker", "client"])("shows the --help of %s exactly as it prints", (role) => {
    const r = Bun.spawnSync([process.execPath, join(ROOT, `${role}.ts`), "--help"], {
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: "/home/you", NO_COLOR: "1" },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(r.exitCode).toBe(0);
    const help = r.stdout.toString();
    expect(help).toContain("Usage:");
    expect(README).toContain(help);
  });
});
