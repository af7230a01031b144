/**
 * The client's config file: named contexts, each a master and how to reach
 * it (its token, its CA or pinned certificate fingerprint), and the current
 * one. YAML, close to kubectl's habits:
 *
 * ```yaml
 * current-context: prod
 * contexts:
 *   - name: prod
 *     master: https://10.0.0.5:1338
 *     tokenFile: /home/me/.secrets/prod-token   # or token: mva_…, or tokenCommand: [pass, show, prod]
 *     ca: /home/me/.config/multiverse/prod.crt  # optional
 *     fingerprint: "AB:12:…"                    # optional: SHA-256 of the master's certificate, pinned
 * ```
 *
 * Read with errors that name the line; written whole (a temporary file
 * renamed over it), mode 0600 in a directory of mode 0700.
 */
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { stringify } from "yaml";
import { AppError, messageOf, usageError } from "../core/errors.ts";
import { parseMasterAddress } from "../core/address.ts";
import { stripControl } from "../core/format.ts";
import { readYamlDocument, type YamlDocument } from "../cli/yaml-document.ts";

/** One named master; its token comes from at most one of token, tokenFile, tokenCommand. */
export interface ConfigContext {
  name: string;
  /** The master's API URL, normalized (`https://host:port`). */
  master: string;
  token?: string;
  tokenFile?: string;
  /** A program and its arguments (no shell) that prints the token. */
  tokenCommand?: string[];
  ca?: string;
  /** SHA-256 of the master's certificate, `AB:CD:…` upper case. */
  fingerprint?: string;
}

export interface ClientConfig {
  currentContext: string | null;
  contexts: ConfigContext[];
}

const CONTEXT_KEYS = new Set(["name", "master", "token", "tokenFile", "tokenCommand", "ca", "fingerprint"]);
const TOP_KEYS = new Set(["current-context", "contexts"]);
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Bounds of a config file and of a token command's run. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
export const TOKEN_COMMAND_TIMEOUT_MS = 10_000;
const MAX_TOKEN_OUTPUT = 64 * 1024;

/** The empty config: what a missing file means. */
export function emptyConfig(): ClientConfig {
  return { currentContext: null, contexts: [] };
}

/** Checks a context name. @throws AppError E_USAGE */
export function checkContextName(name: string): string {
  if (!NAME.test(name)) throw usageError(`Invalid context name "${name.slice(0, 80)}": expected letters, digits, ".", "_" or "-" (at most 63, starting with a letter or digit)`);
  return name;
}

/** `AB:CD:…`, `abcd…` → `AB:CD:…` (64 hex digits). @throws AppError E_USAGE */
export function parseFingerprint(text: string): string {
  const hex = text.trim().replace(/:/g, "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) throw usageError(`Invalid fingerprint "${text.slice(0, 120)}": expected the SHA-256 of a certificate, 64 hex digits (AB:CD:… as openssl prints it)`);
  return hex.match(/../g)!.join(":");
}

/**
 * Parses and checks the text of a config file; `file` names it in errors.
 * @throws AppError E_USAGE naming the file and the line of the first problem
 */
export function parseConfig(text: string, file: string): ClientConfig {
  let doc: YamlDocument;
  try {
    doc = readYamlDocument(text, file);
  } catch (error) {
    const { line, reason } = (error instanceof AppError ? error.details : undefined) ?? {};
    const at = typeof line === "number" ? ` (line ${line})` : "";
    throw usageError(`Cannot read the config file "${file}"${at}: ${typeof reason === "string" ? reason : messageOf(error)}`, { cause: error });
  }
  const at = (path: (string | number)[]) => {
    const line = doc.lineOf(path);
    return line === null ? "" : ` (line ${line})`;
  };
  const bad = (path: (string | number)[], why: string) => usageError(`Invalid config file "${file}"${at(path)}: ${why}`);
  const data: unknown = doc.value;
  if (data === null || data === undefined) return emptyConfig();
  if (typeof data !== "object" || Array.isArray(data)) throw bad([], "expected a mapping with current-context and contexts");
  for (const key of Object.keys(data)) if (!TOP_KEYS.has(key)) throw bad([key], `unknown key "${key.slice(0, 40)}" (expected current-context, contexts)`);
  const top = data as Record<string, unknown>;
  const list = top["contexts"] ?? [];
  if (!Array.isArray(list)) throw bad(["contexts"], "contexts must be a list");
  const contexts = list.map((entry, i) => parseContext(entry, (key, why) => bad(["contexts", i, ...(key ? [key] : [])], why)));
  const names = new Set<string>();
  contexts.forEach((c, i) => {
    if (names.has(c.name)) throw bad(["contexts", i, "name"], `context "${c.name}" appears twice`);
    names.add(c.name);
  });
  const current = top["current-context"] ?? null;
  if (current !== null && (typeof current !== "string" || !names.has(current))) throw bad(["current-context"], `current-context "${String(current).slice(0, 80)}" names no context`);
  return { currentContext: current, contexts };
}

function parseContext(entry: unknown, bad: (key: string | null, why: string) => AppError): ConfigContext {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw bad(null, "each context must be a mapping");
  const e = entry as Record<string, unknown>;
  for (const key of Object.keys(e)) if (!CONTEXT_KEYS.has(key)) throw bad(key, `unknown key "${key.slice(0, 40)}" (expected ${[...CONTEXT_KEYS].join(", ")})`);
  const text = (key: string): string | undefined => {
    const v = e[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v === "") throw bad(key, `${key} must be a non-empty string`);
    return v;
  };
  const name = text("name");
  if (name === undefined) throw bad(null, "a context needs a name");
  if (!NAME.test(name)) throw bad("name", `invalid context name "${name.slice(0, 80)}"`);
  const masterText = text("master");
  if (masterText === undefined) throw bad(null, `context "${name}" needs a master`);
  const wrap = <T>(key: string, f: () => T): T => {
    try {
      return f();
    } catch (error) {
      throw bad(key, messageOf(error));
    }
  };
  const master = wrap("master", () => parseMasterAddress(masterText, "master").url);
  const given = ["token", "tokenFile", "tokenCommand"].filter((k) => e[k] !== undefined);
  if (given.length > 1) throw bad(given[1]!, `context "${name}" gives ${given.join(" and ")}: give one`);
  const context: ConfigContext = { name, master };
  const token = text("token");
  const tokenFile = text("tokenFile");
  if (token !== undefined) context.token = token;
  if (tokenFile !== undefined) context.tokenFile = tokenFile;
  if (e["tokenCommand"] !== undefined) {
    const argv = e["tokenCommand"];
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string") || argv[0] === "") {
      throw bad("tokenCommand", "tokenCommand must be a list of strings (the program and its arguments, run without a shell)");
    }
    context.tokenCommand = argv as string[];
  }
  const ca = text("ca");
  if (ca !== undefined) context.ca = ca;
  const fp = text("fingerprint");
  if (fp !== undefined) context.fingerprint = wrap("fingerprint", () => parseFingerprint(fp));
  return context;
}

/** The YAML text of a config; with `redact`, a literal token shows as REDACTED. */
export function formatConfig(config: ClientConfig, options: { redact?: boolean } = {}): string {
  const contexts = config.contexts.map((c) => (c.token !== undefined && options.redact ? { ...c, token: "REDACTED" } : c));
  return stringify({ "current-context": config.currentContext, contexts });
}

/**
 * Reads the config file; a missing one is the empty config.
 * @throws AppError E_USAGE when it cannot be read or is damaged
 */
export function readConfig(file: string): ClientConfig {
  if (!existsSync(file)) return emptyConfig();
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw usageError(`Cannot read the config file "${file}": ${messageOf(error)}`);
  }
  if (text.length > MAX_CONFIG_BYTES) throw usageError(`The config file "${file}" is over ${MAX_CONFIG_BYTES} bytes`);
  return parseConfig(text, file);
}

/**
 * Writes the config file whole: a temporary file (mode 0600) renamed over it,
 * so a reader sees the old file or the new one, never half of one.
 * @throws AppError E_STORAGE when it cannot be written
 */
export function writeConfig(file: string, config: ClientConfig): void {
  const dir = dirname(file);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, formatConfig(config));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw new AppError("E_STORAGE", `Cannot write the config file "${file}": ${messageOf(error)}`, { cause: error });
  }
}

/** The context called `name`. @throws AppError E_USAGE naming the contexts there are */
export function findContext(config: ClientConfig, name: string, file: string): ConfigContext {
  const found = config.contexts.find((c) => c.name === name);
  if (found) return found;
  const known = config.contexts.map((c) => c.name);
  throw usageError(`No context "${name.slice(0, 80)}" in "${file}"${known.length ? ` (contexts: ${known.join(", ")})` : " (it has none: add one with multiverse login or config set-context)"}`);
}

/** How a context authenticates, for get-contexts: token, tokenFile, tokenCommand or none. */
export function authKind(context: ConfigContext): string {
  if (context.token !== undefined) return "token";
  if (context.tokenFile !== undefined) return "tokenFile";
  if (context.tokenCommand !== undefined) return "tokenCommand";
  return "none";
}

/**
 * Runs a context's tokenCommand (an argv, no shell) for its token: the first
 * line of its output, within a time and size bound.
 * @throws AppError E_USAGE when it fails, times out or prints nothing
 */
export function runTokenCommand(argv: string[], context: string, timeoutMs = TOKEN_COMMAND_TIMEOUT_MS): string {
  const what = `The tokenCommand of context "${context}" (${JSON.stringify(argv[0]).slice(0, 80)})`;
  let r;
  try {
    r = Bun.spawnSync(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, maxBuffer: MAX_TOKEN_OUTPUT });
  } catch (error) {
    throw usageError(`${what} could not run: ${messageOf(error)}`);
  }
  if (r.exitedDueToTimeout) throw usageError(`${what} did not finish within ${timeoutMs / 1000}s`);
  if (r.exitedDueToMaxBuffer) throw usageError(`${what} printed more than ${MAX_TOKEN_OUTPUT} bytes`);
  if (r.exitCode !== 0) throw usageError(`${what} exited with ${r.exitCode ?? r.signalCode}: ${stripControl(r.stderr.toString().trim().slice(0, 200))}`);
  const token = (r.stdout.toString().split("\n")[0] ?? "").trim();
  if (token === "") throw usageError(`${what} printed no token`);
  return token;
}
