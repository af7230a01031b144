/**
 * The {@link Multipass} driver that runs the real `multipass` CLI (CONTRACT.md
 * §4, §6): pure argv builders, the pure parsers of `parse.ts`, one injected
 * {@link Runner} that alone runs processes to completion, and one injected
 * {@link ExecSpawner} that alone starts the long-lived processes of `exec`.
 */
import { AppError, messageOf, usageError } from "../core/errors.ts";
import { DAEMON_BOUND_MS } from "../core/timers.ts";
import { classifyFailure, commandOf } from "./failure.ts";
import { parseInfo, parseList, parseSnapshotList, parseSnapshotTaken, parseVersion } from "./parse.ts";
import { snapshotArgv } from "./snapshot-argv.ts";
import { createLaunchProgressParser } from "./progress.ts";
import { runProcess, type RunOptions, type RunResult, type Runner } from "./run.ts";
import { spawnExec, startExec, type ExecSpawner } from "./exec.ts";
import { MultipassError, type CallOptions, type Multipass } from "./driver.ts";
import { MAX_NETWORKS, type LaunchSpec } from "../protocol/instances.ts";
import { validateCpus, validateImage, validateInstanceName, validateLaunchSizes, validateNetworkSpec, validateTimeoutSeconds } from "../core/validate.ts";

export type { Runner } from "./run.ts";

const COMMANDS = [
  "list",
  "info",
  "version",
  "get",
  "launch",
  "start",
  "stop",
  "restart",
  "suspend",
  "delete",
  "recover",
  "purge",
  "snapshot",
  "restore",
] as const;
/** Commands with their own timeout. */
export type MultipassCommand = (typeof COMMANDS)[number];

const MINUTE = 60_000;
/**
 * No call is cut before the daemon itself gives up (CONTRACT.md §3.3). The
 * daemon serialises: `list`, `info`, `get` and `version` queue behind a
 * running stop, suspend or delete, for up to its 300 s bound
 * ({@link DAEMON_BOUND_MS}), and then do their own work: `list` one SSH
 * lookup per running instance (5 s for a guest that does not answer),
 * `info` one or two seconds per running instance. State changes wait out
 * that same bound (shutdown, SSH). Each gets a margin above it.
 */
export const DEFAULT_TIMEOUTS_MS: Readonly<Record<MultipassCommand, number>> = {
  list: DAEMON_BOUND_MS + 2 * MINUTE,
  version: DAEMON_BOUND_MS + MINUTE,
  get: DAEMON_BOUND_MS + MINUTE,
  info: DAEMON_BOUND_MS + 2 * MINUTE,
  launch: 20 * MINUTE,
  start: DAEMON_BOUND_MS + MINUTE,
  stop: DAEMON_BOUND_MS + MINUTE,
  restart: DAEMON_BOUND_MS + MINUTE,
  suspend: DAEMON_BOUND_MS + MINUTE,
  delete: DAEMON_BOUND_MS + MINUTE,
  recover: DAEMON_BOUND_MS + MINUTE,
  purge: DAEMON_BOUND_MS + MINUTE,
  // A snapshot or restore of a stopped VM copies or reverts its disk image on the daemon's thread: like a stop.
  snapshot: DAEMON_BOUND_MS + MINUTE,
  restore: DAEMON_BOUND_MS + MINUTE,
};
/** Added to a launch's own `--timeout`, so multipass's exit 5 arrives before our kill. */
export const LAUNCH_TIMEOUT_MARGIN_MS = MINUTE;
/** setTimeout's ceiling (2^31 − 1 ms, about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;

const SETTING_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const MAX_SETTING_KEY_LENGTH = 256;

function names(list: readonly string[], command: string): string[] {
  // Without names, start/stop/restart/suspend would act on the "primary" instance.
  if (list.length === 0) throw usageError(`multipass ${command} needs at least one instance name`);
  return list.map(validateInstanceName);
}

/**
 * Pure argv builders: the arguments after the binary. User values are
 * validated first (an instance name always starts with a letter, a size with a
 * digit), and positionals follow `--` wherever multipass takes them, so no
 * value can be read as an option.
 * @throws AppError E_USAGE on an invalid name, size, CPU count, image, key or path.
 */
export const buildArgv = {
  list: (options: { noIpv4?: boolean } = {}): string[] => ["list", ...(options.noIpv4 ? ["--no-ipv4"] : []), "--format", "json"],
  info: (instances: readonly string[] = []): string[] => [
    "info",
    "--format",
    "json",
    ...(instances.length === 0 ? [] : ["--", ...instances.map(validateInstanceName)]),
  ],
  version: (): string[] => ["version", "--format", "json"],
  get: (key: string): string[] => {
    if (!SETTING_KEY.test(key) || key.length > MAX_SETTING_KEY_LENGTH) {
      throw usageError(`Invalid setting key ${JSON.stringify(key)}: need letters, digits, ".", "-" or "_"`);
    }
    return ["get", key, "--raw"];
  },
  /** Sizes are checked against the minimums of `version` (the daemon's), the lowest when it is unknown. */
  launch: (request: LaunchSpec, version: string | null = null): string[] => {
    const argv = ["launch", "--name", validateInstanceName(request.name)];
    if (request.cpus !== undefined) argv.push("--cpus", String(validateCpus(request.cpus)));
    const sizes = validateLaunchSizes({ memory: request.memory, disk: request.disk }, version);
    if (sizes.memory !== undefined) argv.push("--memory", sizes.memory);
    if (sizes.disk !== undefined) argv.push("--disk", sizes.disk);
    if (request.cloudInit !== undefined) argv.push("--cloud-init", "-");
    if (request.timeoutSeconds !== undefined) {
      argv.push("--timeout", String(validateTimeoutSeconds(request.timeoutSeconds)));
    }
    const networks = request.networks ?? [];
    if (networks.length > MAX_NETWORKS) throw usageError(`Too many networks (${networks.length}; at most ${MAX_NETWORKS})`);
    for (const spec of networks) argv.push("--network", validateNetworkSpec(spec));
    if (request.image !== undefined) argv.push("--", validateImage(request.image));
    return argv;
  },
  start: (instances: readonly string[]): string[] => ["start", "--", ...names(instances, "start")],
  stop: (instances: readonly string[], options: { force?: boolean } = {}): string[] => [
    "stop",
    ...(options.force ? ["--force"] : []),
    "--",
    ...names(instances, "stop"),
  ],
  restart: (instances: readonly string[]): string[] => ["restart", "--", ...names(instances, "restart")],
  suspend: (instances: readonly string[]): string[] => ["suspend", "--", ...names(instances, "suspend")],
  delete: (instances: readonly string[], options: { purge?: boolean } = {}): string[] => [
    "delete",
    ...(options.purge ? ["--purge"] : []),
    "--",
    ...names(instances, "delete"),
  ],
  recover: (instances: readonly string[]): string[] => ["recover", "--", ...names(instances, "recover")],
  purge: (): string[] => ["purge"],
  ...snapshotArgv,
  exec: (name: string, command: readonly string[]): string[] => {
    if (command.length === 0) throw usageError(`multipass exec needs a command to run in ${JSON.stringify(name)}`);
    return ["exec", validateInstanceName(name), "--no-map-working-directory", "--", ...command];
  },
};

export interface MultipassCliOptions {
  /**
   * The argv prefix that runs multipass: the binary, and any words before the
   * multipass arguments (e.g. `["bun", "worker.ts", "--act-as-multipass=DIR"]`);
   * default `["multipass"]` from PATH.
   */
  command?: readonly string[];
  /** Runs one process; default {@link runProcess}. Tests inject a fake. */
  run?: Runner;
  /** Starts the process of an `exec`; default {@link spawnExec}. Tests inject a fake. */
  spawnExec?: ExecSpawner;
  /** Per-command overrides of {@link DEFAULT_TIMEOUTS_MS}, in milliseconds. */
  timeouts?: Partial<Record<MultipassCommand, number>>;
}

/** A timeout of `command` checked: a positive number of milliseconds setTimeout can hold. @throws AppError E_USAGE */
function checkedTimeout(command: MultipassCommand, ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0 || ms > MAX_TIMEOUT_MS) throw usageError(`Invalid timeout for multipass ${command}: ${ms} ms`);
  return ms;
}

/** The per-command timeouts: the defaults, with the overrides checked. @throws AppError E_USAGE */
function timeoutsWith(overrides: Partial<Record<MultipassCommand, number>> = {}): Record<MultipassCommand, number> {
  const timeouts: Record<MultipassCommand, number> = { ...DEFAULT_TIMEOUTS_MS };
  for (const command of COMMANDS) {
    const ms = overrides[command];
    if (ms !== undefined) timeouts[command] = checkedTimeout(command, ms);
  }
  return timeouts;
}

/** Builds the whole argv, turning a validation failure into the driver's own error type. */
function argvWith(prefix: readonly string[], command: MultipassCommand | "exec", build: () => string[]): string[] {
  try {
    return [...prefix, ...build()];
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    throw new MultipassError({ kind: "invalid-arguments", message: error.message, argv: [...prefix, command], exitCode: null, stderr: "", cause: error });
  }
}

/**
 * Messages name a call by the first non-option word after the binary. With
 * a prefix of several words that is a script path, so say the command instead.
 */
function renamed(prefix: readonly string[], error: unknown, argv: string[], command: MultipassCommand): unknown {
  if (prefix.length === 1 || !(error instanceof MultipassError)) return error;
  const message = error.message.replace(`multipass ${commandOf(argv)} `, `multipass ${command} `);
  return new MultipassError({ kind: error.kind, message, argv, exitCode: error.exitCode, stderr: error.stderr, cause: error.cause });
}

/** Runs one call; a non-zero exit is classified, exit 0 goes through `parse`. */
type Call = <T>(
  command: MultipassCommand,
  build: () => string[],
  parse: (stdout: string, argv: string[]) => T,
  callOptions?: CallOptions,
  extra?: Partial<RunOptions>,
) => Promise<T>;

function createCall(prefix: readonly string[], run: Runner, timeouts: Record<MultipassCommand, number>): Call {
  return async (command, build, parse, callOptions = {}, extra = {}) => {
    const argv = argvWith(prefix, command, build);
    const timeoutMs = callOptions.timeoutMs === undefined ? timeouts[command] : checkedTimeout(command, callOptions.timeoutMs);
    try {
      let result: RunResult;
      try {
        result = await run(argv, { timeoutMs, signal: callOptions.signal, ...extra });
      } catch (error) {
        if (error instanceof MultipassError) throw error;
        throw new MultipassError({ kind: "failed", message: `multipass ${command} failed: ${messageOf(error)}`, argv, exitCode: null, stderr: "", cause: error });
      }
      if (result.exitCode !== 0) throw classifyFailure(argv, result.exitCode, result.stderr);
      return parse(result.stdout, argv);
    } catch (error) {
      throw renamed(prefix, error, argv, command);
    }
  };
}

/**
 * Creates the CLI-backed {@link Multipass} driver. Every call but `exec` runs
 * one process with the command's timeout (an exec runs until it ends or is
 * hung up); a launch given `timeoutSeconds` waits that long plus
 * {@link LAUNCH_TIMEOUT_MARGIN_MS} instead. Invalid arguments fail before any
 * process starts, with a MultipassError of kind "invalid-arguments"; a
 * launch's sizes are checked against the minimums of the daemon version the
 * driver last read with `version()` (CONTRACT.md §3.1), the lowest before.
 * `onProgress` of `launch` must not throw: if it does, the launch is killed
 * and that error is rethrown.
 * @throws AppError E_USAGE when a timeout override is not a positive number of milliseconds.
 */
export function createMultipassCli(options: MultipassCliOptions = {}): Multipass {
  const { command: prefix = ["multipass"], run = runProcess, spawnExec: spawn = spawnExec } = options;
  if (prefix.length === 0 || prefix.some((word) => word === "")) throw usageError("The multipass command must name a binary");
  const timeouts = timeoutsWith(options.timeouts);
  const call = createCall(prefix, run, timeouts);
  /** The daemon's version as last read: its launch minimums are the ones that apply. */
  let daemonVersion: string | null = null;

  const simple = async (command: MultipassCommand, build: () => string[], callOptions?: CallOptions): Promise<void> => {
    await call(command, build, () => undefined, callOptions);
  };

  return {
    list: (callOptions = {}) => call("list", () => buildArgv.list({ noIpv4: callOptions.noIpv4 }), parseList, callOptions),
    info: (instances = [], callOptions) => call("info", () => buildArgv.info(instances), parseInfo, callOptions),
    async version(callOptions) {
      const version = await call("version", buildArgv.version, parseVersion, callOptions);
      if (version.daemon !== null) daemonVersion = version.daemon;
      return version;
    },
    get: (key, callOptions) => call("get", () => buildArgv.get(key), (stdout) => stdout.replace(/\r?\n$/, ""), callOptions),
    async launch(request, callOptions = {}) {
      const progress = createLaunchProgressParser(callOptions.onProgress ?? (() => {}));
      const timeoutMs =
        request.timeoutSeconds === undefined
          ? timeouts.launch
          : Math.min(request.timeoutSeconds * 1000 + LAUNCH_TIMEOUT_MARGIN_MS, MAX_TIMEOUT_MS);
      await call("launch", () => buildArgv.launch(request, daemonVersion), () => undefined, callOptions, {
        timeoutMs,
        onStdout: (chunk) => progress.push(chunk),
        ...(request.cloudInit === undefined ? {} : { stdin: request.cloudInit }),
      });
      progress.end();
      // Exit 0 means the instance is up even if the final line got lost; its name is the requested one.
      return { name: progress.launchedName ?? request.name };
    },
    start: (instances, callOptions) => simple("start", () => buildArgv.start(instances), callOptions),
    stop: (instances, callOptions = {}) =>
      simple("stop", () => buildArgv.stop(instances, { force: callOptions.force }), callOptions),
    restart: (instances, callOptions) => simple("restart", () => buildArgv.restart(instances), callOptions),
    suspend: (instances, callOptions) => simple("suspend", () => buildArgv.suspend(instances), callOptions),
    delete: (instances, callOptions = {}) =>
      simple("delete", () => buildArgv.delete(instances, { purge: callOptions.purge }), callOptions),
    recover: (instances, callOptions) => simple("recover", () => buildArgv.recover(instances), callOptions),
    purge: (callOptions) => simple("purge", buildArgv.purge, callOptions),
    snapshots: (callOptions) => call("list", buildArgv.snapshots, parseSnapshotList, callOptions),
    snapshot: (instance, callOptions = {}) =>
      call("snapshot", () => buildArgv.snapshot(instance, { name: callOptions.name, comment: callOptions.comment }), (stdout, argv) => {
        const name = parseSnapshotTaken(stdout, instance) ?? callOptions.name;
        if (name === undefined) {
          throw new MultipassError({ kind: "bad-output", message: "multipass snapshot succeeded without saying the snapshot's name", argv, exitCode: 0, stderr: "" });
        }
        return { name };
      }, callOptions),
    restore: (instance, snapshot, callOptions) => simple("restore", () => buildArgv.restore(instance, snapshot), callOptions),
    deleteSnapshots: (instance, snapshots, callOptions) => simple("delete", () => buildArgv.deleteSnapshots(instance, snapshots), callOptions),
    exec: (request) => startExec(request, (remote) => argvWith(prefix, "exec", () => buildArgv.exec(request.instance, remote)), spawn),
  };
}
