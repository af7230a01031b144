/**
 * The worker's command line turned into its configuration. Every decision
 * about the flags lives here, where a unit test reaches it: defaults, what a
 * flag needs or excludes, and which join token wins. Pure: the entry passes
 * the parsed flags, the environment, the facts of this host and program, and
 * the readers of the files that flags name.
 */
import { join, resolve } from "node:path";
import { formatHostPort, isLoopback, parseHostPort, parseMasterAddress, type HostPort } from "../core/address.ts";
import { parseDuration } from "../core/duration.ts";
import { usageError } from "../core/errors.ts";
import { object, parseJson, type JsonObject } from "../core/parse.ts";
import { defaultDataDir } from "../core/paths.ts";
import { validateNodeName } from "../core/validate.ts";
import { selfCommand, simulatedMultipassCommand, simulationBanner } from "../multipass/simulated.ts";
import type { ServerTls } from "../net/tls.ts";
import { defaultMultipassDataPath } from "./resources.ts";
import { DEFAULT_MAX_DETACHED, DEFAULT_SESSION_GRACE_MS } from "./session-keeper.ts";

/** The most detached shells a worker may be told to keep. */
const MAX_DETACHED_LIMIT = 10_000;

/** The worker's flags, as the command-line parser hands them over. */
export interface WorkerArgs {
  master: string;
  ca?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
  token?: string;
  "token-file"?: string;
  name?: string;
  "data-dir"?: string;
  multipass: string;
  simulate: boolean;
  "simulate-dir"?: string;
  "sim-timing"?: string;
  "agent-addr"?: string;
  "advertise-addr"?: string;
  "poll-interval": string;
  "multipass-data"?: string;
  /** How long a shell whose client went away is kept; "0" = not at all. Default 10m. */
  "session-grace"?: string;
  /** Default 32. */
  "max-detached-sessions"?: string;
}

/** What the flags are read against. */
export interface FlagContext {
  env: Record<string, string | undefined>;
  platform: NodeJS.Platform;
  /** This host's name (`os.hostname()`); its first label is the default node name. */
  hostname: string;
  /** The user's home directory. */
  home: string;
  /** What relative paths are relative to. */
  cwd: string;
  /** The runtime (`process.execPath`) and the entry module (`import.meta.path`): this program, run again as `multipass`. */
  execPath: string;
  entryPath: string;
  /** The timing profiles the simulated host knows (lib/sim/timing.ts `TIMING_PRESETS`), for `--sim-timing`. */
  simTimingPresets: readonly string[];
  /**
   * Readers of the files that flags name (`readCertificate`, `serverTls` and
   * `readTokenFile` of net/). Each throws AppError E_USAGE for an unusable file.
   */
  read: {
    certificate(path: string, what: string): string;
    serverTls(certPath: string | undefined, keyPath: string | undefined): ServerTls | null;
    tokenFile(path: string): string;
  };
  /** Told each warning as soon as it is known, before any later flag fails. */
  warn(message: string): void;
}

/** What a worker runs with. */
export interface WorkerConfig {
  /** `http(s)://host:port` of the master's cluster server. */
  masterUrl: string;
  /** Trust for an https master, from `--ca`. */
  masterTls: { ca: string } | null;
  /** The agent server's certificate and key, from `--tls-cert` and `--tls-key`. */
  agentTls: ServerTls | null;
  joinToken: string;
  name: string;
  /** Where the node's key is kept (identity.ts); the platform's per-user data place by default. */
  dataDir: string;
  /** Where the agent server listens; port 0 = any free port. */
  agentAddr: HostPort;
  /** HOST:PORT the master dials; null = the address the master sees. */
  advertiseAddr: string | null;
  pollMs: number;
  /** The directory whose filesystem is reported as disk. */
  dataPath: string;
  /** The argv prefix that runs `multipass`. */
  multipassCommand: string[];
  /** Where the simulated host keeps its state; null when the worker drives a real Multipass. */
  simDir: string | null;
  /** The timing profile to write into the simulated host's config.json (`--sim-timing`); null leaves that file as it is. */
  simTiming: string | null;
  /** How long a detached shell is kept (`--session-grace`); 0: shells end with their client. */
  sessionGraceMs: number;
  /** How many detached shells are kept at most (`--max-detached-sessions`). */
  maxDetachedSessions: number;
}

/** Where a simulated host keeps its state by default: next to the master's tokens. */
export function defaultSimDir(platform: NodeJS.Platform, env: Record<string, string | undefined>, home: string): string {
  return join(defaultDataDir(platform, env, home), "simulated-multipass");
}

/** The join token: what is on the command line beats the environment. @throws AppError E_USAGE */
function joinTokenOf(args: WorkerArgs, context: FlagContext): string {
  const tokenFile = args["token-file"];
  const token = args.token ?? (tokenFile ? context.read.tokenFile(tokenFile) : undefined) ?? context.env["MULTIVERSE_JOIN_TOKEN"];
  if (!token) throw usageError("No join token: pass --token or --token-file, or set MULTIVERSE_JOIN_TOKEN (the master prints where its join token is stored)");
  return token;
}

/** The multipass the worker drives: `--multipass`, or this program playing it with `--simulate`. @throws AppError E_USAGE */
function multipassOf(args: WorkerArgs, context: FlagContext): Pick<WorkerConfig, "multipassCommand" | "simDir" | "simTiming"> {
  if (args["simulate-dir"] !== undefined && !args.simulate) throw usageError("--simulate-dir needs --simulate");
  if (args["sim-timing"] !== undefined && !args.simulate) throw usageError("--sim-timing needs --simulate");
  if (args.simulate && args.multipass !== "multipass") throw usageError("--simulate and --multipass exclude each other");
  if (!args.simulate) return { multipassCommand: [args.multipass], simDir: null, simTiming: null };
  const simDir = resolve(context.cwd, args["simulate-dir"] ?? defaultSimDir(context.platform, context.env, context.home));
  context.warn(simulationBanner(simDir).join("\n"));
  const simTiming = simTimingOf(args["sim-timing"], context.simTimingPresets);
  return { multipassCommand: simulatedMultipassCommand(selfCommand(context.execPath, context.entryPath), simDir), simDir, simTiming };
}

/** `--sim-timing`: one of the simulated host's profiles, or null when not given. @throws AppError E_USAGE */
function simTimingOf(given: string | undefined, presets: readonly string[]): string | null {
  if (given === undefined) return null;
  if (presets.includes(given)) return given;
  throw usageError(`Invalid --sim-timing "${given.slice(0, 40)}": expected one of the simulated host's timing profiles (${presets.map((p) => `"${p}"`).join(", ")})`);
}

/**
 * The simulated host's config.json with its `timing` set to `profile` and
 * every other key kept: `text` is the file as it is, null when there is none.
 * @throws AppError E_USAGE when the file is not a JSON object (it is left
 *   for its owner to fix rather than overwritten)
 */
export function simConfigWithTiming(text: string | null, profile: string, path: string): string {
  let config: JsonObject = {};
  if (text !== null && text.trim() !== "") {
    try {
      config = object(parseJson(text, path), path);
    } catch (error) {
      throw usageError(`Cannot set --sim-timing in "${path}": the file is not a JSON object (fix it or remove it)`, { cause: error });
    }
  }
  return `${JSON.stringify({ ...config, timing: profile })}\n`;
}

/** `--session-grace`: a duration, 0 allowed. @throws AppError E_USAGE */
function sessionGraceOf(given: string | undefined): number {
  if (given === undefined) return DEFAULT_SESSION_GRACE_MS;
  return parseDuration(given, "--session-grace", { minMs: 0 });
}

/** `--max-detached-sessions`: a whole number from 1. @throws AppError E_USAGE */
function maxDetachedOf(given: string | undefined): number {
  if (given === undefined) return DEFAULT_MAX_DETACHED;
  const n = Number(given.trim());
  if (!/^\d{1,6}$/.test(given.trim()) || n < 1 || n > MAX_DETACHED_LIMIT) {
    throw usageError(`Invalid --max-detached-sessions "${given.slice(0, 20)}": expected a whole number between 1 and ${MAX_DETACHED_LIMIT}`);
  }
  return n;
}

/**
 * Checks the worker's flags and settles their defaults, in the order a user
 * reads them; warns about an agent server that listens beyond loopback
 * without TLS, and about a simulated host.
 * @throws AppError E_USAGE naming the first bad flag (a file a flag names
 *   that cannot be used is a bad flag too).
 */
export function parseWorkerFlags(args: WorkerArgs, context: FlagContext): WorkerConfig {
  const master = parseMasterAddress(args.master, "--master");
  if (args.ca !== undefined && !master.tls) throw usageError("--ca is for an https master: give --master https://HOST:PORT");
  const masterTls = args.ca !== undefined ? { ca: context.read.certificate(args.ca, "CA certificate") } : null;
  const agentTls = context.read.serverTls(args["tls-cert"], args["tls-key"]);
  const joinToken = joinTokenOf(args, context);
  const name = validateNodeName(args.name ?? context.hostname.split(".")[0] ?? "worker");
  const dataDir = resolve(context.cwd, args["data-dir"] ?? defaultDataDir(context.platform, context.env, context.home));
  const agentAddr = parseHostPort(args["agent-addr"] ?? (isLoopback(master.addr.host) ? "127.0.0.1:0" : "0.0.0.0:1339"), "--agent-addr", { allowZero: true });
  if (!agentTls && !isLoopback(agentAddr.host)) {
    context.warn(`the agent server listens on ${formatHostPort(agentAddr)} without TLS: the master's calls travel in clear text (use --tls-cert and --tls-key)`);
  }
  const advertise = args["advertise-addr"];
  const advertiseAddr = advertise ? formatHostPort(parseHostPort(advertise, "--advertise-addr")) : null;
  const pollMs = parseDuration(args["poll-interval"], "--poll-interval", { minMs: 100, maxMs: 600_000 });
  const dataPath = args["multipass-data"] ?? defaultMultipassDataPath(context.platform);
  const sessionGraceMs = sessionGraceOf(args["session-grace"]);
  const maxDetachedSessions = maxDetachedOf(args["max-detached-sessions"]);
  return {
    masterUrl: master.url,
    masterTls,
    agentTls,
    joinToken,
    name,
    dataDir,
    agentAddr,
    advertiseAddr,
    pollMs,
    dataPath,
    sessionGraceMs,
    maxDetachedSessions,
    ...multipassOf(args, context),
  };
}
