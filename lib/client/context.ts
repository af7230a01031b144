/**
 * What every client command shares: its context (the process, supplied by
 * the entry script), the connection options, and how they become an API
 * client.
 */
import { existsSync } from "node:fs";
import type { ArgsDef } from "citty";
import { createApiClient, DEFAULT_MASTER, type ApiClient, type ClientTls } from "./api-client.ts";
import { findContext, readConfig, runTokenCommand, type ConfigContext } from "./config.ts";
import { isLoopback, parseMasterAddress, type HostPort } from "../core/address.ts";
import { colors, type Colors } from "./tables.ts";
import { parseInstanceView } from "../protocol/api.ts";
import { PRIMARY_NAME } from "../protocol/operations.ts";
import { arrayOf } from "../core/parse.ts";
import { messageOf, usageError } from "../core/errors.ts";
import type { TerminalIo } from "./terminal-io.ts";
import { readCertificate } from "../net/tls.ts";
import { readTokenFile } from "../net/tokens.ts";
import { parseInstanceRef } from "../core/validate.ts";

/** What the client needs from its process; the entry script provides it. */
export interface ClientContext {
  env: Record<string, string | undefined>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stdout is a terminal (colours, interactive forms). */
  isTTY: boolean;
  /** Whether stderr is a terminal (colours of warnings and errors). */
  stderrIsTTY: boolean;
  /** The API token file of a master with default settings on this machine, tried last. */
  defaultTokenFile: string;
  /** The local terminal, for shell and exec. */
  terminal: TerminalIo;
  /** The argv that runs this client again (the executable, or bun and client.ts): ssh-config's ProxyCommand. */
  self?: readonly string[];
  /** The user's home directory (the default SSH key of ssh-key add and launch --ssh-key). */
  home?: string;
  /** The client's config file (its contexts, lib/client/config.ts); without it, there are none. */
  configFile?: string;
}

export { DEFAULT_MASTER };

export const common = {
  master: { type: "string", valueHint: "URL", description: `Master API URL (env MULTIVERSE_MASTER; default ${DEFAULT_MASTER})` },
  token: { type: "string", valueHint: "TOKEN", description: "API token (env MULTIVERSE_API_TOKEN)" },
  "token-file": { type: "string", valueHint: "FILE", description: "File holding the API token" },
  ca: { type: "string", valueHint: "FILE", description: "CA (or self-signed) certificate of an https master (env MULTIVERSE_CA)" },
  context: { type: "string", valueHint: "NAME", description: "Context of the config file to use (default: its current-context)" },
  json: { type: "boolean", default: false, description: "Print the API's JSON instead of a table" },
  verbose: { type: "boolean", default: false, description: "Show stack traces of failures" },
} as const satisfies ArgsDef;

/** The options of the commands that change the cluster: `--json` prints the API's answer. */
export const writeArgs = {
  master: common.master,
  token: common.token,
  "token-file": common["token-file"],
  ca: common.ca,
  context: common.context,
  json: { type: "boolean", default: false, description: "Print the API's JSON answer" },
  verbose: common.verbose,
} as const satisfies ArgsDef;

export type CommonArgs = { master?: string; token?: string; "token-file"?: string; ca?: string; context?: string; json: boolean };

/** The port of a local master with default settings: its API token file is for it alone. */
const LOCAL_API_PORT = parseMasterAddress(DEFAULT_MASTER, "master").addr.port;

/** The token for the master at `addr` and where it came from, or where the client looked when it found none. */
function tokenFor(args: CommonArgs, ctx: ClientContext, addr: HostPort, context: ConfigContext | null): { token: string | null; source: string; missing: string } {
  // What is on the command line beats the environment, which beats the context.
  if (args.token) return { token: args.token, source: "given with --token", missing: "" };
  if (args["token-file"]) return { token: readTokenFile(args["token-file"]), source: `read from --token-file ${args["token-file"]}`, missing: "" };
  if (ctx.env["MULTIVERSE_API_TOKEN"]) return { token: ctx.env["MULTIVERSE_API_TOKEN"], source: "from MULTIVERSE_API_TOKEN", missing: "" };
  if (context) {
    const source = `from context "${context.name}" of ${ctx.configFile}`;
    if (context.token !== undefined) return { token: context.token, source, missing: "" };
    if (context.tokenFile !== undefined) return { token: readTokenFile(context.tokenFile), source, missing: "" };
    if (context.tokenCommand !== undefined) return { token: runTokenCommand(context.tokenCommand, context.name), source, missing: "" };
  }
  const give = "give one with --token or --token-file, or set MULTIVERSE_API_TOKEN, or use a context (multiverse login URL)";
  // The token file on disk belongs to the master on this machine: never send it anywhere else.
  if (!isLoopback(addr.host) || addr.port !== LOCAL_API_PORT) {
    return { token: null, source: "", missing: `no token was given (the token file of this machine, ${ctx.defaultTokenFile}, is only sent to the local master at port ${LOCAL_API_PORT}): ${give}` };
  }
  if (existsSync(ctx.defaultTokenFile)) {
    try {
      const source = `found in ${ctx.defaultTokenFile} (none was given: ${give})`;
      return { token: readTokenFile(ctx.defaultTokenFile), source, missing: "" };
    } catch (error) {
      return { token: null, source: "", missing: `no token was given and ${ctx.defaultTokenFile} could not be read (${messageOf(error)}): ${give}` };
    }
  }
  return { token: null, source: "", missing: `no token was given and none was found in ${ctx.defaultTokenFile}: ${give}` };
}

/**
 * Limit of a short call: a listing from the master's cache or a launch plan,
 * answered at once by a healthy master. Calls that wait for a host stream
 * instead, watched for silence (api-client.ts), and `info` waits longer
 * than the per-node limit it asks for.
 */
export const SHORT_CALL_MS = 30_000;

/**
 * The context a command uses: `--context NAME`, else the config file's
 * current-context, else none.
 * @throws AppError E_USAGE when the file is damaged or names no such context
 */
export function selectedContext(args: Pick<CommonArgs, "context">, ctx: Pick<ClientContext, "configFile">): ConfigContext | null {
  if (args.context !== undefined && ctx.configFile === undefined) throw usageError("--context needs a config file, and this client has none");
  if (ctx.configFile === undefined) return null;
  const config = readConfig(ctx.configFile);
  const name = args.context ?? config.currentContext;
  return name === null ? null : findContext(config, name, ctx.configFile);
}

/**
 * An API client for the master the options name. Precedence, for each of the
 * master, token and CA: flags > environment > the selected context > the
 * local master's token file. A context's token, CA and pinned fingerprint go
 * only to the master it names: with another master (from a flag or the
 * environment), the context is set aside whole.
 * @throws AppError E_USAGE for a bad address, file or context
 */
export function apiFor(args: CommonArgs, ctx: ClientContext): ApiClient {
  const selected = selectedContext(args, ctx);
  const { url: baseUrl, addr } = parseMasterAddress(args.master ?? ctx.env["MULTIVERSE_MASTER"] ?? selected?.master ?? DEFAULT_MASTER, "master");
  const context = selected !== null && selected.master === baseUrl ? selected : null;
  const caPath = args.ca ?? ctx.env["MULTIVERSE_CA"] ?? context?.ca;
  const ca = caPath ? { ca: readCertificate(caPath, "CA certificate") } : {};
  const pin = context?.fingerprint;
  const tls: ClientTls | undefined = pin ? { ...ca, checkServerIdentity: pinnedFingerprint(pin) } : caPath ? ca : undefined;
  const { token, source, missing } = tokenFor(args, ctx, addr, context);
  const setAside = selected !== null && context === null ? ` (context "${selected.name}" is for ${selected.master}: its token goes only there)` : "";
  return createApiClient({ baseUrl, token, tokenSource: source, missingToken: missing + setAside, timeoutMs: SHORT_CALL_MS, ...(tls ? { tls } : {}) });
}

/** A TLS check that accepts only a certificate whose SHA-256 fingerprint is `pin`. */
export function pinnedFingerprint(pin: string): NonNullable<ClientTls["checkServerIdentity"]> {
  return (_host, cert) =>
    cert.fingerprint256?.toUpperCase() === pin ? undefined : new Error(`the master's certificate (SHA-256 ${cert.fingerprint256 ?? "unknown"}) is not the one pinned by the context (${pin})`);
}

/**
 * `NAME` or `NAME@NODE` → the one instance it names, as `NAME@NODE`. Asking
 * first gives clear errors (ambiguous, missing, token refused) that a refused
 * WebSocket upgrade could not carry.
 */
export async function resolveRef(api: ApiClient, text: string): Promise<string> {
  parseInstanceRef(text);
  const answer = await api.get(`/api/v1/instances/${encodeURIComponent(text)}`);
  const instance = parseInstanceView(answer.json, "instance");
  return `${instance.name}@${instance.node}`;
}

/**
 * The instance a verb given no NAME acts on, as `NAME@NODE`: the one named
 * `primary`, as in Multipass, but only when exactly one instance of that name
 * exists in the cluster. Multipass's `start` and `shell` of a missing primary
 * would launch a new VM with the host account's home mounted in it; a
 * guess between several would act on the wrong one.
 * @throws AppError E_USAGE when there is none or several
 */
export async function defaultInstance(api: ApiClient, verb: string): Promise<string> {
  const instances = arrayOf(parseInstanceView)((await api.get("/api/v1/instances")).json, "instances").filter((i) => i.name === PRIMARY_NAME);
  const [only] = instances;
  if (only !== undefined && instances.length === 1) return `${only.name}@${only.node}`;
  if (only === undefined) throw usageError(`Name the instance to ${verb}: there is no instance named "${PRIMARY_NAME}" to default to`);
  const candidates = instances.map((i) => `${i.name}@${i.node}`).sort();
  throw usageError(`Name the instance to ${verb}: "${PRIMARY_NAME}" is on several nodes (${candidates.join(", ")})`);
}

/** Colours for what goes to `stream`: only on a terminal, never with NO_COLOR set. */
export function paint(ctx: Pick<ClientContext, "env" | "isTTY" | "stderrIsTTY">, stream: "stdout" | "stderr" = "stdout"): Colors {
  return colors((stream === "stdout" ? ctx.isTTY : ctx.stderrIsTTY) && !ctx.env["NO_COLOR"]);
}

