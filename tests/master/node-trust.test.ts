/**
 * A node name belongs to the node that first joined under it: the join is
 * a proof of the node's key for a fresh nonce, the master checks that the
 * agent address given serves that key, and a pinned name is refused to any
 * other key — across master restarts — until an operator removes the node.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateNodeKey, type NodeKey } from "../../lib/net/node-key.ts";
import { parseErrorBody, parseInfoResponse } from "../../lib/protocol/api.ts";
import { JOIN_CLOSE, parseMasterMessage, PROTOCOL_VERSION, type MasterMessage } from "../../lib/protocol/join.ts";
import { joinProofText } from "../../lib/protocol/identity.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { waitFor } from "../e2e/harness.ts";
import { API, JOIN, readyCount, resources, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

afterEach(runCleanups);

/** A hand-driven worker connection: it says hello as `name` with `key`, advertising `advertiseAddr`. */
async function handJoin(port: number, name: string, key: NodeKey, advertiseAddr: string) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/cluster/v1/join`, { headers: { authorization: `Bearer ${JOIN}` } });
  const messages: MasterMessage[] = [];
  const waiting: (() => void)[] = [];
  ws.onmessage = (e) => {
    messages.push(parseMasterMessage(String(e.data)));
    waiting.splice(0).forEach((w) => w());
  };
  const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
  await new Promise<void>((resolve) => (ws.onopen = () => resolve()));
  ws.send(JSON.stringify({ type: "hello", protocolVersion: PROTOCOL_VERSION, name, publicKey: key.publicKey, agentPort: 1, advertiseAddr, agentCert: null, version: "t", multipassVersion: null, multipassError: null, resources: { ...resources, cpus: 1024 }, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instances: [] }));
  const next = async (): Promise<MasterMessage> => {
    while (messages.length === 0) await new Promise<void>((resolve) => waiting.push(resolve));
    return messages.shift()!;
  };
  return { ws, next, closed };
}

async function info(api: number, ref: string) {
  const r = await fetch(`http://127.0.0.1:${api}/api/v1/info?instance=${ref}`, { headers: { authorization: `Bearer ${API}` } });
  return { status: r.status, body: (await r.json()) as unknown };
}

describe("proof of the node key", () => {
  test("a join proves the key for this connection's nonce; a proof replayed on another connection is refused", async () => {
    const m = startMaster();
    const key = generateNodeKey().key;
    const first = await handJoin(m.cluster.port!, "n9", key, "127.0.0.1:1");
    const challenge = await first.next();
    expect(challenge.type).toBe("challenge");
    if (challenge.type !== "challenge") throw new Error("no challenge");
    const proof = key.sign(joinProofText(challenge.nonce, "n9", key.publicKey));
    first.ws.close();

    const replay = await handJoin(m.cluster.port!, "n9", key, "127.0.0.1:1");
    const fresh = await replay.next();
    expect(fresh).toMatchObject({ type: "challenge" });
    expect(fresh).not.toEqual(challenge);
    replay.ws.send(JSON.stringify({ type: "proof", signature: proof }));
    expect(await replay.next()).toMatchObject({ type: "error", message: expect.stringContaining("does not match its key") });
    expect((await replay.closed).code).toBe(JOIN_CLOSE.identity);
    expect(m.master.registry.get("n9")).toBeUndefined();
    expect(m.master.registry.keys.get("n9")).toBeNull();
  });

  test("a hello with a key and no proof is never welcomed", async () => {
    const m = startMaster();
    const key = generateNodeKey().key;
    const silent = await handJoin(m.cluster.port!, "n9", key, "127.0.0.1:1");
    expect(await silent.next()).toMatchObject({ type: "challenge" });
    silent.ws.send(JSON.stringify({ type: "heartbeat", resources }));
    expect(await silent.next()).toMatchObject({ type: "error", message: expect.stringContaining("Expected the proof of the node's key") });
    expect(m.master.registry.entries()).toEqual([]);
  });
});

describe("a fake node advertising the real worker's agent address", () => {
  test("is refused at its join, however often it tries, and the real node keeps answering (no lockout)", async () => {
    const m = startMaster();
    const real = startWorker(m.cluster.port!, "n1", createFakeMultipass([{ name: "db" }]));
    await waitFor("n1 joined", () => readyCount(m.master) === 1);
    const agentAddr = `127.0.0.1:${real.agent.port}`;
    // More attempts than the 30 failures that used to lock the master out of that agent.
    for (let i = 0; i < 35; i++) {
      const key = generateNodeKey().key;
      const fake = await handJoin(m.cluster.port!, "fake", key, agentAddr);
      const challenge = await fake.next();
      if (challenge.type !== "challenge") throw new Error("no challenge");
      // The fake proves its own key well: only the check of the agent it names can tell.
      fake.ws.send(JSON.stringify({ type: "proof", signature: key.sign(joinProofText(challenge.nonce, "fake", key.publicKey)) }));
      const refusal = await fake.next();
      expect(refusal).toMatchObject({ type: "error", code: "E_UNAUTHORIZED", message: expect.stringContaining(`${agentAddr} is the agent server of another node`) });
      expect((await fake.closed).code).toBe(JOIN_CLOSE.identity);
    }
    expect(m.master.registry.get("fake")).toBeUndefined();
    expect(m.master.registry.keys.get("fake")).toBeNull();
    expect(m.lines.some((l) => l.includes('node "fake"') && l.includes("is the agent server of another node"))).toBe(true);
    const live = await info(m.api.port!, "db@n1");
    expect(live.status).toBe(200);
    expect(parseInfoResponse(live.body).instances).toMatchObject([{ node: "n1", name: "db" }]);
  });
});

describe("a name pinned to another key", () => {
  test("is refused across a master restart until the node is removed, which forgets the key", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "mv-trust-"));
    try {
      const first = startMaster(0, undefined, undefined, { dataDir });
      const original = startWorker(first.cluster.port!, "n2", createFakeMultipass([{ name: "db" }]));
      await waitFor("n2 joined", () => readyCount(first.master) === 1);
      await original.stop();
      await first.stop();

      const m = startMaster(0, undefined, undefined, { dataDir });
      const impostor = startWorker(m.cluster.port!, "n2", createFakeMultipass([{ name: "db" }]), JOIN, undefined, { ...resources, cpus: 1024 });
      await waitFor("the impostor is told why", () => impostor.lines.some((l) => l.includes('The node name "n2" belongs to another node')));
      await waitFor("the master warns naming the node", () => m.lines.some((l) => l.startsWith('warn: node "n2": refused a join from') && l.includes("another key")));
      expect(m.master.registry.get("n2")).toBeUndefined();

      // The original node (its key) is still welcome.
      const back = startWorker(m.cluster.port!, "n2", createFakeMultipass([{ name: "db" }]), JOIN, undefined, resources, original.key);
      await waitFor("the original rejoined", () => readyCount(m.master) === 1);
      await back.stop();
      await waitFor("n2 Down", () => m.master.registry.nodeViews()[0]?.state === "Down");

      const removed = await fetch(`http://127.0.0.1:${m.api.port}/api/v1/nodes/n2`, { method: "DELETE", headers: { authorization: `Bearer ${API}` } });
      expect(removed.status).toBe(200);
      expect(m.master.registry.keys.get("n2")).toBeNull();
      await waitFor("the replacement host joins under the name", () => m.master.registry.get("n2")?.snapshot.resources.cpus === 1024);
      expect(m.master.registry.keys.get("n2")).toBe(impostor.key.publicKey);
      const missing = await fetch(`http://127.0.0.1:${m.api.port}/api/v1/nodes/nobody`, { method: "DELETE", headers: { authorization: `Bearer ${API}` } });
      expect(parseErrorBody(await missing.json())).toMatchObject({ error: { code: "E_NOT_FOUND" } });
    } finally {
      await runCleanups();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
