/**
 * `exec`: a command in an instance on any node, its exit status the remote
 * one; interactive under a terminal when stdin and stdout are terminals. On
 * many instances (issue 15), the fan-out of fleet-exec.ts.
 */
import { defineCommand } from "citty";
import { apiFor, resolveRef, type ClientContext } from "./context.ts";
import { runSession } from "./session.ts";
import { sessionArgs, sessionBase } from "./sessions.ts";
import { validateCommand } from "../protocol/session.ts";
import { withNotes } from "../cli/help.ts";
import { usageError } from "../core/errors.ts";
import { DEFAULT_PARALLEL, MAX_PARALLEL } from "./fleet.ts";
import { isFleetExec, runFleetExec } from "./fleet-exec.ts";

/** `-t`/`--tty` and `-T`/`--no-tty` before `--`; the last one given wins. */
function ttyChoice(rawArgs: string[]): boolean | null {
  let choice: boolean | null = null;
  for (const arg of rawArgs) {
    if (arg === "--") break;
    if (arg === "-t" || arg === "--tty") choice = true;
    if (arg === "-T" || arg === "--no-tty") choice = false;
  }
  return choice;
}

/** The `exec` command: one instance, interactively, or many (fleet-exec.ts). */
export function execCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes({ name: "exec", description: "Run a command in an instance on any node, or on many: exec NAME... -- CMD [ARGS...]" }, [
      "One instance: its exit status is the command's; interactive under a terminal when stdin and stdout are terminals.",
      "Many (-l, --all, several names, or any of --parallel, --timeout, --group, --json): only the Running instances are run (those of a node that is not Ready count as unreachable), without a terminal, each line prefixed with its instance; piped stdin (at most 8 MiB) is read once and sent to every one. A summary (ok, failed with exit codes, timed out, unreachable, skipped) ends on stderr; the exit status is 0 only when every instance run succeeded, 130 after Ctrl-C.",
      "A node that is Down fails its instances at once; one that does not accept a session fails within 10s; a command that never ends is waited for unless --timeout is given.",
    ]),
    args: {
      name: { type: "positional", required: false, description: "Instance, NAME or NAME@NODE; several before --" },
      command: { type: "positional", required: false, valueHint: "-- CMD...", description: "The command and its arguments, after --" },
      tty: { type: "boolean", alias: "t", description: "Run under a terminal, interactively (default when stdin and stdout are terminals; one instance only)" },
      T: { type: "boolean", description: "Never a terminal (same as --no-tty)" },
      selector: { type: "string", alias: "l", valueHint: "SELECTOR", description: "Every instance whose labels match, e.g. role=web,env!=prod" },
      all: { type: "boolean", default: false, description: "Every instance of the cluster" },
      parallel: { type: "string", valueHint: "N", description: `Sessions at once with several instances (default ${DEFAULT_PARALLEL}, at most ${MAX_PARALLEL})` },
      timeout: { type: "string", valueHint: "DURATION", description: "Per instance, end a command still running after this long (default: none)" },
      group: { type: "boolean", default: false, description: "Each instance's output together once it ends, instead of prefixed lines" },
      json: { type: "boolean", default: false, description: "NDJSON: one result per instance as it ends, then the summary" },
      ...sessionArgs,
    },
    async run({ args, rawArgs }) {
      const dashDash = rawArgs.indexOf("--");
      const words = args._.map(String);
      // Without --, the first word is the instance and the rest the command; with -l or --all, all of it is the command.
      const chosen = args.selector !== undefined || args.all ? 0 : 1;
      const names = dashDash >= 0 ? words.slice(0, words.length - (rawArgs.length - dashDash - 1)) : words.slice(0, chosen);
      const command = validateCommand(dashDash >= 0 ? rawArgs.slice(dashDash + 1) : words.slice(chosen));
      const api = apiFor({ ...args, json: false }, ctx);
      const fleet = { selector: args.selector, all: args.all, names, parallel: args.parallel, timeout: args.timeout, group: args.group, json: args.json };
      if (isFleetExec(fleet)) {
        if (ttyChoice(rawArgs) === true) throw usageError("-t: exec on several instances runs without a terminal");
        return runFleetExec(ctx, api, { ...fleet, command });
      }
      const [name] = names;
      if (name === undefined) throw usageError("Name the instance (NAME or NAME@NODE), or choose several with -l SELECTOR or --all");
      const tty = ttyChoice(rawArgs) ?? (ctx.terminal.stdinIsTTY && ctx.terminal.stdoutIsTTY);
      const ref = await resolveRef(api, name);
      return runSession({ ...sessionBase(api, ctx), kind: "exec", ref, command, tty });
    },
  });
}
