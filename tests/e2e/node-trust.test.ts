/**
 * End-to-end: a node name belongs to the worker that first joined under it.
 * Real processes on the simulated host: a second worker with its own data
 * dir (its own key) cannot take a name that is in use, a fake node that
 * advertises the real worker's agent address cannot join, and nobody
 * reaching the agent port can lock the master out of that worker.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { apiNodes, client, hostMultipass, removeTempDirs, simConfig, startMaster, startWorker, stopAll, tempDir } from "./harness.ts";

setDefaultTimeout(60_000);
afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

test("an impostor under a name in use and a fake node with the real agent's address are refused; the real node keeps serving", async () => {
  const master = await startMaster();
  const sim = tempDir("sim-n2");
  simConfig(sim, { stepMs: 5 });
  expect((await hostMultipass(sim, ["launch", "--name", "db"])).code).toBe(0);
  const real = await startWorker(master, "n2", { simDir: sim });
  const agentPort = Number((await real.proc.waitForOutput(/agent server on 127\.0\.0\.1:(\d+)/))[1]);

  // Another host (another sim dir, so another data dir and key) started as "n2".
  const impostor = await startWorker(master, "n2", { waitForJoin: false });
  await impostor.proc.waitForOutput(/cannot join the master at .*: The node name "n2" belongs to another node/, 15_000);
  await master.proc.waitForOutput(/node "n2": refused a join from .* with another key/);
  expect(impostor.proc.output).not.toContain("joined with id");

  // A node that advertises the real worker's agent address is refused at its join.
  const fake = await startWorker(master, "fake", { waitForJoin: false, extraArgs: ["--advertise-addr", `127.0.0.1:${agentPort}`] });
  await fake.proc.waitForOutput(/cannot join the master at .*is the agent server of another node/, 15_000);
  expect((await apiNodes(master)).map((n) => [n.name, n.state])).toEqual([["n2", "Ready"]]);

  // Anyone reaching the agent port fails to authenticate more than 30 times…
  for (let i = 0; i < 35; i++) await fetch(`http://127.0.0.1:${agentPort}/agent/v1/info`, { headers: { authorization: "Bearer guess" } });
  expect((await fetch(`http://127.0.0.1:${agentPort}/agent/v1/info`)).status).toBe(429);
  // …and the master, from the same address, still reaches the node: info and exec work.
  const info = await client(master, ["info", "db@n2"]);
  expect({ code: info.code, stderr: info.stderr }).toEqual({ code: 0, stderr: "" });
  expect(info.stdout).toContain("db");
  const exec = await client(master, ["exec", "db@n2", "--", "echo", "still n2"]);
  expect({ code: exec.code, stdout: exec.stdout }).toEqual({ code: 0, stdout: "still n2\n" });
  expect(real.proc.output).not.toContain("replaced this one");
});
