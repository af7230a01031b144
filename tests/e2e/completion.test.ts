/**
 * Completion in real shells: the script `multiverse completion SHELL` prints
 * is loaded into bash, zsh and fish, and each shell's own completion entry
 * point completes a command and an instance name from a running cluster (a
 * master and a worker on the simulated host), through `multiverse` on the
 * PATH calling back `__complete`. A master that does not answer leaves the
 * prompt untouched: no candidate, nothing on stderr. A shell that is not
 * installed is skipped, saying so (.ci/run installs zsh and fish). PowerShell
 * does not run here: its script is checked for balanced delimiters, and run
 * only where `pwsh` is installed.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { apiInstances, client, envWithBun, hostMultipass, removeTempDirs, roleCommand, runClient, simConfig, startMaster, startWorker, stopAll, tempDir, waitFor, type MasterHandle } from "./harness.ts";

setDefaultTimeout(60_000);

let master: MasterHandle;
/** A directory with `multiverse` in it (the client under test), first on the PATH of the shells. */
let binPath: string;
const scripts: Record<string, string> = {};

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

beforeAll(async () => {
  master = await startMaster();
  const sim = tempDir("sim-compl");
  simConfig(sim, { stepMs: 20 });
  for (const name of ["web", "db"]) expect((await hostMultipass(sim, ["launch", "--name", name])).code).toBe(0);
  await startWorker(master, "n1", { simDir: sim });
  await waitFor("2 instances", async () => (await apiInstances(master)).length === 2);
  expect((await client(master, ["label", "web", "role=web"])).code).toBe(0);
  binPath = tempDir("compl-bin");
  writeFileSync(join(binPath, "multiverse"), `#!/bin/sh\nexec ${roleCommand("client").map(quote).join(" ")} "$@"\n`);
  chmodSync(join(binPath, "multiverse"), 0o755);
  for (const shell of ["bash", "zsh", "fish", "powershell"]) {
    const result = await runClient(["completion", shell]);
    expect(result.code).toBe(0);
    scripts[shell] = join(binPath, `completion.${shell}`);
    writeFileSync(scripts[shell]!, result.stdout);
  }
});

afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

/** Runs `argv` (a shell) with the client on its PATH, pointed at `masterUrl`. */
async function inShell(argv: string[], masterUrl = master.apiUrl): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = envWithBun();
  const env = { ...base, PATH: `${binPath}:${base["PATH"]}`, HOME: tempDir("compl-home"), MULTIVERSE_MASTER: masterUrl, MULTIVERSE_API_TOKEN: master.apiToken };
  const proc = Bun.spawn(argv, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

const lines = (text: string) => text.split("\n").filter((l) => l !== "").sort();
const missing = (shell: string) => {
  const absent = Bun.which(shell) === null;
  if (absent) console.warn(`skipped: ${shell} is not installed (.ci/run installs zsh and fish from Debian packages)`);
  return absent;
};

/**
 * bash: the function `complete -p` names, called as bash calls it on a TAB
 * at the end of `line`: COMP_LINE and COMP_POINT, and COMP_WORDS and
 * COMP_CWORD, the words bash split (at blanks, and at = and : too).
 */
function bash(words: string[], bashWords = words): string[] {
  const script = [
    `source ${quote(scripts["bash"]!)}`,
    `fn=$(complete -p multiverse | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')`,
    `COMP_WORDS=(${bashWords.map(quote).join(" ")}); COMP_CWORD=${bashWords.length - 1}; COMP_LINE=${quote(words.join(" "))}; COMP_POINT=\${#COMP_LINE}`,
    `"$fn" && for c in "\${COMPREPLY[@]}"; do printf '%s\\n' "$c"; done`,
  ].join("\n");
  return ["bash", "--norc", "--noprofile", "-c", script];
}

describe.skipIf(missing("bash"))("bash", () => {
  test("the script registers a function; it completes a command and the cluster's instance names", async () => {
    const registered = await inShell(["bash", "--norc", "--noprofile", "-c", `source ${quote(scripts["bash"]!)} && complete -p multiverse`]);
    expect(registered.stdout).toContain("-F _multiverse_complete multiverse");
    expect(lines((await inShell(bash(["multiverse", "sh"]))).stdout)).toEqual(["shell"]);
    expect(lines((await inShell(bash(["multiverse", "shell", "w"]))).stdout)).toEqual(["web", "web@n1"]);
    expect(lines((await inShell(bash(["multiverse", "nodes", "remove", ""]))).stdout)).toEqual(["n1"]);
  });

  test("a word bash split at = (a selector): the label key replaces only what follows bash's break", async () => {
    const line = ["multiverse", "instances", "-l", "role=web,r"];
    expect(lines((await inShell(bash(line, ["multiverse", "instances", "-l", "role", "=", "web,r"]))).stdout)).toEqual(["web,role"]);
    expect(lines((await inShell(bash(["multiverse", "launch", "--node=n"], ["multiverse", "launch", "--node", "=", "n"]))).stdout)).toEqual(["n1"]);
  });

  test("a master that does not answer: no candidate, nothing printed on stderr", async () => {
    const result = await inShell(bash(["multiverse", "shell", "w"]), "http://127.0.0.1:9");
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe("");
  });
});

describe.skipIf(missing("zsh"))("zsh", () => {
  test("the script registers its function with compdef; called as a widget would, it offers the instance names", async () => {
    // compadd only works inside a completion widget: a stand-in prints what it is given.
    const run = (words: string[]) =>
      inShell([
        "zsh",
        "-f",
        "-c",
        [
          "autoload -Uz compinit && compinit -u -D",
          `source ${quote(scripts["zsh"]!)}`,
          `print -r -- "registered: $_comps[multiverse]"`,
          `compadd() { while [[ $# -gt 0 && $1 != -- ]]; do shift; done; shift; print -rl -- "$@"; }`,
          `_files() { print -r -- FILES; }`,
          `words=(${words.map(quote).join(" ")}); CURRENT=${words.length}`,
          "_multiverse_complete",
        ].join("\n"),
      ]);
    const shell = await run(["multiverse", "shell", "w"]);
    expect(shell.stderr).toBe("");
    expect(lines(shell.stdout)).toEqual(["registered: _multiverse_complete", "web", "web@n1"]);
    expect(lines((await run(["multiverse", "snap"])).stdout)).toEqual(["registered: _multiverse_complete", "snapshot"]);
    // Nothing to offer (a local path for cp): zsh's own file completion.
    expect(lines((await run(["multiverse", "cp", "./"])).stdout)).toEqual(["FILES", "registered: _multiverse_complete"]);
  });
});

describe.skipIf(missing("fish"))("fish", () => {
  test("complete -C completes a command and the cluster's instance names, and nothing from a silent master", async () => {
    const run = (line: string, url?: string) => inShell(["fish", "--no-config", "-c", `source ${quote(scripts["fish"]!)}; complete -C ${quote(line)}`], url);
    expect(lines((await run("multiverse sh")).stdout)).toEqual(["shell"]);
    const shell = await run("multiverse shell w");
    expect(shell.stderr).toBe("");
    expect(lines(shell.stdout)).toEqual(["web", "web@n1"]);
    expect(lines((await run("multiverse exec ")).stdout)).toEqual(["db", "db@n1", "web", "web@n1"]);
    const silent = await run("multiverse shell w", "http://127.0.0.1:9");
    expect([silent.stdout, silent.stderr]).toEqual(["", ""]);
  });
});

describe("powershell", () => {
  test("the script's braces, brackets and parentheses balance outside its strings (pwsh cannot run here)", () => {
    const text = readFileSync(scripts["powershell"]!, "utf8");
    expect(text).toContain("Register-ArgumentCompleter -Native -CommandName 'multiverse'");
    const stack: string[] = [];
    const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
    let quoted: string | null = null;
    for (const line of text.split("\n")) {
      if (line.trimStart().startsWith("#")) continue;
      for (const ch of line) {
        if (quoted !== null) {
          if (ch === quoted) quoted = null;
        } else if (ch === "'" || ch === '"') quoted = ch;
        else if ("([{".includes(ch)) stack.push(ch);
        else if (ch in pairs) expect(stack.pop()).toBe(pairs[ch]!);
      }
    }
    expect([stack, quoted]).toEqual([[], null]);
  });

  test.skipIf(Bun.which("pwsh") === null)("TabExpansion2 completes an instance name (where pwsh is installed)", async () => {
    const line = "multiverse shell w";
    const result = await inShell(["pwsh", "-NoProfile", "-NonInteractive", "-Command", `. ${quote(scripts["powershell"]!)}; (TabExpansion2 '${line}' ${line.length}).CompletionMatches.CompletionText`]);
    expect(lines(result.stdout)).toEqual(["web", "web@n1"]);
  });
});
