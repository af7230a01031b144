#!/usr/bin/env bun
/**
 * multiverse client: the command line users type.
 */
import { homedir } from "node:os";
import { runCli } from "./lib/cli/run.ts";
import { createClientCommand } from "./lib/client/commands.ts";
import { defaultDataDir } from "./lib/core/paths.ts";
import { processTerminal } from "./lib/client/terminal-io.ts";
import { tokenPath } from "./lib/net/tokens.ts";

if (import.meta.main) {
  const command = createClientCommand({
    env: process.env,
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    isTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    defaultTokenFile: tokenPath(defaultDataDir(process.platform, process.env, homedir()), "api"),
    terminal: processTerminal(process),
  });
  process.exitCode = await runCli(command, process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    verbose: process.argv.includes("--verbose"),
  });
}
