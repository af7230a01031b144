/**
 * `stop`, `restart` and `suspend` with 1.16 semantics. Each state change
 * is one short locked step; the simulated time (config.json's timing) passes
 * outside the lock while the spinner animates. Stop and suspend wait on the
 * daemon's thread (daemon-busy.ts): they queue behind each other, and list,
 * info, get and version queue behind them.
 */

import type { QtParse } from "./args.ts";
import { EXIT, type SimContext } from "./context.ts";
import { takeDaemonTurn, type DaemonTurn } from "./daemon-busy.ts";
import { timeoutOption } from "./launch-args.ts";
import { chosenNames, select, selectionLines, settle, spinnerMessage } from "./selection.ts";
import { Spinner } from "./spinner.ts";
import { isRunning, type SimInstance } from "./state.ts";
import { updateState } from "./store.ts";

type StepOutcome = { kind: "ok"; moving: string[] } | { kind: "error"; message: string; details?: string };

/** What differs between stop, restart and suspend. */
interface TransitionSpec {
  readonly command: "stop" | "restart" | "suspend";
  /** `Stopping`, … for the spinner. */
  readonly verb: string;
  readonly names: readonly string[] | null;
  /** Validates the targets and starts their transition (inside the locked step). */
  readonly plan: (targets: SimInstance[]) => StepOutcome;
  readonly finalStep: { from: readonly string[]; to: SimInstance["state"] };
  /**
   * The daemon does this wait on its one thread, instance after instance: the
   * command takes a daemon turn, and on a profiled host each moving instance
   * takes the whole duration.
   */
  readonly serialised: boolean;
  readonly timeout?: { seconds: number; message: string };
}

/**
 * Shared shape of stop/restart/suspend: spinner, daemon check, (daemon turn,)
 * one locked validation+transition step, then the simulated work and the final state.
 */
async function transition(ctx: SimContext, spec: TransitionSpec): Promise<number> {
  const spinner = new Spinner(ctx.out);
  const { finalStep, timeout } = spec;
  let moving: string[] = [];
  let turn: DaemonTurn | null = null;
  try {
    spinner.start(spinnerMessage(spec.verb, spec.names));
    const disarm =
      timeout === undefined
        ? () => undefined
        : ctx.armTimeout(timeout.seconds, timeout.message, spinner, () =>
            settle(ctx, moving, finalStep.from, finalStep.to),
          );
    const unreachable = await ctx.reachDaemon(spec.command, () => spinner.stop());
    if (unreachable !== null) return unreachable;
    if (spec.serialised) turn = await takeDaemonTurn(ctx.paths, spec.command, (ms) => spinner.hold(ms));
    const outcome = updateState(ctx.paths, (state): StepOutcome => {
      const selection = select(state, spec.names);
      if (selection.missing.length > 0 || selection.deleted.length > 0) {
        const details = selectionLines(spec.names ?? [], selection.missing, selection.deleted);
        return { kind: "error", message: "The following errors occurred:", details };
      }
      return spec.plan(selection.targets);
    });
    if (outcome.kind === "error") {
      spinner.stop();
      return ctx.failure(spec.command, outcome.message, outcome.details);
    }
    moving = outcome.moving;
    const ms = ctx.config.timing[spec.command];
    const oneByOne = spec.serialised && ctx.config.profiled;
    const batches = moving.length === 0 ? [] : oneByOne ? moving.map((name) => [name]) : [moving];
    turn?.busyFor(ms * batches.length);
    for (const batch of batches) {
      await spinner.hold(ms);
      settle(ctx, batch, finalStep.from, finalStep.to);
    }
    disarm();
    spinner.stop();
    return EXIT.ok;
  } finally {
    turn?.release();
    spinner.stop();
  }
}

/** `multipass stop [NAME…] [--all] [-t MIN] [-c] [--force]`. */
export async function runStop(ctx: SimContext, args: QtParse): Promise<number> {
  const names = chosenNames(ctx, args, true);
  if (names === undefined) return EXIT.commandLine;
  const time = args.value("time");
  const cancel = args.isSet("cancel");
  const force = args.isSet("force");
  const usage = (text: string): number => (ctx.err(`${text}\n`), EXIT.commandLine);
  if (time !== undefined && cancel) return usage("Cannot set 'time' and 'cancel' options at the same time");
  if (force && (time !== undefined || cancel)) {
    return usage("Cannot set 'force' along with 'time' or 'cancel' options at the same time");
  }
  if (time !== undefined && !/^\+?\d+$/.test(time)) return usage("Time must be in digit form");
  const minutes = time === undefined ? 0 : Number(time.replace("+", ""));
  return transition(ctx, {
    command: "stop",
    verb: "Stopping",
    names,
    serialised: true,
    plan: (targets) => {
      if (cancel || minutes > 0) {
        for (const instance of targets) {
          if (cancel && instance.state === "Delayed Shutdown") {
            instance.state = "Running";
            delete instance.shutdownAt;
          } else if (!cancel && isRunning(instance.state)) {
            instance.state = "Delayed Shutdown";
            instance.shutdownAt = Date.now() + minutes * 60_000;
          }
        }
        return { kind: "ok", moving: [] };
      }
      if (force) {
        for (const instance of targets) instance.state = "Stopped";
        return { kind: "ok", moving: [] };
      }
      for (const instance of targets) {
        const why =
          instance.state === "Suspended"
            ? `Cannot shut down suspended instance ${instance.name}.`
            : instance.state === "Starting" || instance.state === "Restarting"
              ? `Cannot shut down instance ${instance.name} while starting.`
              : instance.state === "Suspending"
                ? `Cannot shut down instance ${instance.name} while suspending.`
                : null;
        if (why !== null) return { kind: "error", message: why, details: "Use --force to power it off." };
      }
      const running = targets.filter((i) => isRunning(i.state) || i.state === "Unknown");
      for (const instance of running) delete instance.shutdownAt;
      return { kind: "ok", moving: running.map((i) => i.name) };
    },
    finalStep: { from: ["Running", "Delayed Shutdown", "Unknown"], to: "Stopped" },
  });
}

/** `multipass restart [NAME…] [--all] [--timeout S]`. */
export async function runRestart(ctx: SimContext, args: QtParse): Promise<number> {
  const names = chosenNames(ctx, args, true);
  if (names === undefined) return EXIT.commandLine;
  const seconds = timeoutOption(ctx, args);
  if (seconds === null) return EXIT.commandLine;
  const timeout = seconds === undefined ? undefined : { seconds, message: "Timed out waiting for instance to restart." };
  return transition(ctx, {
    command: "restart",
    verb: "Restarting",
    names,
    serialised: false,
    plan: (targets) => {
      const idle = targets.find((i) => !isRunning(i.state));
      if (idle !== undefined) {
        return {
          kind: "error",
          message: `Instance '${idle.name}' is already running, but in an unknown state.`,
          details: "Try to stop and start it instead.",
        };
      }
      for (const instance of targets) {
        instance.state = "Restarting";
        delete instance.shutdownAt;
      }
      return { kind: "ok", moving: targets.map((i) => i.name) };
    },
    finalStep: { from: ["Restarting"], to: "Running" },
    timeout,
  });
}

/** `multipass suspend [NAME…] [--all]`: stopped or suspended instances are a silent no-op. */
export async function runSuspend(ctx: SimContext, args: QtParse): Promise<number> {
  const names = chosenNames(ctx, args, true);
  if (names === undefined) return EXIT.commandLine;
  return transition(ctx, {
    command: "suspend",
    verb: "Suspending",
    names,
    serialised: true,
    plan: (targets) => {
      const running = targets.filter((i) => isRunning(i.state));
      for (const instance of running) {
        instance.state = "Suspending";
        delete instance.shutdownAt;
      }
      return { kind: "ok", moving: running.map((i) => i.name) };
    },
    finalStep: { from: ["Suspending"], to: "Suspended" },
  });
}
