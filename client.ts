#!/usr/bin/env bun
/**
 * multiverse client: the command line users type. This entry hands the
 * process (its streams, terminal, environment and argv) to the command tree
 * and sets the exit status; everything else is in lib/client/.
 */
import { homedir } from "node:os";
import { runCli } from "./lib/cli/run.ts";
import { createClientCommand } from "./lib/client/commands.ts";
import { processTerminal } from "./lib/client/terminal-io.ts";
import { defaultConfigFile, defaultDataDir, selfCommand } from "./lib/core/paths.ts";
import { tokenPath } from "./lib/net/tokens.ts";

if (import.meta.main) {
  const stdout = (text: string) => void process.stdout.write(text);
  const stderr = (text: string) => void process.stderr.write(text);
  const command = createClientCommand({
    env: process.env,
    stdout,
    stderr,
    isTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    defaultTokenFile: tokenPath(defaultDataDir(process.platform, process.env, homedir()), "api"),
    terminal: processTerminal(process, process.env["TERM"]),
    self: selfCommand(process.execPath, import.meta.path),
    home: homedir(),
    configFile: defaultConfigFile(process.platform, process.env, homedir()),
  });
  process.exitCode = await runCli(command, process.argv.slice(2), { stdout, stderr, verbose: process.argv.includes("--verbose") });
}
