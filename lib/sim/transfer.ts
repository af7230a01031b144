/**
 * `multipass transfer` (alias `copy-files`), CONTRACT §4.15: the client's
 * argument checks (exit 1), the daemon's SSH-info request (missing, deleted,
 * not running, unknown state: `transfer failed: …`, exit 2; never starts an
 * instance), then one SFTP session per instance. A failed copy step prints its
 * error (an `[error] [sftp]` log line from push and pull, the bare message
 * from the target checks and the `-` streams) and makes the exit code 2.
 */

import type { QtParse } from "./args.ts";
import { EXIT, type SimContext } from "./context.ts";
import { localIsDirectory, quotePath } from "./fspath.ts";
import { ensureInstanceFiles, guestPathToHost } from "./homes.ts";
import { SftpSession } from "./sftp.ts";
import { SftpClient } from "./sftp-client.ts";
import { fdReader, fdWriter, fromStdin, OutputClosed, toStdout } from "./sftp-files.ts";
import { findInstance, isRunning, type SimState } from "./state.ts";
import { readState } from "./store.ts";
import { parseTransferArgs, type TransferFlags, type TransferPlan } from "./transfer-args.ts";
import { logTimestamp } from "./values.ts";

/** The daemon's ssh_info: the error message, or null when every named instance can be reached. */
export function sshInfoError(state: SimState, names: readonly string[], now: number): string | null {
  const unique = [...new Set(names)];
  const deleted = unique.filter((name) => findInstance(state, name)?.state === "Deleted");
  const missing = unique.filter((name) => findInstance(state, name) === undefined);
  if (deleted.length > 0 || missing.length > 0) {
    const lines = [...deleted.map((name) => `instance "${name}" is deleted`), ...missing.map((name) => `instance "${name}" does not exist`)];
    return `The following errors occurred:\n${lines.join("\n")}`;
  }
  for (const name of unique) {
    const instance = findInstance(state, name);
    if (instance === undefined) continue;
    if (instance.state === "Unknown") return "Cannot retrieve credentials in unknown state";
    if (!isRunning(instance.state)) return `instance "${name}" is not running`;
    if (instance.state === "Delayed Shutdown" && (instance.shutdownAt ?? 0) - now < 60_000) {
      return `"${name}" is scheduled to shut down in less than a minute, use 'multipass stop --cancel ${name}' to cancel the shutdown.`;
    }
  }
  return null;
}

/** What one instance's session does for `plan`; false when a logged step failed. Throws what transfer prints as it is. */
function runForInstance(client: SftpClient, session: SftpSession, instance: string, plan: TransferPlan, flags: TransferFlags): boolean {
  switch (plan.kind) {
    case "pull": {
      if (plan.sources.length > 1) {
        const target = localIsDirectory(plan.target);
        if (!target.dir && target.error === null) throw new Error(`Target ${quotePath(plan.target)} is not a directory`);
        if (target.error !== null) throw new Error(`Cannot access ${quotePath(plan.target)}: ${target.error}`);
      }
      let ok = true;
      for (const source of plan.sources) if (source.instance === instance) ok = client.pull(source.path, plan.target, flags) && ok;
      return ok;
    }
    case "push": {
      if (plan.sources.length > 1 && session.stat(plan.target)?.type !== "directory") {
        throw new Error(`Target ${quotePath(plan.target)} is not a directory`);
      }
      let ok = true;
      for (const source of plan.sources) ok = client.push(source, plan.target, flags) && ok;
      return ok;
    }
    case "fromStdin":
      fromStdin(session, fdReader(0), plan.target, flags.parents);
      return true;
    case "toStdout":
      toStdout(session, plan.source, fdWriter(1));
      return true;
  }
}

/** `multipass transfer [-r] [-p] SRC… DST`. */
export async function runTransfer(ctx: SimContext, args: QtParse): Promise<number> {
  const parsed = parseTransferArgs(args.positionals);
  if ("error" in parsed) {
    ctx.err(`${parsed.error}\n`);
    return EXIT.commandLine;
  }
  const flags: TransferFlags = { recursive: args.isSet("recursive"), parents: args.isSet("parents") };
  const unreachable = await ctx.reachDaemon("transfer");
  if (unreachable !== null) return unreachable;
  const state = readState(ctx.paths);
  const refused = sshInfoError(state, parsed.instances, Date.now());
  if (refused !== null) return ctx.failure("transfer", refused);

  const log = (message: string): void => ctx.err(`${logTimestamp()} [error] [sftp] ${message}\n`);
  let ok = true;
  // The reply's map of SSH details: one session per instance, in name order.
  for (const name of [...new Set(parsed.instances)].sort()) {
    const instance = findInstance(state, name);
    if (instance === undefined) continue;
    const files = ensureInstanceFiles(ctx.paths, instance);
    const mountPoints = new Set(instance.mounts.map((mount) => guestPathToHost(files, mount.target)).filter((path) => path.startsWith(`${files.home}/`)));
    const session = new SftpSession(files, mountPoints);
    try {
      ok = runForInstance(new SftpClient(session, log), session, name, parsed.plan, flags) && ok;
    } catch (error) {
      ok = false;
      if (!(error instanceof OutputClosed)) ctx.err(`${(error as Error).message}\n`);
    }
  }
  return ok ? EXIT.ok : EXIT.commandFail;
}
