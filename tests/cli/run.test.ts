/**
 * runCli's subcommand resolution: the value of an option (`--master URL`)
 * is never taken for a subcommand's name, a command that runs by itself
 * may also have subcommands, and help names the whole command path.
 */
import { describe, expect, test } from "bun:test";
import { defineCommand } from "citty";
import { runCli } from "../../lib/cli/run.ts";

const options = {
  master: { type: "string", valueHint: "URL", description: "Master" },
  force: { type: "boolean", default: false, description: "Force" },
} as const;

/** A tree like the client's: `tool nodes` lists, `tool nodes remove NAME` removes. */
function tree(calls: string[]) {
  const remove = defineCommand({
    meta: { name: "remove", description: "Remove one" },
    args: { name: { type: "positional", required: true, description: "Name" }, ...options },
    run: ({ args }) => void calls.push(`remove ${args.name} master=${args.master ?? "-"} force=${args.force}`),
  });
  const nodes = defineCommand({
    meta: { name: "nodes", description: "List" },
    args: options,
    subCommands: { remove },
    run: ({ args }) => void calls.push(`nodes master=${args.master ?? "-"}`),
  });
  return defineCommand({ meta: { name: "tool", version: "1.0" }, subCommands: { nodes } });
}

async function run(args: string[]) {
  const calls: string[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(tree(calls), args, { stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), verbose: false });
  return { code, calls, out: out.join(""), err: err.join("") };
}

describe("subcommands and option values", () => {
  test.each([
    [["nodes", "--master", "remote"], "nodes master=remote"],
    [["nodes", "--master=remote"], "nodes master=remote"],
    [["nodes", "remove", "n2", "--master", "remote"], "remove n2 master=remote force=false"],
    [["nodes", "remove", "--force", "n2"], "remove n2 master=- force=true"],
    [["nodes", "remove", "--master", "remote", "n2"], "remove n2 master=remote force=false"],
  ])("%p runs %s", async (args, call) => {
    expect(await run(args)).toEqual({ code: 0, calls: [call], out: "", err: "" });
  });

  test.each([
    [["--master", "remote", "nodes", "remove", "n2"], 'error: Options go after the command: put "--master" after "nodes"'],
    [["nodes", "--master", "remote", "remove", "n2"], 'error: Options go after the command: put "--master" after "remove"'],
    [["nodes", "extra"], 'error: Unexpected argument "extra"'],
    [["nodez"], 'error: Unknown command "nodez"'],
  ])("%p is a usage error: %s", async (args, message) => {
    const r = await run(args);
    expect({ code: r.code, calls: r.calls, first: r.err.split("\n")[0] }).toEqual({ code: 2, calls: [], first: message });
  });

  test("help names the whole path, and a command that runs by itself shows its subcommands as optional", async () => {
    const remove = await run(["nodes", "remove", "--help"]);
    expect(remove.out).toStartWith("tool nodes remove 1.0: Remove one\n\nUsage: tool nodes remove [options] NAME\n");
    const nodes = await run(["nodes", "--help"]);
    expect(nodes.out).toStartWith("tool nodes 1.0: List\n\nUsage: tool nodes [command] [options]\n");
    const usage = await run(["nodes", "remove"]);
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('Run "tool nodes remove --help" for usage.');
  });
});
