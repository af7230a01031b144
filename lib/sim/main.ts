/**
 * Entry logic of the simulated `multipass` client: logs the call, picks the
 * command like ArgParser::parse (first pass with the global options only), parses
 * the command's options like commandParse, and runs the handler.
 */

import { parseQt, type QtParse } from "./args.ts";
import { commandHelp, findCommand, GLOBAL_OPTIONS, generalHelp, UNSUPPORTED } from "./commands.ts";
import { createContext, EXIT, type SimContext } from "./context.ts";
import { loadConfig, logCall, simPaths } from "./store.ts";

type Handler = (ctx: SimContext, args: QtParse) => Promise<number>;

/** Handlers are imported on demand so that a `list` does not load exec or launch code. */
const HANDLERS: Record<string, () => Promise<Handler>> = {
  delete: async () => (await import("./remove.ts")).runDelete,
  exec: async () => (await import("./exec.ts")).runExec,
  get: async () => (await import("./query.ts")).runGet,
  info: async () => (await import("./query.ts")).runInfo,
  launch: async () => (await import("./launch.ts")).runLaunch,
  list: async () => (await import("./query.ts")).runList,
  purge: async () => (await import("./remove.ts")).runPurge,
  recover: async () => (await import("./remove.ts")).runRecover,
  restart: async () => (await import("./lifecycle.ts")).runRestart,
  restore: async () => (await import("./snapshot.ts")).runRestore,
  shell: async () => (await import("./exec.ts")).runShell,
  snapshot: async () => (await import("./snapshot.ts")).runSnapshot,
  start: async () => (await import("./start.ts")).runStart,
  stop: async () => (await import("./lifecycle.ts")).runStop,
  suspend: async () => (await import("./lifecycle.ts")).runSuspend,
  transfer: async () => (await import("./transfer.ts")).runTransfer,
  version: async () => (await import("./query.ts")).runVersion,
};

const EXEC_HINT = '\nOptions to the inner command should come after "--", like this:\nmultipass exec <instance> -- <command>\n';

function runHelp(ctx: SimContext, args: QtParse): number {
  const topic = args.positionals[0];
  if (topic === undefined) {
    ctx.out(generalHelp());
    return EXIT.ok;
  }
  const spec = findCommand(topic);
  if (spec === undefined) {
    ctx.err(`Error: Unknown Command: '${topic}'\n`);
    return EXIT.commandLine;
  }
  ctx.out(commandHelp(spec));
  return EXIT.ok;
}

/**
 * Runs one invocation with `argv` (the arguments after the program name) and
 * returns the exit code.
 */
export async function main(argv: readonly string[], env: Record<string, string | undefined>): Promise<number> {
  const paths = simPaths(env);
  logCall(paths, argv);
  const ctx = createContext(paths, loadConfig(paths), argv, env);

  const first = parseQt(argv, GLOBAL_OPTIONS);
  const helpRequested = first.isSet("help");
  const word = first.isSet("version") ? "version" : first.positionals[0];
  if (word === undefined) {
    if (first.error !== null) ctx.err(`${first.error}\n\n`);
    ctx.out(generalHelp());
    return helpRequested ? EXIT.ok : EXIT.commandFail;
  }
  const spec = findCommand(word);
  if (spec === undefined) {
    if (helpRequested) {
      ctx.out(generalHelp());
      return EXIT.ok;
    }
    if (UNSUPPORTED.includes(word)) {
      ctx.err(`${word} failed: the simulated Multipass host does not implement "${word}"\n`);
      return EXIT.commandLine;
    }
    ctx.out(`Error: Unknown command or alias '${word}' (try "multipass help" or "multipass aliases")\n`);
    return EXIT.commandLine;
  }

  const parsed = parseQt(argv, [...GLOBAL_OPTIONS, ...spec.options]);
  if (parsed.error !== null) {
    ctx.err(`${parsed.error}\n${spec.name === "exec" ? EXEC_HINT : ""}`);
    return EXIT.commandLine;
  }
  if (helpRequested) {
    ctx.out(commandHelp(spec));
    return EXIT.ok;
  }
  const args: QtParse = { ...parsed, positionals: parsed.positionals.slice(1) };
  if (spec.name === "help") return runHelp(ctx, args);
  const load = HANDLERS[spec.name];
  if (load === undefined) throw new Error(`no handler for ${spec.name}`);
  try {
    return await (await load())(ctx, args);
  } catch (error) {
    ctx.err(`${spec.name} failed: simulated daemon error: ${(error as Error).message}\n`);
    return EXIT.commandFail;
  }
}
