/**
 * What a worker does when the master asks it to change its host: launch and
 * the lifecycle verbs, one at a time per instance, each answered with the
 * host's listing after it, so the master's cache is right the moment the call
 * returns. A launch waits for a fresh listing (it needs the new instance's
 * addresses). A verb or a purge does not: the daemon serialises, so a list
 * after one stop would queue behind the next stop on the host, and a bulk
 * stop would hear of each instance one stop late. Multipass's success says
 * the state the verb left the instance in (CONTRACT.md §4.4–4.9), so the
 * answer is the last listing with that state, and a fresh listing follows
 * through the join link once the daemon gives it. Every
 * call the master names with a request id is kept in the operation log
 * (operation-log.ts), so its outcome can be asked for after the answer was
 * lost on the way.
 *
 * The name `primary` is special to Multipass (CONTRACT.md §2.2): `start` or
 * `shell` on a `primary` that does not exist launches a new instance, with
 * the worker account's home directory mounted in it. So a verb or a session
 * on a `primary` the host's fresh listing does not show is refused here,
 * before anything reaches multipass.
 */
import type { ConsolaInstance } from "consola";
import { AppError, toAppError } from "../core/errors.ts";
import type { HostMonitor } from "./host-monitor.ts";
import type { KeyedLock } from "../core/keyed-lock.ts";
import type { AgentOperation } from "../protocol/agent.ts";
import type { InstanceState, InstanceSummary, LaunchProgress, LaunchSpec } from "../protocol/instances.ts";
import type { Multipass } from "../multipass/driver.ts";
import { PRIMARY_NAME, type ActionOptions, type LifecycleAction } from "../protocol/operations.ts";
import { createOperationLog, type OperationLog } from "./operation-log.ts";

export interface WorkerOpsDeps {
  multipass: Multipass;
  monitor: HostMonitor;
  lock: KeyedLock;
  log: ConsolaInstance;
  node: string;
  /** Where operations named by a request id are kept (default: a fresh, bounded one). */
  operations?: OperationLog;
  /** Hears that a verb taking an instance down (stop, suspend, restart, delete) is about to run: its forwards end first (forward-targets.ts). */
  onGoing?: (instance: string, action: LifecycleAction) => void;
}

export interface WorkerOps {
  /**
   * Launches `spec.name`, reporting progress. Resolves with the host's fresh
   * instance list. @throws AppError naming the instance and the node
   */
  launch(spec: LaunchSpec, onProgress: (progress: LaunchProgress) => void, requestId?: string | null): Promise<InstanceSummary[]>;
  /**
   * One lifecycle verb on one instance. @throws AppError naming the instance
   * and the node; E_NOT_FOUND for a `primary` the host does not have
   */
  act(action: LifecycleAction, name: string, options: ActionOptions, requestId?: string | null): Promise<InstanceSummary[]>;
  /** Removes every deleted instance of the host. */
  purge(requestId?: string | null): Promise<InstanceSummary[]>;
  /** How the call with this request id went, or null when there is no record of it. */
  operation(requestId: string): AgentOperation | null;
  /**
   * Makes an instance ready for a shell or an exec, as `multipass exec` would
   * (starting it if stopped or suspended), without spinner noise.
   * @throws AppError E_NOT_FOUND when it does not exist (a missing `primary`
   *   from a fresh listing), E_CONFLICT when it is deleted
   */
  ensureRunning(instance: string): Promise<void>;
  /**
   * Checks that an instance is running, without starting it (`multiverse
   * cp`, as `multipass transfer`, never starts one).
   * @throws AppError E_NOT_FOUND when it does not exist, E_CONFLICT when it
   *   is not running (or deleted)
   */
  checkRunning(instance: string): Promise<void>;
}

/** Purge touches every deleted instance; it takes this key so it never overlaps itself. */
const PURGE_KEY = "\u0000purge";

/**
 * stop, suspend and delete do their blocking waits (up to 300 s each) on the
 * daemon's one thread (CONTRACT.md §3.3): two of them on one host run one
 * after the other whatever we do. Queueing them here, host-wide, makes that
 * explicit, so each multipass process's own time limit starts when the
 * daemon starts its work, not while it waits behind another instance's stop.
 */
export const DAEMON_KEY = "\u0000daemon";
const BLOCKS_THE_DAEMON: ReadonlySet<LifecycleAction> = new Set(["stop", "suspend", "delete"]);
const TAKES_DOWN: ReadonlySet<LifecycleAction> = new Set(["stop", "suspend", "restart", "delete"]);

type Context = WorkerOpsDeps & { operations: OperationLog };

export function createWorkerOps(deps: WorkerOpsDeps): WorkerOps {
  const ctx: Context = { ...deps, operations: deps.operations ?? createOperationLog() };
  const { lock, operations } = ctx;
  return {
    launch: (spec, onProgress, requestId = null) =>
      operations.track(requestId, { action: "launch", instance: spec.name }, () => lock.run(spec.name, () => launch(ctx, spec, onProgress))),
    act: (action, name, options, requestId = null) =>
      operations.track(requestId, { action, instance: name }, () => lock.run(name, () => act(ctx, action, name, options))),
    purge: (requestId = null) => operations.track(requestId, { action: "purge", instance: null }, () => purge(ctx)),
    operation: (requestId) => operationOf(ctx, requestId),
    ensureRunning: (instance) => lock.run(instance, () => ensureRunning(ctx, instance)),
    checkRunning: (instance) => checkRunning(ctx, instance),
  };
}

function failure(ctx: Context, verb: string, name: string, error: unknown): AppError {
  const e = toAppError(error, "E_MULTIPASS");
  return new AppError(e.code, `Cannot ${verb} instance "${name}" on node "${ctx.node}": ${e.message}`, { cause: error });
}

async function fresh(ctx: Context): Promise<InstanceSummary[]> {
  return (await ctx.monitor.refresh()).instances;
}

/** Refuses a verb or a session on a `primary` that the host's fresh listing does not show. @throws AppError E_NOT_FOUND */
async function refuseMissingPrimary(ctx: Context, name: string, doing: string): Promise<InstanceSummary[] | null> {
  if (name !== PRIMARY_NAME) return null;
  const instances = await fresh(ctx);
  if (instances.some((i) => i.name === name)) return instances;
  throw new AppError(
    "E_NOT_FOUND",
    `Instance "${PRIMARY_NAME}" does not exist on node "${ctx.node}"; not asking Multipass to ${doing} it, because for a missing "${PRIMARY_NAME}" Multipass launches a new instance (with the worker account's home directory mounted in it) instead of failing. Launch one explicitly if that is what you want`,
  );
}

async function launch(ctx: Context, spec: LaunchSpec, onProgress: (progress: LaunchProgress) => void): Promise<InstanceSummary[]> {
  try {
    ctx.monitor.forget(spec.name);
    ctx.log.info(`launching "${spec.name}"${spec.image ? ` from ${spec.image}` : ""}`);
    await ctx.multipass.launch(spec, { onProgress });
    ctx.log.info(`launched "${spec.name}"`);
  } catch (error) {
    // A failed launch may still have left an instance (a timeout): the listing will show it.
    await fresh(ctx).catch(() => []);
    throw failure(ctx, "launch", spec.name, error);
  }
  return fresh(ctx);
}

async function act(ctx: Context, action: LifecycleAction, name: string, options: ActionOptions): Promise<InstanceSummary[]> {
  await refuseMissingPrimary(ctx, name, action);
  if (TAKES_DOWN.has(action)) ctx.onGoing?.(name, action);
  try {
    if (BLOCKS_THE_DAEMON.has(action)) await ctx.lock.run(DAEMON_KEY, () => runVerb(ctx, action, name, options));
    else await runVerb(ctx, action, name, options);
    ctx.log.info(`${action} "${name}"${options.force ? " (force)" : ""}${options.purge ? " (purge)" : ""}: done`);
  } catch (error) {
    throw failure(ctx, action, name, error);
  }
  return listingAfter(ctx, (instances) => {
    const before = instances.find((i) => i.name === name);
    const state = stateAfter(action, before?.state, options);
    if (state === null) return instances.filter((i) => i.name !== name);
    const after: InstanceSummary = { name, state, ipv4: state === "Running" ? (before?.ipv4 ?? []) : [], release: before?.release ?? null };
    return before ? instances.map((i) => (i.name === name ? after : i)) : [...instances, after];
  });
}

/** The one multipass call of a verb. @throws MultipassError */
async function runVerb(ctx: Context, action: LifecycleAction, name: string, options: ActionOptions): Promise<void> {
  const { multipass } = ctx;
  switch (action) {
    case "start":
      await multipass.start([name]);
      break;
    case "stop":
      await multipass.stop([name], { force: options.force });
      break;
    case "restart":
      await multipass.restart([name]);
      break;
    case "suspend":
      await multipass.suspend([name]);
      break;
    case "delete":
      await multipass.delete([name], { purge: options.purge });
      if (options.purge) ctx.monitor.forget(name);
      break;
    case "recover":
      await multipass.recover([name]);
      break;
    }
}

/**
 * The state a verb leaves an instance in when multipass reports success:
 * start and restart return once it is up, stop once it is down; suspend
 * leaves a stopped instance stopped. Null: gone (delete --purge).
 */
export function stateAfter(action: LifecycleAction, before: InstanceState | undefined, options: Pick<ActionOptions, "purge">): InstanceState | null {
  switch (action) {
    case "start":
    case "restart":
      return "Running";
    case "stop":
    case "recover":
      return "Stopped";
    case "suspend":
      // Only a stopped instance is left as it is. The last listing may still show a
      // passing state (Starting, Restarting) of the verb before: success means Suspended.
      return before === "Stopped" ? "Stopped" : "Suspended";
    case "delete":
      return options.purge ? null : "Deleted";
  }
}

/**
 * The last listing as `change` leaves it, at once, and the monitor's too (so
 * a poll that listed during the change cannot undo it on the master); a
 * fresh listing is asked for meanwhile, and reaches the master when the
 * daemon gives it.
 */
function listingAfter(ctx: Context, change: (instances: InstanceSummary[]) => InstanceSummary[]): InstanceSummary[] {
  const after = change(ctx.monitor.current()?.instances ?? []);
  ctx.monitor.noteChange(after);
  void ctx.monitor.refresh().catch((error: unknown) => ctx.log.debug(`listing after a change: ${toAppError(error).message}`));
  return after;
}

function purge(ctx: Context): Promise<InstanceSummary[]> {
  // Purge removes whichever instances are deleted when it runs: it waits for every operation
  // in flight on the host's instances (a delete or a recover), and they wait for it.
  const names = (ctx.monitor.current()?.instances ?? []).map((i) => i.name);
  return ctx.lock.runAll([PURGE_KEY, ...names], async () => {
    try {
      await ctx.multipass.purge();
    } catch (error) {
      const e = toAppError(error, "E_MULTIPASS");
      throw new AppError(e.code, `Cannot purge deleted instances on node "${ctx.node}": ${e.message}`, { cause: error });
    }
    ctx.log.info("purged deleted instances");
    return listingAfter(ctx, (instances) => instances.filter((i) => i.state !== "Deleted"));
  });
}

function operationOf(ctx: Context, requestId: string): AgentOperation | null {
  const record = ctx.operations.get(requestId);
  if (record === null) return null;
  return {
    requestId: record.requestId,
    action: record.action,
    instance: record.instance,
    state: record.state,
    error: record.error,
    finishedAt: record.finishedAt === null ? null : new Date(record.finishedAt).toISOString(),
    instances: record.listing ?? ctx.monitor.current()?.instances ?? [],
  };
}

async function ensureRunning(ctx: Context, instance: string): Promise<void> {
  const listed = (await refuseMissingPrimary(ctx, instance, "open a session in")) ?? ctx.monitor.current()?.instances;
  let found = listed?.find((i) => i.name === instance);
  if (!found) found = (await fresh(ctx)).find((i) => i.name === instance);
  if (!found) throw new AppError("E_NOT_FOUND", `Instance "${instance}" does not exist on node "${ctx.node}"`);
  if (found.state === "Running" || found.state === "Delayed Shutdown") return;
  if (found.state === "Deleted") throw new AppError("E_CONFLICT", `Instance "${instance}" on node "${ctx.node}" is deleted; recover it first`);
  ctx.log.info(`starting "${instance}" for a session`);
  await ctx.multipass.start([instance]);
  await ctx.monitor.refresh();
}

async function checkRunning(ctx: Context, instance: string): Promise<void> {
  const running = (i: InstanceSummary | undefined) => i?.state === "Running" || i?.state === "Delayed Shutdown";
  const listed = (await refuseMissingPrimary(ctx, instance, "copy files with")) ?? ctx.monitor.current()?.instances;
  let found = listed?.find((i) => i.name === instance);
  // The cache may be behind a start made on the host itself: a refusal is checked against a fresh listing.
  if (!running(found)) found = (await fresh(ctx)).find((i) => i.name === instance);
  if (!found) throw new AppError("E_NOT_FOUND", `Instance "${instance}" does not exist on node "${ctx.node}"`);
  if (running(found)) return;
  if (found.state === "Deleted") throw new AppError("E_CONFLICT", `Instance "${instance}" on node "${ctx.node}" is deleted; recover it first`);
  throw new AppError("E_CONFLICT", `instance "${instance}" is not running (${found.state} on node "${ctx.node}"); not starting it for a copy, as multipass transfer does not: start it first`);
}
