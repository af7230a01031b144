/**
 * Real processes for end-to-end tests: a master, workers driving the
 * simulated Multipass host, and the client, each started the way a user
 * starts them. Every process started here is tracked and killed by
 * `stopAll()`; tests call it in `afterEach`/`afterAll`.
 *
 * With MULTIVERSE_BIN_DIR set, the roles run as the compiled executables in
 * that directory instead of `bun <role>.ts`, as a user who has only the
 * binaries runs them: no bun on the PATH of any process the tests start, and
 * the workers simulate Multipass with `--simulate` (the worker executable
 * plays `multipass`) instead of the stand-in script, which needs bun.
 * The executables are `multiverse-<role><MULTIVERSE_BIN_SUFFIX>`; the suffix
 * defaults to this machine's build target (`-linux-x64`).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { hostTarget } from "../../scripts/binary-header.ts";
import { pathWithoutBun } from "../../scripts/build.ts";
import { arrayOf, field, object, parseJson, string, type Json } from "../../lib/core/parse.ts";
import { simulatedMultipassCommand } from "../../lib/multipass/simulated.ts";
import { parseInfoResponse, parseInstanceView, parseNodeView, parseSessionView, type InfoResponse, type InstanceView, type NodeView, type SessionView } from "../../lib/protocol/api.ts";

export const ROOT = resolve(import.meta.dir, "../..");
export const STAND_IN = join(ROOT, "lib/sim/multipass");
/**
 * A directory with `bun` in it. npm's bun package installs the binary as
 * `bun.exe` behind a symlink, so the directory of process.execPath may hold
 * no `bun` for the stand-in's `#!/usr/bin/env bun`.
 */
const BUN_DIR = (() => {
  if (basename(process.execPath) === "bun") return dirname(process.execPath);
  const dir = mkdtempSync(join(tmpdir(), "mv-bun-"));
  symlinkSync(process.execPath, join(dir, "bun"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
})();

type Role = "master" | "worker" | "client";

/** The directory of compiled executables the roles run from, or null to run `bun <role>.ts`. */
export function binDir(): string | null {
  return process.env["MULTIVERSE_BIN_DIR"] || null;
}

function binSuffix(): string {
  const fromEnv = process.env["MULTIVERSE_BIN_SUFFIX"];
  if (fromEnv !== undefined) return fromEnv;
  const target = hostTarget(process.platform, process.arch);
  return target === null ? "" : `-${target}${process.platform === "win32" ? ".exe" : ""}`;
}

/** The argv prefix that runs a role. */
export function roleCommand(role: Role): string[] {
  const dir = binDir();
  if (dir !== null) return [join(dir, `multiverse-${role}${binSuffix()}`)];
  return [process.execPath, join(ROOT, `${role}.ts`)];
}

/**
 * The environment of every process the tests start. Running `bun <role>.ts`,
 * PATH has bun on it, so the stand-in's `#!/usr/bin/env bun` works; running
 * the executables (MULTIVERSE_BIN_DIR), PATH has no bun at all.
 */
export function envWithBun(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env["PATH"] = binDir() === null ? `${BUN_DIR}:${env["PATH"] ?? "/usr/bin:/bin"}` : pathWithoutBun(env["PATH"] ?? "/usr/bin:/bin");
  delete env["MULTIVERSE_API_TOKEN"];
  delete env["MULTIVERSE_JOIN_TOKEN"];
  delete env["MULTIVERSE_MASTER"];
  env["NO_COLOR"] = "1";
  return { ...env, ...extra };
}

const tracked = new Set<Subprocess>();
const tempDirs = new Set<string>();

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mv-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

/**
 * Processes working for the simulated host of `simDir` — shells, commands,
 * multipass exec and launch — other than its worker (`workerPid`) and the
 * worker's own short polls (list, version, info, get).
 */
export function hostProcesses(simDir: string, workerPid: number): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === workerPid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`, "latin1").includes(`MULTIPASS_SIM_DIR=${simDir}\u0000`)) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "latin1").replaceAll("\u0000", " ").trim();
      if (/ (list|version|info|get) /.test(cmd)) continue;
      found.push(`${pid} ${cmd}`);
    } catch {
      // Gone while looking, or not ours to read.
    }
  }
  return found;
}

/** Polls `check` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<NonNullable<Awaited<T>>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs}ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
    await Bun.sleep(everyMs);
  }
}

/** A running role process with its output collected as it arrives. */
export class RoleProcess {
  output = "";
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  readonly exited: Promise<number>;

  constructor(argv: string[], env: Record<string, string>) {
    this.proc = Bun.spawn(argv, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    tracked.add(this.proc);
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) this.output += decoder.decode(chunk, { stream: true });
    };
    const pumps = Promise.all([pump(this.proc.stdout), pump(this.proc.stderr)]);
    this.exited = this.proc.exited.then(async (code) => {
      await pumps.catch(() => {});
      tracked.delete(this.proc);
      return code;
    });
  }

  /** Waits for `pattern` in the output after position `from`; returns the match. */
  async waitForOutput(pattern: RegExp, timeoutMs = 10_000, from = 0): Promise<RegExpExecArray> {
    return waitFor(`${pattern} in output:\n${this.output}`, () => pattern.exec(this.output.slice(from)), timeoutMs, 20);
  }

  get pid(): number {
    return this.proc.pid;
  }

  kill(signal: NodeJS.Signals | number = "SIGTERM"): void {
    this.proc.kill(signal);
  }
}

export interface MasterHandle {
  proc: RoleProcess;
  dataDir: string;
  clusterPort: number;
  apiPort: number;
  apiUrl: string;
  apiToken: string;
  joinToken: string;
  joinTokenFile: string;
  apiTokenFile: string;
  args: string[];
}

export interface MasterOptions {
  /** `--heartbeat-interval` (default 1s); null leaves it to the master's own default. */
  heartbeat?: string | null;
  /** `--node-timeout` (default 3s); null leaves it to the master's own default. */
  nodeTimeout?: string | null;
  downGrace?: string;
  clusterPort?: number;
  apiPort?: number;
  dataDir?: string;
  /** Where the cluster server listens (default 127.0.0.1), e.g. a veth address for network tests. */
  clusterHost?: string;
  /** Where the API server listens (default 127.0.0.1), e.g. a veth address for a client in a network namespace. */
  apiHost?: string;
  extraArgs?: string[];
}

export async function startMaster(options: MasterOptions = {}): Promise<MasterHandle> {
  const dataDir = options.dataDir ?? tempDir("master");
  const args = [
    "--data-dir",
    dataDir,
    "--cluster-addr",
    `${options.clusterHost ?? "127.0.0.1"}:${options.clusterPort ?? 0}`,
    "--api-addr",
    `${options.apiHost ?? "127.0.0.1"}:${options.apiPort ?? 0}`,
    ...(options.heartbeat === null ? [] : ["--heartbeat-interval", options.heartbeat ?? "1s"]),
    ...(options.nodeTimeout === null ? [] : ["--node-timeout", options.nodeTimeout ?? "3s"]),
    "--down-grace",
    options.downGrace ?? "1h",
    ...(options.extraArgs ?? []),
  ];
  const proc = new RoleProcess([...roleCommand("master"), ...args], envWithBun());
  const cluster = await proc.waitForOutput(/cluster server on [\d.]+:(\d+)/);
  const api = await proc.waitForOutput(/api server on [\d.]+:(\d+)/);
  const apiPort = Number(api[1]);
  const joinTokenFile = join(dataDir, "join-token");
  const apiTokenFile = join(dataDir, "api-token");
  return {
    proc,
    dataDir,
    clusterPort: Number(cluster[1]),
    apiPort,
    apiUrl: `http://${options.apiHost ?? "127.0.0.1"}:${apiPort}`,
    apiToken: readFileSync(apiTokenFile, "utf8").trim(),
    joinToken: readFileSync(joinTokenFile, "utf8").trim(),
    joinTokenFile,
    apiTokenFile,
    args,
  };
}

export interface WorkerHandle {
  proc: RoleProcess;
  name: string;
  simDir: string;
}

export interface WorkerOptions {
  simDir?: string;
  pollInterval?: string;
  multipass?: string;
  /** `--simulate` (the worker plays multipass) instead of the stand-in; default with MULTIVERSE_BIN_DIR. */
  simulate?: boolean;
  extraArgs?: string[];
  env?: Record<string, string>;
  /** Wait for the join; default true. */
  waitForJoin?: boolean;
  /** The whole command line instead of the usual one (e.g. wrapped in `ip netns exec`). */
  command?: string[];
  /** The master's cluster host, when it does not listen on 127.0.0.1. */
  masterHost?: string;
}

/**
 * The worker flags that make it drive the simulated host in `simDir`: the
 * stand-in script running `bun <role>.ts`, else `--simulate` (the stand-in
 * needs bun, which the executables' PATH has not).
 */
export function workerMultipassArgs(simDir: string, simulate = binDir() !== null): string[] {
  return simulate ? ["--simulate", "--simulate-dir", simDir] : ["--multipass", STAND_IN];
}

export async function startWorker(master: Pick<MasterHandle, "clusterPort" | "joinTokenFile">, name: string, options: WorkerOptions = {}): Promise<WorkerHandle> {
  const simDir = options.simDir ?? tempDir(`sim-${name}`);
  const proc = new RoleProcess(
    options.command ?? [
      ...roleCommand("worker"),
      "--master",
      `${options.masterHost ?? "127.0.0.1"}:${master.clusterPort}`,
      "--token-file",
      master.joinTokenFile,
      "--name",
      name,
      ...(options.multipass === undefined ? workerMultipassArgs(simDir, options.simulate) : ["--multipass", options.multipass]),
      "--poll-interval",
      options.pollInterval ?? "250ms",
      ...(options.extraArgs ?? []),
    ],
    // Its own state dir: the ledger of its session processes (worker/leftovers.ts) is per host and node
    // name, and workers of other tests (or of a test run beside this one) may share a name. Its data dir
    // (its node key) goes with its host: a restart on the same simDir is the same node to the master.
    envWithBun({ MULTIPASS_SIM_DIR: simDir, XDG_STATE_HOME: tempDir("state"), XDG_DATA_HOME: join(simDir, "worker-data"), ...options.env }),
  );
  if (options.waitForJoin ?? true) await proc.waitForOutput(/joined with id/, 15_000);
  return { proc, name, simDir };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the client to completion. */
export async function runClient(args: string[], options: { env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const proc = Bun.spawn([...roleCommand("client"), ...args], {
    env: envWithBun({ HOME: tempDir("home"), ...options.env }),
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  tracked.add(proc);
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  tracked.delete(proc);
  return { code, stdout, stderr };
}

/** The client with `--master` and `--token` of `master`. */
export function client(master: MasterHandle, args: string[], options: Parameters<typeof runClient>[1] = {}): Promise<RunResult> {
  // Client options go before `--`: everything after it is the remote command.
  const dashDash = args.indexOf("--");
  const at = dashDash < 0 ? args.length : dashDash;
  return runClient([...args.slice(0, at), "--master", master.apiUrl, "--token", master.apiToken, ...args.slice(at)], options);
}

/** GET on the master API; returns the status and the JSON body. @throws ParseError when the body is not JSON */
export async function api(master: MasterHandle, path: string, token: string | null = master.apiToken): Promise<{ status: number; body: Json }> {
  const response = await fetch(master.apiUrl + path, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: response.status, body: parseJson(await response.text(), `GET ${path}`) };
}

/**
 * GET on the master API that must succeed, its body read by `read` (a
 * protocol parser). @throws Error naming the path and the status on any answer
 * but 200; ParseError when the body is not the shape `read` expects
 */
export async function apiRead<T>(master: MasterHandle, path: string, read: (body: Json) => T): Promise<T> {
  const { status, body } = await api(master, path);
  if (status !== 200) throw new Error(`GET ${path} answered ${status}: ${JSON.stringify(body).slice(0, 200)}`);
  return read(body);
}

/** `GET /api/v1/nodes`, read with the protocol's parser. */
export function apiNodes(master: MasterHandle): Promise<NodeView[]> {
  return apiRead(master, "/api/v1/nodes", (body) => arrayOf(parseNodeView)(body, "nodes"));
}

/** `GET /api/v1/instances`, read with the protocol's parser. */
export function apiInstances(master: MasterHandle): Promise<InstanceView[]> {
  return apiRead(master, "/api/v1/instances", (body) => arrayOf(parseInstanceView)(body, "instances"));
}

/** `GET /api/v1/info` with `query` (e.g. `?instance=web`), read with the protocol's parser. */
export function apiInfo(master: MasterHandle, query = ""): Promise<InfoResponse> {
  return apiRead(master, `/api/v1/info${query}`, parseInfoResponse);
}

/** `GET /api/v1/sessions`: the live sessions the master relays. */
export function apiSessions(master: MasterHandle): Promise<SessionView[]> {
  return apiRead(master, "/api/v1/sessions", (body) => arrayOf(parseSessionView)(body, "sessions"));
}

/** Every argv the simulated host of `simDir` received, in order, from its calls.log. */
export function simCalls(simDir: string): string[][] {
  return simTimedCalls(simDir).map((c) => c.argv);
}

/** Every call the simulated host of `simDir` received, in order, with when it was made (ms since the epoch). */
export function simTimedCalls(simDir: string): { time: number; argv: string[] }[] {
  const text = readFileSync(join(simDir, "calls.log"), "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line, i) => {
      const where = `calls.log:${i + 1}`;
      const o = object(parseJson(line, where), where);
      return { time: Date.parse(field(o, "time", where, string)), argv: field(o, "argv", where, arrayOf(string)) };
    });
}

/** Writes the stand-in's config.json (fault injection, step delay, a timing profile: see lib/sim/README.md). */
export function simConfig(simDir: string, config: { fault?: "down" | "hang" | "garbage" | null; stepMs?: number; timing?: "realistic" | Record<string, number | string> }): void {
  writeFileSync(join(simDir, "config.json"), JSON.stringify(config));
}

/** The simulated `multipass` of a host: the stand-in script, or the worker executable acting as it. */
export function simulatedMultipass(simDir: string): string[] {
  return binDir() === null ? [STAND_IN] : simulatedMultipassCommand(roleCommand("worker"), simDir);
}

/** Runs the simulated `multipass` directly, as someone at the host's own terminal would. */
export async function hostMultipass(simDir: string, args: string[]): Promise<RunResult> {
  const proc = Bun.spawn([...simulatedMultipass(simDir), ...args], { env: envWithBun({ MULTIPASS_SIM_DIR: simDir }), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/**
 * Ends every process this harness started: SIGTERM first, so a worker can
 * end its own multipass children, then SIGKILL for whatever is left.
 */
export async function stopAll(): Promise<void> {
  const procs = [...tracked];
  for (const p of procs) p.kill("SIGCONT");
  for (const p of procs) p.kill("SIGTERM");
  const graceful = Promise.all(procs.map((p) => p.exited));
  const timer = setTimeout(() => procs.forEach((p) => p.kill("SIGKILL")), 3000);
  await graceful;
  clearTimeout(timer);
  tracked.clear();
}

export function removeTempDirs(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/**
 * The state of each instance of the simulated host in `simDir`, read from its
 * state.json directly: unlike `multipass list`, this never waits behind a
 * stop that holds the simulated daemon.
 */
export function simStates(simDir: string): Map<string, string> {
  const path = join(simDir, "state.json");
  const state = object(parseJson(readFileSync(path, "utf8"), path), path);
  const instances = field(state, "instances", path, arrayOf(object));
  return new Map(instances.map((i, n) => [field(i, "name", `${path}.instances[${n}]`, string), typeof i["state"] === "string" ? i["state"] : "Stopped"]));
}

/** One line a {@link TimedProcess} printed, with the time it arrived (Date.now()). */
export interface TimedLine {
  at: number;
  stream: "stdout" | "stderr";
  text: string;
}

/**
 * A process whose output is kept line by line with the time each line
 * arrived, so a test can tell the order of what it printed and of what
 * happened meanwhile, without bounds on the wall clock. Tracked by `stopAll()`.
 */
export class TimedProcess {
  readonly lines: TimedLine[] = [];
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  readonly exited: Promise<number>;

  constructor(argv: string[], env: Record<string, string>) {
    this.proc = Bun.spawn(argv, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    tracked.add(this.proc);
    const pump = async (stream: ReadableStream<Uint8Array>, name: TimedLine["stream"]) => {
      const decoder = new TextDecoder();
      let partial = "";
      for await (const chunk of stream) {
        const parts = (partial + decoder.decode(chunk, { stream: true })).split("\n");
        partial = parts.pop() ?? "";
        for (const text of parts) this.lines.push({ at: Date.now(), stream: name, text });
      }
      if (partial !== "") this.lines.push({ at: Date.now(), stream: name, text: partial });
    };
    const pumps = Promise.all([pump(this.proc.stdout, "stdout"), pump(this.proc.stderr, "stderr")]);
    this.exited = this.proc.exited.then(async (code) => {
      await pumps.catch(() => {});
      tracked.delete(this.proc);
      return code;
    });
  }

  /** Everything one stream printed so far. */
  text(stream: TimedLine["stream"]): string {
    return this.lines
      .filter((l) => l.stream === stream)
      .map((l) => `${l.text}\n`)
      .join("");
  }

  /** Waits for a line matching `pattern` on either stream; returns it. @throws Error with the output so far */
  async waitForLine(pattern: RegExp, timeoutMs = 10_000): Promise<TimedLine> {
    try {
      return await waitFor(`a line matching ${pattern}`, () => this.lines.find((l) => pattern.test(l.text)), timeoutMs, 20);
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}; the output so far:\n${this.lines.map((l) => l.text).join("\n")}`);
    }
  }

  kill(signal: NodeJS.Signals | number = "SIGTERM"): void {
    this.proc.kill(signal);
  }
}
