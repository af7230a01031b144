#!/usr/bin/env bun
/**
 * The man pages of the three roles, multiverse(1), multiverse-master(1) and
 * multiverse-worker(1), rendered (lib/cli/man.ts) from the same command
 * definitions as their --help: the build writes them fresh every time, so
 * they cannot fall out of date.
 *
 *   bun scripts/man.ts --out DIR [--version V]
 *
 * Defaults that depend on the user (the data directory under $HOME) are
 * rendered as ~/…: the build runs this script in a child process with a
 * fresh HOME and no XDG variables (manPagesIn), which the pages name "~".
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { CommandDef } from "citty";
import { renderMan, roffEscape } from "../lib/cli/man.ts";
import { createClientCommand } from "../lib/client/commands.ts";
import type { TerminalIo } from "../lib/client/terminal-io.ts";
import { VERSION } from "../lib/core/version.ts";
import { main as masterCommand } from "../master.ts";
import { main as workerCommand } from "../worker.ts";

/** The program (and man page) name of each role. */
export const MAN_PAGES = { client: "multiverse", master: "multiverse-master", worker: "multiverse-worker" } as const;

const SEE_ALSO: [string, string[]] = ["See also", ["multiverse(1), multiverse\u2011master(1), multiverse\u2011worker(1)"]];

const FILES: Record<keyof typeof MAN_PAGES, [string, string[]][]> = {
  client: [SEE_ALSO],
  master: [
    ["Files", ["/etc/default/multiverse\u2011master: the flags of the packaged service (MASTER_OPTS).", "/var/lib/multiverse: the packaged service's data directory (tokens, state)."]],
    SEE_ALSO,
  ],
  worker: [
    ["Files", ["/etc/default/multiverse\u2011worker: the flags of the packaged service (WORKER_OPTS).", "/var/lib/multiverse: the packaged service's node key."]],
    SEE_ALSO,
  ],
};

function clientCommand() {
  const ignore = () => {};
  // The definitions only: nothing runs, so no terminal is ever used.
  return createClientCommand({ env: {}, stdout: ignore, stderr: ignore, isTTY: false, stderrIsTTY: false, defaultTokenFile: "", terminal: {} as TerminalIo, home: "~" });
}

/** Each role's man page (roff), keyed by page name (`multiverse-master.1`). */
export async function renderManPages(version: string = VERSION): Promise<Map<string, string>> {
  const source = `multiverse ${version}`;
  const pages = new Map<string, string>();
  const commands: [keyof typeof MAN_PAGES, CommandDef][] = [
    ["client", clientCommand() as unknown as CommandDef],
    ["master", masterCommand as unknown as CommandDef],
    ["worker", workerCommand as unknown as CommandDef],
  ];
  for (const [role, cmd] of commands) pages.set(`${MAN_PAGES[role]}.1`, await renderMan(cmd, { source, sections: FILES[role] }));
  return pages;
}

/** Runs this script in a child bun with a neutral HOME, writing the pages into `outDir`; throws with its output when it fails. */
export function manPagesIn(outDir: string, version: string): void {
  const home = mkdtempSync(join(tmpdir(), "mv-man-home-"));
  try {
    const env: Record<string, string> = { PATH: process.env["PATH"] ?? "", HOME: home, NO_COLOR: "1" };
    const r = Bun.spawnSync([process.execPath, join(import.meta.dir, "man.ts"), "--out", outDir, "--version", version], { env, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`scripts/man.ts exited with ${r.exitCode}:\n${r.stdout.toString()}${r.stderr.toString()}`);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: "string" }, version: { type: "string" } } });
  if (values.out === undefined) {
    console.error("usage: bun scripts/man.ts --out DIR [--version V]");
    process.exitCode = 2;
  } else {
    const out = resolve(values.out);
    mkdirSync(out, { recursive: true });
    for (const [name, text] of await renderManPages(values.version)) writeFileSync(join(out, name), text.replaceAll(roffEscape(homedir()), "~"));
  }
}
