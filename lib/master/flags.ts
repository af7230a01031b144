/**
 * The master's command line, checked: every decision the entry used to make
 * about its flags and its tokens, as pure functions the tests reach. The
 * entry passes in its parsed flags and its environment; nothing here reads
 * `process` or touches a file.
 */
import { join } from "node:path";
import { formatHostPort, isLoopback, parseHostPort, type HostPort } from "../core/address.ts";
import { parseDuration } from "../core/duration.ts";
import { usageError } from "../core/errors.ts";
import { defaultDataDir } from "../core/paths.ts";
import type { TokenKind } from "../net/tokens.ts";
import { MAX_INFO_TIMEOUT_MS } from "../protocol/api.ts";

/** The master's flags as citty parses them (defaults filled in). */
export interface MasterArgs {
  "cluster-addr": string;
  "api-addr": string;
  "data-dir"?: string;
  "heartbeat-interval": string;
  "down-grace": string;
  "tls-cert"?: string;
  "tls-key"?: string;
  "node-timeout": string;
  "cpu-overcommit": string;
  "metrics-token-file"?: string;
  verbose: boolean;
}

/** What the master runs with, from its flags and environment. */
export interface MasterConfig {
  clusterAddr: HostPort;
  apiAddr: HostPort;
  heartbeatMs: number;
  downGraceMs: number;
  nodeTimeoutMs: number;
  dataDir: string;
  /** `<data-dir>/events.jsonl`: an older master's audit trail, imported once into master.db (audit-store.ts). */
  auditImportPath: string;
  cpuOvercommit: number;
  /** The files of --tls-cert and --tls-key, as given (net/tls.ts reads and checks them). */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** The file of --metrics-token-file (read once at start by the entry), or undefined: only the API token opens /metrics. */
  metricsTokenFile: string | undefined;
  /** Tokens from the environment; each beats the token file of its kind. */
  tokenOverrides: Record<TokenKind, string | undefined>;
  verbose: boolean;
}

/** The facts of the host the defaults depend on. */
export interface MasterHost {
  env: Record<string, string | undefined>;
  platform: NodeJS.Platform;
  home: string;
}

/**
 * Checks the flags, in the order they are listed, and fills in the defaults.
 * @throws AppError E_USAGE naming the first bad flag and its value.
 */
export function parseMasterFlags(args: MasterArgs, host: MasterHost): MasterConfig {
  const clusterAddr = parseHostPort(args["cluster-addr"], "--cluster-addr", { allowZero: true });
  const apiAddr = parseHostPort(args["api-addr"], "--api-addr", { allowZero: true });
  const heartbeatMs = parseDuration(args["heartbeat-interval"], "--heartbeat-interval", { minMs: 100, maxMs: 300_000 });
  const downGraceMs = parseDuration(args["down-grace"], "--down-grace", { minMs: 0 });
  const nodeTimeoutMs = parseDuration(args["node-timeout"], "--node-timeout", { minMs: 100, maxMs: MAX_INFO_TIMEOUT_MS });
  const dataDir = args["data-dir"] ?? defaultDataDir(host.platform, host.env, host.home);
  return {
    clusterAddr,
    apiAddr,
    heartbeatMs,
    downGraceMs,
    nodeTimeoutMs,
    dataDir,
    auditImportPath: join(dataDir, "events.jsonl"),
    cpuOvercommit: parseCpuOvercommit(args["cpu-overcommit"]),
    tlsCert: args["tls-cert"],
    tlsKey: args["tls-key"],
    metricsTokenFile: args["metrics-token-file"],
    tokenOverrides: { join: host.env["MULTIVERSE_JOIN_TOKEN"], api: host.env["MULTIVERSE_API_TOKEN"] },
    verbose: args.verbose,
  };
}

/** `--cpu-overcommit`: a plain decimal ratio from 1 to 64. @throws AppError E_USAGE */
export function parseCpuOvercommit(text: string): number {
  const ratio = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || ratio < 1 || ratio > 64) {
    throw usageError(`Invalid --cpu-overcommit "${text}": expected a ratio from 1 to 64`);
  }
  return ratio;
}

/** The warnings for listeners beyond loopback without TLS, where tokens would travel in clear text. */
export function clearTextWarnings(config: Pick<MasterConfig, "clusterAddr" | "apiAddr">, tls: boolean): string[] {
  if (tls) return [];
  const listeners = [["--cluster-addr", config.clusterAddr], ["--api-addr", config.apiAddr]] as const;
  return listeners
    .filter(([, addr]) => !isLoopback(addr.host))
    .map(([flag, addr]) => `${flag} ${formatHostPort(addr)} is not loopback and TLS is off: tokens travel in clear text (use --tls-cert and --tls-key)`);
}

/**
 * The read-only token of `GET /metrics`, as read from its file: it must not
 * be the join or the API token, or "read-only" would not be true.
 * @throws AppError E_USAGE
 */
export function checkMetricsToken(token: string, others: { join: string; api: string }): string {
  if (token === others.api || token === others.join) {
    throw usageError("The --metrics-token-file token must differ from the join and API tokens: it only opens GET /metrics");
  }
  if (!/^[\x21-\x7e]{16,512}$/.test(token)) throw usageError("The --metrics-token-file token must be 16 to 512 printable characters without spaces");
  return token;
}

/** A token as net/tokens.ts loads it: from the environment, its file, or freshly created there. */
export interface LoadedToken {
  token: string;
  source: "env" | "file" | "created";
  path: string;
}

/** Loads (or creates) the token of a kind; an override (from the environment) wins and is never written. */
export type TokenLoader = (dataDir: string, kind: TokenKind, override?: string) => LoadedToken;

/**
 * The join and API tokens, each from the environment when set there, else
 * from its file in the data dir (created on first use), and a line for the
 * log saying where each came from.
 * @throws AppError E_USAGE when the two are the same token (a stolen worker
 *   credential must not drive the API), or what `load` throws.
 */
export function loadMasterTokens(config: Pick<MasterConfig, "dataDir" | "tokenOverrides">, load: TokenLoader): { join: string; api: string; notes: string[] } {
  const join = load(config.dataDir, "join", config.tokenOverrides.join);
  const api = load(config.dataDir, "api", config.tokenOverrides.api);
  if (join.token === api.token) throw usageError("The join token and the API token must differ");
  const notes = ([["join", join], ["API", api]] as const).map(([kind, t]) =>
    t.source === "env" ? `${kind} token: from the environment` : `${kind} token: ${t.path}${t.source === "created" ? " (created)" : ""}`,
  );
  return { join: join.token, api: api.token, notes };
}
