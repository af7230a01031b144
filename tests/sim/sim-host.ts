/**
 * A simulated Multipass host for the tests next to this file: its own
 * MULTIPASS_SIM_DIR, and the real lib/sim/multipass run with argv arrays.
 */

import { mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const STAND_IN = join(import.meta.dir, "..", "..", "lib", "sim", "multipass");
const BIN = join(import.meta.dir, "..", "..", "node_modules", ".bin");

/** What one run of the stand-in printed and how it exited. */
export interface SimResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** How to run the stand-in: stdin bytes (default: none) and extra environment. */
export interface SimRunOptions {
  stdin?: Uint8Array | string;
  env?: Record<string, string>;
  cwd?: string;
}

/** One simulated host. `remove()` deletes its directory. */
export interface SimHost {
  readonly dir: string;
  env(extra?: Record<string, string>): Record<string, string>;
  run(args: readonly string[], options?: SimRunOptions): Promise<SimResult>;
  seed(state: Record<string, unknown>): void;
  configure(config: Record<string, unknown>): void;
  remove(): void;
}

/** Makes a fresh sim directory under the system temp dir (stepMs 10). */
export function createSimHost(): SimHost {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "mv-sim-")));
  const env = (extra: Record<string, string> = {}): Record<string, string> => {
    const base: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined) base[key] = value;
    return { ...base, PATH: `${BIN}:${base.PATH ?? ""}`, MULTIPASS_SIM_DIR: dir, ...extra };
  };
  const configure = (config: Record<string, unknown>): void =>
    writeFileSync(join(dir, "config.json"), JSON.stringify({ stepMs: 10, ...config }));
  configure({});
  return {
    dir,
    env,
    configure,
    async run(args, options = {}) {
      const child = Bun.spawn([STAND_IN, ...args], {
        env: env(options.env),
        cwd: options.cwd ?? dir,
        stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, code] = await Promise.all([
        new Response(child.stdout).arrayBuffer(),
        new Response(child.stderr).text(),
        child.exited,
      ]);
      return { code, stdout: Buffer.from(stdout), stderr };
    },
    seed(state) {
      writeFileSync(join(dir, "state.json"), JSON.stringify(state));
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
