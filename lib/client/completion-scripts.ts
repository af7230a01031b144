/**
 * The scripts `multiverse completion SHELL` prints. Each is a thin shim that
 * hands the words typed so far to `multiverse __complete -- WORDS…` and offers
 * the lines it prints (the approach of cobra and kubectl): the command tree
 * and the cluster's names are known to the client alone, so no script holds a
 * copy of them that could go stale.
 */

/** The shells a script is generated for. */
export const SHELLS = ["bash", "zsh", "fish", "powershell"] as const;
export type Shell = (typeof SHELLS)[number];

/** The hidden sub-command the scripts call back. */
export const COMPLETE_COMMAND = "__complete";

const bash = (prog: string, fn: string) => `# bash completion for ${prog}. Load it with: source <(${prog} completion bash)
${fn}() {
  # The line up to the cursor, split at blanks: bash's own words are also split at = and :.
  local line=\${COMP_LINE:0:COMP_POINT} words cur=\${COMP_WORDS[COMP_CWORD]} candidate
  read -ra words <<< "$line"
  [[ -z $line || $line == *[[:space:]] ]] && words+=("")
  # What bash replaces is only the part after its last word break: drop what comes before it.
  local full=\${words[\${#words[@]}-1]}
  local before=\${full%"$cur"}
  COMPREPLY=()
  while IFS= read -r candidate; do
    [[ -n $candidate ]] && COMPREPLY+=("\${candidate#"$before"}")
  done < <(${prog} ${COMPLETE_COMMAND} -- "\${words[@]:1}" 2>/dev/null)
}
complete -o default -F ${fn} ${prog}
`;

const zsh = (prog: string, fn: string) => `#compdef ${prog}
# zsh completion for ${prog}. Load it with: source <(${prog} completion zsh)
${fn}() {
  local -a candidates
  candidates=("\${(@f)$(${prog} ${COMPLETE_COMMAND} -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  candidates=(\${candidates:#})
  if (( \${#candidates} )); then
    compadd -Q -S ' ' -- "\${candidates[@]}"
  else
    _files
  fi
}
if (( $+functions[compdef] )); then
  compdef ${fn} ${prog}
else
  autoload -Uz compinit && compinit -u && compdef ${fn} ${prog}
fi
`;

const fish = (prog: string, fn: string) => `# fish completion for ${prog}. Load it with: ${prog} completion fish | source
function ${fn}
    set -l words (commandline -opc)
    set -l current (commandline -ct)
    ${prog} ${COMPLETE_COMMAND} -- $words[2..-1] "$current" 2>/dev/null
end
complete -c ${prog} -f -a '(${fn})'
`;

const powershell = (prog: string) => `# PowerShell completion for ${prog}. Load it with: ${prog} completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName '${prog}' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $words = @($commandAst.CommandElements | Select-Object -Skip 1 | Where-Object { $_.Extent.EndOffset -le $cursorPosition } | ForEach-Object { $_.ToString() })
    # An empty argument does not survive every PowerShell's native-command quoting; a blank one does.
    if ($wordToComplete -eq '') { $words += ' ' }
    & '${prog}' ${COMPLETE_COMMAND} -- @words 2>$null | ForEach-Object {
        [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
    }
}
`;

/** The completion script of `shell` for the program called `prog` (a plain command name). */
export function completionScript(shell: Shell, prog = "multiverse"): string {
  const fn = `_${prog.replace(/[^A-Za-z0-9_]/g, "_")}_complete`;
  switch (shell) {
    case "bash":
      return bash(prog, fn);
    case "zsh":
      return zsh(prog, fn);
    case "fish":
      return fish(prog, fn);
    case "powershell":
      return powershell(prog);
  }
}
