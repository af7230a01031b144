/**
 * `exec`: a command in an instance on any node, its exit status the remote
 * one; interactive under a terminal when stdin and stdout are terminals.
 */
import { defineCommand } from "citty";
import { apiFor, resolveRef, type ClientContext } from "./context.ts";
import { runSession } from "./session.ts";
import { sessionArgs, sessionBase } from "./sessions.ts";
import { validateCommand } from "../protocol/session.ts";

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

/** The `exec` command. */
export function execCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "exec", description: "Run a command in an instance on any node: exec NAME -- CMD [ARGS...]" },
    args: {
      name: { type: "positional", required: true, description: "Instance, NAME or NAME@NODE" },
      command: { type: "positional", required: false, valueHint: "-- CMD...", description: "The command and its arguments, after --" },
      tty: { type: "boolean", alias: "t", description: "Run under a terminal, interactively (default when stdin and stdout are terminals)" },
      T: { type: "boolean", description: "Never a terminal (same as --no-tty)" },
      ...sessionArgs,
    },
    async run({ args, rawArgs }) {
      const dashDash = rawArgs.indexOf("--");
      const command = validateCommand(dashDash >= 0 ? rawArgs.slice(dashDash + 1) : args._.slice(1).map(String));
      const tty = ttyChoice(rawArgs) ?? (ctx.terminal.stdinIsTTY && ctx.terminal.stdoutIsTTY);
      const api = apiFor({ ...args, json: false }, ctx);
      const ref = await resolveRef(api, args.name);
      return runSession({ ...sessionBase(api, ctx), kind: "exec", ref, command, tty });
    },
  });
}
