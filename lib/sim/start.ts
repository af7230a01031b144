/**
 * `start`, also used by `exec` and `shell` to start a stopped instance. A missing
 * primary instance is launched first, as the 1.16 client does.
 */

import type { QtParse } from "./args.ts";
import { EXIT, type SimContext } from "./context.ts";
import { launchInstance } from "./launch.ts";
import { timeoutOption } from "./launch-args.ts";
import { chosenNames, select, settle, spinnerMessage } from "./selection.ts";
import { Spinner } from "./spinner.ts";
import { isRunning, PRIMARY } from "./state.ts";
import { updateState } from "./store.ts";

type StartOutcome =
  | { kind: "ok"; starting: string[] }
  | { kind: "missing"; details: string; onlyPrimary: boolean }
  | { kind: "error"; details: string };

/**
 * The body of `start`, also used by `exec` and `shell` to start a stopped
 * instance. A missing primary instance is launched first, as the client does.
 */
export async function startInstances(ctx: SimContext, names: readonly string[] | null, timeout?: number): Promise<number> {
  const spinner = new Spinner(ctx.out);
  let starting: string[] = [];
  try {
    spinner.start(spinnerMessage("Starting", names));
    const disarm =
      timeout === undefined
        ? () => undefined
        : ctx.armTimeout(timeout, "Timed out waiting for instance to start.", spinner, () =>
            settle(ctx, starting, ["Starting"], "Running"),
          );
    const unreachable = await ctx.reachDaemon("start", () => spinner.stop());
    if (unreachable !== null) return unreachable;
    for (;;) {
      const outcome = updateState(ctx.paths, (state): StartOutcome => {
        const selection = select(state, names);
        if (selection.missing.length > 0 || selection.deleted.length > 0) {
          const lines = (names ?? []).flatMap((name) =>
            selection.missing.includes(name)
              ? [`Instance '${name}' does not exist.`]
              : selection.deleted.includes(name)
                ? [`Instance '${name}' is deleted. Use 'recover' to recover it or 'purge' to permanently delete it.`]
                : [],
          );
          const onlyPrimary = selection.deleted.length === 0 && selection.missing.join() === PRIMARY;
          return { kind: "missing", details: lines.map((line) => `${line}\n`).join(""), onlyPrimary };
        }
        const errors: string[] = [];
        for (const instance of selection.targets) {
          if (instance.state === "Unknown") {
            errors.push(`Instance '${instance.name}' is already running, but in an unknown state.\nTry to stop it first.`);
          } else if (instance.state === "Suspending") {
            errors.push(`Cannot start the instance '${instance.name}' while suspending.`);
          }
        }
        if (errors.length > 0) return { kind: "error", details: errors.join("\n") };
        const toStart = selection.targets.filter((i) => !isRunning(i.state));
        for (const instance of selection.targets) {
          if (instance.state === "Delayed Shutdown") {
            instance.state = "Running";
            delete instance.shutdownAt;
          }
        }
        for (const instance of toStart) instance.state = "Starting";
        return { kind: "ok", starting: toStart.map((i) => i.name) };
      });
      if (outcome.kind === "missing" && outcome.onlyPrimary) {
        spinner.stop();
        const launched = await launchInstance(ctx, { name: PRIMARY, timeout });
        if (launched !== EXIT.ok) return launched;
        continue;
      }
      if (outcome.kind !== "ok") {
        spinner.stop();
        if (outcome.kind === "missing") return ctx.failure("start", "instance(s) missing", outcome.details);
        return ctx.failure("start", "The following errors occurred:", outcome.details);
      }
      starting = outcome.starting;
      break;
    }
    if (starting.length > 0) {
      await spinner.hold(ctx.config.timing.start);
      settle(ctx, starting, ["Starting", "Restarting"], "Running");
    }
    disarm();
    spinner.stop();
    return EXIT.ok;
  } finally {
    spinner.stop();
  }
}

/** `multipass start [NAME…] [--all] [--timeout S]`. */
export async function runStart(ctx: SimContext, args: QtParse): Promise<number> {
  const names = chosenNames(ctx, args, true);
  if (names === undefined) return EXIT.commandLine;
  const timeout = timeoutOption(ctx, args);
  if (timeout === null) return EXIT.commandLine;
  return startInstances(ctx, names, timeout);
}

