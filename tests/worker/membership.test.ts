/**
 * A call the master made under a worker's past membership (queued while the
 * worker stalled, read after it rejoined with a new secret) fails once with a
 * clear reason through the master's agent client — never as a refused token,
 * and never counted towards locking the master out.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createKeyedLock } from "../../lib/core/keyed-lock.ts";
import { createAgentClient, type AgentTarget } from "../../lib/master/agent-client.ts";
import { createAgentApp } from "../../lib/worker/agent-server.ts";
import { createHostMonitor } from "../../lib/worker/host-monitor.ts";
import { createWorkerOps } from "../../lib/worker/host-ops.ts";
import { generateNodeKey } from "../../lib/net/node-key.ts";
import { createMembership } from "../../lib/worker/membership.ts";
import { createSessionHost } from "../../lib/worker/session-host.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { resources } from "../support/in-process.ts";
import { createTestLog } from "../support/test-log.ts";

const servers: { stop(force: boolean): unknown }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
});

function agentServer() {
  const multipass = createFakeMultipass();
  const { log } = createTestLog();
  const membership = createMembership();
  const monitor = createHostMonitor({ multipass, readResources: () => resources, pollMs: 50, log });
  const ops = createWorkerOps({ multipass, monitor, lock: createKeyedLock(), log, node: "n1" });
  const sessions = createSessionHost({ multipass, log, ensureRunning: (i) => ops.ensureRunning(i), env: {}, platform: process.platform });
  const app = createAgentApp({ multipass, agentToken: () => membership.current(), standing: (t) => membership.standing(t), log, name: "n1", key: generateNodeKey().key, sessions, ops });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
  servers.push(server);
  const target = (agentToken: string): AgentTarget => ({ name: "n1", address: `127.0.0.1:${server.port}`, agentToken, agentCert: null });
  return { membership, target };
}

describe("a call across a rejoin", () => {
  test("a call under the previous secret fails as 'rejoined', not as a refused token; the new secret works", async () => {
    const { membership, target } = agentServer();
    membership.set("secret-of-membership-1");
    membership.set(null);
    membership.set("secret-of-membership-2");
    const agents = createAgentClient();
    const error = await agents.info(target("secret-of-membership-1"), [], { timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "E_UNREACHABLE" });
    expect(String((error as Error).message)).toMatch(/node "n1" rejoined the master after this call was made .* it was not run/);
    expect(String((error as Error).message)).not.toMatch(/refused/);
    const change = await agents.act(target("secret-of-membership-1"), "stop", "web", { force: false, purge: false }, { requestId: "r1", boundMs: 5_000 }).catch((e: unknown) => e);
    expect(change).toMatchObject({ code: "E_UNREACHABLE", message: expect.stringMatching(/rejoined/) });
    expect(await agents.info(target("secret-of-membership-2"), [], { timeoutMs: 5_000 })).toEqual([]);
  });

  test("calls under a past secret do not lock the master out; an unknown secret is still a refused token", async () => {
    const { membership, target } = agentServer();
    membership.set("old");
    membership.set("new");
    const agents = createAgentClient();
    for (let i = 0; i < 40; i++) await agents.info(target("old"), [], { timeoutMs: 5_000 }).catch(() => {});
    expect(await agents.info(target("new"), [], { timeoutMs: 5_000 })).toEqual([]);
    const error = await agents.info(target("never-handed-out"), [], { timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "E_UNAUTHORIZED" });
  });

  test("the membership keeps the current secret and recognises the last few", () => {
    const membership = createMembership();
    expect(membership.standing("a")).toBe("unknown");
    membership.set("a");
    expect(membership.standing("a")).toBe("current");
    membership.set(null);
    expect(membership.current()).toBeNull();
    expect(membership.standing("a")).toBe("past");
    for (let i = 0; i < 10; i++) membership.set(`s${i}`);
    expect(membership.standing("s9")).toBe("current");
    expect(membership.standing("s8")).toBe("past");
    expect(membership.standing("a")).toBe("unknown");
  });
});
