/**
 * `client config`: the contexts of the config file (config.ts) — list them,
 * pick the current one, add or change one, delete one, and view the file
 * with its secrets redacted.
 */
import { resolve as absolutePath } from "node:path";
import { defineCommand } from "citty";
import { paint, type ClientContext } from "./context.ts";
import { authKind, checkContextName, findContext, formatConfig, parseFingerprint, readConfig, writeConfig, type ClientConfig, type ConfigContext } from "./config.ts";
import { parseMasterAddress } from "../core/address.ts";
import { usageError } from "../core/errors.ts";
import { readCertificate } from "../net/tls.ts";
import { renderTable } from "./tables.ts";
import { withNotes } from "../cli/help.ts";

/** The config file of this client. @throws AppError E_USAGE when it has none */
export function configFileOf(ctx: Pick<ClientContext, "configFile">): string {
  if (ctx.configFile === undefined) throw usageError("This client has no config file");
  return ctx.configFile;
}

/** `config`'s own options: the contexts are local, no master is asked. */
const verbose = { type: "boolean", default: false, description: "Show stack traces of failures" } as const;

function getContexts(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "get-contexts", description: "List the contexts of the config file (* marks the current one)" },
    args: { verbose },
    run() {
      const config = readConfig(configFileOf(ctx));
      if (config.contexts.length === 0) return void ctx.stdout("No contexts: add one with multiverse login URL or multiverse config set-context.\n");
      const rows = config.contexts.map((c) => [c.name === config.currentContext ? "*" : "", c.name, c.master, authKind(c) + (c.fingerprint ? ", pinned" : "")]);
      ctx.stdout(renderTable(["CURRENT", "NAME", "MASTER", "AUTH"], rows, paint(ctx)));
    },
  });
}

function useContext(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "use-context", description: "Make NAME the current context" },
    args: { name: { type: "positional", required: true, description: "Context name" }, verbose },
    run({ args }) {
      const file = configFileOf(ctx);
      const config = readConfig(file);
      findContext(config, args.name, file);
      writeConfig(file, { ...config, currentContext: args.name });
      ctx.stdout(`Switched to context "${args.name}".\n`);
    },
  });
}

/** The context `set-context` makes of `old` (or nothing) and its options. @throws AppError E_USAGE */
export function mergeContext(
  name: string,
  old: ConfigContext | undefined,
  opts: { master?: string; token?: string; tokenFile?: string; tokenCommand?: string; ca?: string; fingerprint?: string },
): ConfigContext {
  checkContextName(name);
  const sources = [opts.token, opts.tokenFile, opts.tokenCommand].filter((v) => v !== undefined);
  if (sources.length > 1) throw usageError("Give one of --token, --token-file and --token-command");
  if (opts.ca !== undefined && opts.fingerprint !== undefined) throw usageError("Give --ca or --fingerprint, not both");
  const masterText = opts.master ?? old?.master;
  if (masterText === undefined) throw usageError(`A new context needs --master URL`);
  const next: ConfigContext = { name, master: parseMasterAddress(masterText, "--master").url };
  if (sources.length === 0 && old) {
    if (old.token !== undefined) next.token = old.token;
    if (old.tokenFile !== undefined) next.tokenFile = old.tokenFile;
    if (old.tokenCommand !== undefined) next.tokenCommand = old.tokenCommand;
  }
  if (opts.token !== undefined) next.token = opts.token;
  if (opts.tokenFile !== undefined) next.tokenFile = absolutePath(opts.tokenFile);
  if (opts.tokenCommand !== undefined) {
    const argv = opts.tokenCommand.trim().split(/\s+/).filter((a) => a !== "");
    if (argv.length === 0) throw usageError("--token-command is empty");
    next.tokenCommand = argv;
  }
  const trust = opts.ca !== undefined || opts.fingerprint !== undefined ? opts : (old ?? {});
  if (trust.ca !== undefined) {
    readCertificate(trust.ca, "CA certificate");
    next.ca = absolutePath(trust.ca);
  }
  if (trust.fingerprint !== undefined) next.fingerprint = parseFingerprint(trust.fingerprint);
  return next;
}

function setContext(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes({ name: "set-context", description: "Add the context NAME, or change the settings given of an existing one" }, [
      "--token-command is split at spaces into a program and its arguments, run without a shell; edit the file for arguments that hold spaces.",
    ]),
    args: {
      name: { type: "positional", required: true, description: "Context name" },
      master: { type: "string", valueHint: "URL", description: "Master API URL (required for a new context)" },
      "token-file": { type: "string", valueHint: "FILE", description: "File holding the API token, read at each command" },
      "token-command": { type: "string", valueHint: "COMMAND", description: "Program printing the API token, run at each command" },
      token: { type: "string", valueHint: "TOKEN", description: "The API token itself, kept in the file (mode 0600)" },
      ca: { type: "string", valueHint: "FILE", description: "CA (or self-signed) certificate of an https master" },
      fingerprint: { type: "string", valueHint: "SHA256", description: "Pinned SHA-256 fingerprint of the master's certificate" },
      verbose,
    },
    run({ args }) {
      const file = configFileOf(ctx);
      const config = readConfig(file);
      const old = config.contexts.find((c) => c.name === args.name);
      const next = mergeContext(args.name, old, { master: args.master, token: args.token, tokenFile: args["token-file"], tokenCommand: args["token-command"], ca: args.ca, fingerprint: args.fingerprint });
      writeConfig(file, withContext(config, next, false));
      ctx.stdout(`Context "${args.name}" ${old ? "changed" : "added"} in ${file}.\n`);
    },
  });
}

/** `config` with `context` added or replaced (in place), made current when `current` or when it is the only one. */
export function withContext(config: ClientConfig, context: ConfigContext, current: boolean): ClientConfig {
  const at = config.contexts.findIndex((c) => c.name === context.name);
  const contexts = at < 0 ? [...config.contexts, context] : config.contexts.map((c, i) => (i === at ? context : c));
  const currentContext = current || config.currentContext === null ? context.name : config.currentContext;
  return { currentContext, contexts };
}

function deleteContext(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "delete-context", description: "Delete the context NAME (the current one leaves no context current)" },
    args: { name: { type: "positional", required: true, description: "Context name" }, verbose },
    run({ args }) {
      const file = configFileOf(ctx);
      const config = readConfig(file);
      findContext(config, args.name, file);
      const currentContext = config.currentContext === args.name ? null : config.currentContext;
      writeConfig(file, { currentContext, contexts: config.contexts.filter((c) => c.name !== args.name) });
      ctx.stdout(`Deleted context "${args.name}".\n`);
    },
  });
}

function viewConfig(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "view", description: "Print the config file, a literal token shown as REDACTED" },
    args: { verbose },
    run() {
      ctx.stdout(formatConfig(readConfig(configFileOf(ctx)), { redact: true }));
    },
  });
}

/** `config` and its sub-commands. */
export function configCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "config", description: "Contexts: the masters of the config file, their tokens, and which one commands use" },
    subCommands: {
      "get-contexts": getContexts(ctx),
      "use-context": useContext(ctx),
      "set-context": setContext(ctx),
      "delete-context": deleteContext(ctx),
      view: viewConfig(ctx),
    },
  });
}
