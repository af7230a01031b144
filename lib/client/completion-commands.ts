/**
 * `multiverse completion SHELL`, which prints a completion script, and the
 * hidden `multiverse __complete -- WORDS…` the scripts call on each TAB: it
 * prints the candidates for the last word, one a line, and nothing at all
 * (exit 0) when anything fails.
 */
import { defineCommand, type ArgsDef, type CommandDef } from "citty";
import { apiFor, type ClientContext } from "./context.ts";
import { complete } from "./completion.ts";
import { COMPLETE_COMMAND, completionScript, SHELLS, type Shell } from "./completion-scripts.ts";
import { createMasterSource } from "./completion-source.ts";
import { readConfig } from "./config.ts";
import { usageError } from "../core/errors.ts";
import { withNotes } from "../cli/help.ts";

/** Most words `__complete` reads: a command line longer than this is not being typed at a prompt. */
const MAX_WORDS = 1000;

/** `completion SHELL`. */
function completionCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes({ name: "completion", description: "Print the shell completion script of bash, zsh, fish or powershell" }, [
      "bash: source <(multiverse completion bash), e.g. in ~/.bashrc.",
      "zsh: source <(multiverse completion zsh), e.g. in ~/.zshrc.",
      "fish: multiverse completion fish > ~/.config/fish/completions/multiverse.fish",
      "powershell: multiverse completion powershell | Out-String | Invoke-Expression, e.g. in $PROFILE.",
      "Contexts come from the config file; instances, nodes, snapshots and label keys are asked of the master the command would use (--master, --context, the environment), for at most 2 seconds; nothing is offered when it does not answer.",
    ]),
    args: {
      shell: { type: "positional", required: true, valueHint: "SHELL", description: "bash, zsh, fish or powershell" },
    },
    run({ args }) {
      const shell = SHELLS.find((s) => s === args.shell);
      if (shell === undefined) throw usageError(`Unknown shell ${JSON.stringify(String(args.shell).slice(0, 40))}: use one of ${SHELLS.join(", ")}`);
      ctx.stdout(completionScript(shell as Shell));
    },
  });
}

/**
 * `completion` and the hidden `__complete`, for the client's command tree;
 * `root` builds that whole tree (called on each TAB, not before).
 */
export function completionCommands(ctx: ClientContext, root: () => CommandDef<ArgsDef>) {
  return { completion: completionCommand(ctx), [COMPLETE_COMMAND]: completeCommand(ctx, root) };
}

/**
 * `__complete -- WORDS…`, hidden from --help. `root` is the whole command
 * tree, read when a TAB is pressed; `ctx` reaches the master as every command
 * does (flags typed on the line, then the environment).
 */
function completeCommand(ctx: ClientContext, root: () => CommandDef<ArgsDef>) {
  return defineCommand({
    meta: { name: COMPLETE_COMMAND, description: "Completion candidates for the words typed (used by the completion scripts)", hidden: true },
    args: {
      words: { type: "positional", required: false, valueHint: "-- WORDS...", description: "The words typed after the program's name, the last the one to complete" },
    },
    async run({ rawArgs }) {
      try {
        const at = rawArgs.indexOf("--");
        const words = (at < 0 ? rawArgs : rawArgs.slice(at + 1)).slice(-MAX_WORDS);
        // PowerShell passes a blank word for a new one (see completion-scripts.ts).
        if (words.length > 0 && words[words.length - 1]!.trim() === "") words[words.length - 1] = "";
        const source = createMasterSource({
          apiFor: (options) =>
            apiFor({ master: options["master"], token: options["token"], "token-file": options["token-file"], ca: options["ca"], context: options["context"], json: false }, ctx),
          contexts: () => (ctx.configFile === undefined ? [] : readConfig(ctx.configFile).contexts.map((c) => c.name)),
        });
        const candidates = await complete(root(), words, source);
        if (candidates.length > 0) ctx.stdout(candidates.join("\n") + "\n");
      } catch {
        // Silent: whatever went wrong must not end up in the user's prompt.
      }
    },
  });
}
