/**
 * Man pages from the citty definitions (lib/cli/man.ts, scripts/man.ts):
 * roff escaping, and every command and flag that --help shows is in the page
 * of its role, since both come from the same definitions.
 */
import { describe, expect, test } from "bun:test";
import { defineCommand, type ArgsDef, type CommandDef } from "citty";
import { renderHelp } from "../../lib/cli/help.ts";
import { renderMan, roffEscape } from "../../lib/cli/man.ts";
import { metaOf, resolve } from "../../lib/cli/citty.ts";
import { renderManPages } from "../../scripts/man.ts";
import { main as masterCommand } from "../../master.ts";
import { main as workerCommand } from "../../worker.ts";
import { createClientCommand } from "../../lib/client/commands.ts";
import type { TerminalIo } from "../../lib/client/terminal-io.ts";

describe("roffEscape", () => {
  test.each([
    ["--data-dir", "\\-\\-data\\-dir"],
    ["a\\b", "a\\eb"],
    [".starts a request", "\\&.starts a request"],
    ["'also one", "\\&'also one"],
    ["line\n.two", "line\n\\&.two"],
    ["plain text", "plain text"],
  ])("%j becomes %j", (text, roff) => expect(roffEscape(text)).toBe(roff));
});

describe("renderMan", () => {
  const tool = defineCommand({
    meta: { name: "tool", version: "1.2.3", description: "Does things" },
    args: { level: { type: "string", valueHint: "N", default: "3", description: "How much" }, quiet: { type: "boolean", alias: "q", description: "Say less" } },
    subCommands: {
      run: defineCommand({ meta: { name: "run", description: "Runs one", alias: "r" }, args: { what: { type: "positional", description: "The thing" } } }),
    },
  });

  test("names the program, its options with defaults, and each command", async () => {
    const page = await renderMan(tool, { source: "tool 1.2.3", sections: [["See also", ["other(1)"]]] });
    expect(page).toStartWith('.TH TOOL 1 "" "tool 1.2.3" "User Commands"\n.SH NAME\ntool \\- Does things\n');
    expect(page).toContain(".TP\n\\fB\\-\\-level\\fR \\fIN\\fR\nHow much (default: 3)\n");
    expect(page).toContain(".TP\n\\fB\\-q\\fR, \\fB\\-\\-quiet\\fR\nSay less\n");
    expect(page).toContain('.SS "tool run"\n\\fBtool run\\fR \\fIWHAT\\fR\n.PP\nRuns one\n.PP\nAlso: \\fBr\\fR');
    expect(page).toEndWith(".SH SEE ALSO\n.nf\nother(1)\n.fi\n");
  });

  test("is deterministic", async () => {
    expect(await renderMan(tool, { source: "x" })).toBe(await renderMan(tool, { source: "x" }));
  });
});

/** Every command of a tree with its ancestors. */
async function walk(cmd: CommandDef<ArgsDef>, ancestors: CommandDef<ArgsDef>[] = []): Promise<[CommandDef<ArgsDef>, CommandDef<ArgsDef>[]][]> {
  const out: [CommandDef<ArgsDef>, CommandDef<ArgsDef>[]][] = [[cmd, ancestors]];
  if (!cmd.subCommands) return out;
  for (const sub of Object.values(await resolve(cmd.subCommands))) {
    const child = (await resolve(sub)) as CommandDef<ArgsDef>;
    // A hidden command (the completion scripts' __complete) is in neither --help nor the page.
    if (!(await metaOf(child)).hidden) out.push(...(await walk(child, [...ancestors, cmd])));
  }
  return out;
}

describe("the roles' man pages and their --help", () => {
  const ignore = () => {};
  const client = createClientCommand({ env: {}, stdout: ignore, stderr: ignore, isTTY: false, stderrIsTTY: false, defaultTokenFile: "", terminal: {} as TerminalIo });
  test.each([
    ["multiverse.1", client as unknown as CommandDef<ArgsDef>],
    ["multiverse-master.1", masterCommand as unknown as CommandDef<ArgsDef>],
    ["multiverse-worker.1", workerCommand as unknown as CommandDef<ArgsDef>],
  ])("%s has every command and flag --help shows", async (name, root) => {
    const page = (await renderManPages("9.9.9")).get(name) ?? "";
    expect(page).toContain('"multiverse 9.9.9"');
    let flags = 0;
    for (const [cmd, ancestors] of await walk(root)) {
      const help = await renderHelp(cmd, ancestors);
      const title = help.split(":")[0]!.replace(/ \S+$/, "");
      if (ancestors.length > 0) expect(page).toContain(`.SS "${roffEscape(title)}"`);
      for (const flag of help.match(/--[a-z][a-z-]*/g) ?? []) {
        expect(page).toContain(roffEscape(flag));
        flags++;
      }
    }
    expect(flags).toBeGreaterThan(5);
  });

  test("hidden commands are not in the page", async () => {
    expect((await renderManPages("9.9.9")).get("multiverse.1")).not.toContain("__complete");
  });
});
