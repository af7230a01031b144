/**
 * `exec` and `shell`: "a real shell". The instance's home directory on the host
 * plays the guest's /home/ubuntu; commands run there for real through bash, with
 * the 1.16 quirks: exec's argv escaping, the doubled error without -d/-n, the
 * endless re-run when the command exits 4, and shell always exiting 0.
 */

import { existsSync } from "node:fs";
import type { QtParse } from "./args.ts";
import { EXIT, type SimContext } from "./context.ts";
import { ensureInstanceFiles, guestPathToHost, mappedWorkingDirectory, type InstanceFiles } from "./homes.ts";
import { launchInstance } from "./launch.ts";
import { timeoutOption } from "./launch-args.ts";
import { startInstances } from "./start.ts";
import { runChild } from "./process.ts";
import { findInstance, isRunning, PRIMARY, type SimInstance } from "./state.ts";
import { logCall, readState } from "./store.ts";

/** The exit status upstream uses as its internal "retry" marker (canonical/multipass#3771). */
const RETRY = 4;

/** mp::utils::escape_for_shell as of 1.16: backslash-escape each special character. */
export function escapeForShell(arg: string): string {
  if (arg === "") return "''";
  let out = "";
  for (const ch of arg) {
    if (ch === "\n") {
      out += '"\n"';
      continue;
    }
    const c = ch.codePointAt(0) ?? 0;
    const special =
      c < 0x25 || c > 0x7a || (c > 0x25 && c < 0x2b) || (c > 0x5a && c < 0x5f) || [0x2c, 0x3b, 0x3c, 0x3e, 0x3f, 0x60].includes(c);
    out += special ? `\\${ch}` : ch;
  }
  return out;
}

/** PATH of an SSH session on an Ubuntu guest (pam_env reads it from /etc/environment). */
export const GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games:/snap/bin";

/**
 * The environment of a command in the instance: what an SSH session of the
 * `ubuntu` user has, and nothing of the caller's, but `TERM` when the client
 * asks for a PTY (both stdin and stdout are terminals; `xterm` when unset).
 * MULTIPASS_SIM_DIR is the one addition a real guest lacks: it tags the
 * guest's processes with the simulated host they belong to (tests find
 * leftover session processes by it).
 */
function guestEnv(home: string, simDir: string, term: string | null): Record<string, string> {
  const env: Record<string, string> = {
    HOME: home,
    USER: "ubuntu",
    LOGNAME: "ubuntu",
    SHELL: "/bin/bash",
    PWD: home,
    PATH: GUEST_PATH,
    LANG: "C.UTF-8",
    MULTIPASS_SIM_DIR: simDir,
  };
  return term === null ? env : { ...env, TERM: term };
}

/** The guest environment for this call. */
function envFor(ctx: SimContext, files: InstanceFiles): Record<string, string> {
  return guestEnv(files.home, ctx.paths.dir, ctx.interactive ? (ctx.env.TERM ?? "xterm") : null);
}

/**
 * Checks an instance for exec/shell and starts it when needed. Returns the
 * instance, or the exit code after the error was printed.
 */
async function readyInstance(
  ctx: SimContext,
  command: string,
  name: string,
  repeatMissing: number,
  whenMissing?: () => Promise<number>,
  timeout?: number,
): Promise<SimInstance | number> {
  const unreachable = await ctx.reachDaemon(command);
  if (unreachable !== null) {
    for (let i = 1; i < repeatMissing; i++) ctx.failure(command, "cannot connect to the multipass socket");
    return unreachable;
  }
  let instance = findInstance(readState(ctx.paths), name);
  if (instance === undefined && whenMissing !== undefined) {
    const launched = await whenMissing();
    if (launched !== EXIT.ok) return launched;
    instance = findInstance(readState(ctx.paths), name);
  }
  const errors = (line: string): number => ctx.failure(command, "The following errors occurred:", line);
  if (instance === undefined) {
    for (let i = 1; i < repeatMissing; i++) errors(`instance "${name}" does not exist`);
    return errors(`instance "${name}" does not exist`);
  }
  if (instance.state === "Deleted") return errors(`instance "${name}" is deleted`);
  if (instance.state === "Unknown") return ctx.failure(command, "Cannot retrieve credentials in unknown state");
  if (instance.state === "Delayed Shutdown" && (instance.shutdownAt ?? 0) - Date.now() < 60_000) {
    return ctx.failure(
      command,
      `"${name}" is scheduled to shut down in less than a minute, use 'multipass stop --cancel ${name}' to cancel the shutdown.`,
    );
  }
  if (!isRunning(instance.state)) {
    const started = await startInstances(ctx, [name], timeout);
    if (started !== EXIT.ok) return started;
    instance = findInstance(readState(ctx.paths), name) ?? instance;
  }
  return instance;
}

/** `multipass exec [-d DIR | -n] NAME [--] CMD…`. */
export async function runExec(ctx: SimContext, args: QtParse): Promise<number> {
  const [name, ...command] = args.positionals;
  if (name === undefined || command.length === 0) {
    ctx.err("Wrong number of arguments\n");
    return EXIT.commandLine;
  }
  const workDir = args.value("working-directory");
  const noMap = args.isSet("no-map-working-directory");
  if (workDir !== undefined && noMap) {
    ctx.err("Options --working-directory and --no-map-working-directory clash\n");
    return EXIT.commandLine;
  }
  // Without -d/-n the client asks `info` first (to map the working directory), so errors show twice.
  const repeat = workDir === undefined && !noMap ? 2 : 1;
  for (;;) {
    const instance = await readyInstance(ctx, "exec", name, repeat);
    if (typeof instance === "number") return instance;
    const files = ensureInstanceFiles(ctx.paths, instance);
    let line = command.map(escapeForShell).join(" ");
    if (workDir !== undefined) {
      line = `cd ${escapeForShell(guestPathToHost(files, workDir))} && ${line}`;
    } else if (!noMap) {
      const mapped = mappedWorkingDirectory(instance, process.cwd());
      const host = mapped === null ? null : guestPathToHost(files, mapped);
      if (host !== null && existsSync(host)) line = `cd ${escapeForShell(host)} && ${line}`;
    }
    const status = await runChild({ argv: ["bash", "-c", line], cwd: files.home, env: envFor(ctx, files), hostPath: ctx.env.PATH });
    if (status !== RETRY) return status;
    logCall(ctx.paths, ctx.argv);
  }
}

/** `multipass shell [NAME] [--timeout S]` (aliases `sh`, `connect`). 1.16 exits 0 after any session. */
export async function runShell(ctx: SimContext, args: QtParse): Promise<number> {
  if (args.positionals.length > 1) {
    ctx.err("Too many arguments given\n");
    return EXIT.commandLine;
  }
  const timeout = timeoutOption(ctx, args);
  if (timeout === null) return EXIT.commandLine;
  const name = args.positionals[0] ?? PRIMARY;
  const launchPrimary = name === PRIMARY ? () => launchInstance(ctx, { name, timeout }) : undefined;
  const instance = await readyInstance(ctx, "shell", name, 1, launchPrimary, timeout);
  if (typeof instance === "number") return instance;
  const files = ensureInstanceFiles(ctx.paths, instance);
  const argv = ctx.interactive ? ["bash", "--noprofile", "--rcfile", files.bashrc, "-i"] : ["bash", "-s"];
  await runChild({ argv, cwd: files.home, env: envFor(ctx, files), hostPath: ctx.env.PATH });
  return EXIT.ok;
}
