/**
 * `nodes remove NAME [--force]` against a master in this process: a Down
 * node goes, a connected one only with --force (the refusal names the
 * flag), `--json` prints the API's answer, and options may come before or
 * after the name.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { runCli } from "../../lib/cli/run.ts";
import { createClientCommand } from "../../lib/client/commands.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { fakeClient } from "../support/fake-client.ts";
import { waitFor } from "../e2e/harness.ts";
import { API, readyCount, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

afterEach(runCleanups);

async function client(args: string[]) {
  const c = fakeClient();
  const code = await runCli(createClientCommand(c.ctx), args, { stdout: c.ctx.stdout, stderr: c.ctx.stderr, verbose: false });
  return { code, out: c.out.join(""), err: c.err.join("") };
}

/** A master with node n1 connected and node n2 stopped (Down). */
async function cluster() {
  const m = startMaster();
  startWorker(m.cluster.port!, "n1", createFakeMultipass([{ name: "web" }]));
  const w2 = startWorker(m.cluster.port!, "n2", createFakeMultipass([{ name: "db" }]));
  await waitFor("both joined", () => readyCount(m.master) === 2);
  await w2.stop();
  await waitFor("n2 Down", () => m.master.registry.nodeViews().some((n) => n.name === "n2" && n.state === "Down"));
  const url = `http://127.0.0.1:${m.api.port}`;
  const names = () => m.master.registry.nodeViews().map((n) => n.name);
  return { m, url, names };
}

describe("nodes remove", () => {
  test("drops a Down node and says what it was", async () => {
    const { url, names } = await cluster();
    expect(await client(["nodes", "remove", "n2", "--master", url, "--token", API])).toEqual({ code: 0, out: 'Removed node "n2" (it was Down).\n', err: "" });
    expect(names()).toEqual(["n1"]);
  });

  test("refuses a connected node without --force, naming the flag, and changes nothing", async () => {
    const { url, names } = await cluster();
    const refused = await client(["nodes", "remove", "n1", "--master", url, "--token", API]);
    expect(refused).toEqual({
      code: 1,
      out: "",
      err: 'error: Cannot remove node "n1": it is Ready, not Down; force it (--force) to drop it anyway (a running worker joins again)\n',
    });
    expect(names()).toEqual(["n1", "n2"]);
    // --force before the name: the name is still found.
    const forced = await client(["nodes", "remove", "--force", "n1", "--master", url, "--token", API, "--json"]);
    expect(forced).toEqual({ code: 0, out: '{"name":"n1","state":"Ready","removed":true}\n', err: "" });
    expect(names()).toEqual(["n2"]);
  });

  test("an option with a value between the commands and the name", async () => {
    const { url, names } = await cluster();
    const misplaced = await client(["nodes", "--master", url, "remove", "n2", "--token", API]);
    expect({ code: misplaced.code, first: misplaced.err.split("\n")[0] }).toEqual({ code: 2, first: 'error: Options go after the command: put "--master" after "remove"' });
    expect(await client(["nodes", "remove", "--master", url, "--token", API, "n2"])).toMatchObject({ code: 0, out: 'Removed node "n2" (it was Down).\n' });
    expect(names()).toEqual(["n1"]);
  });

  test("an unknown or invalid name", async () => {
    const { url, names } = await cluster();
    expect(await client(["nodes", "remove", "ghost", "--master", url, "--token", API])).toEqual({ code: 1, out: "", err: 'error: Node "ghost" is not part of the cluster\n' });
    const invalid = await client(["nodes", "remove", "bad name", "--master", url, "--token", API]);
    expect(invalid.code).toBe(2);
    expect(invalid.err).toStartWith('error: Invalid node name "bad name"');
    expect(names()).toEqual(["n1", "n2"]);
  });

  test("nodes by itself still lists, its option values not taken for a subcommand", async () => {
    const { url } = await cluster();
    const listed = await client(["nodes", "--master", url, "--token", API]);
    expect(listed.code).toBe(0);
    expect(listed.out).toContain("n1");
    const json = await client(["nodes", "--json", "--master", url, "--token", API]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out).map((n: { name: string }) => n.name)).toEqual(["n1", "n2"]);
  });
});
