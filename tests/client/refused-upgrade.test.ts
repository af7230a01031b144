/**
 * A refused session upgrade, which a WebSocket client sees only as code
 * 1006, is explained with the master's own reason: a refused token (401), a
 * lockout (429), an audit trail that cannot be written (503).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createApiClient } from "../../lib/client/api-client.ts";
import { diagnoser } from "../../lib/client/sessions.ts";
import { runSession } from "../../lib/client/session.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { fakeClient } from "../support/fake-client.ts";
import { waitFor } from "../e2e/harness.ts";
import { lockDatabase } from "../support/database-lock.ts";
import { API, readyCount, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

afterEach(runCleanups);

async function cluster(authLimits?: { maxFailures: number; windowMs: number; lockoutMs: number }) {
  const m = startMaster(0, undefined, authLimits);
  startWorker(m.cluster.port!, "n1", createFakeMultipass([{ name: "web" }]));
  await waitFor("joined", () => readyCount(m.master) === 1);
  return { ...m, baseUrl: `http://127.0.0.1:${m.api.port}` };
}

/** Runs `exec web@n1 -- true` the way the client's exec command does; resolves with the status and stderr. */
async function exec(baseUrl: string, token: string) {
  const err: string[] = [];
  const io = { ...fakeClient().ctx.terminal, writeStderr: (text: Uint8Array | string) => (err.push(String(text)), true) };
  const api = createApiClient({ baseUrl, token, tokenSource: "given with --token", timeoutMs: 5_000 });
  const code = await runSession({ baseUrl, token, kind: "exec", ref: "web@n1", command: ["true"], tty: false, io, diagnose: diagnoser(api) });
  return { code, stderr: err.join("") };
}

describe("a refused session upgrade", () => {
  test("a refused token: the master's 401, not 1006", async () => {
    const m = await cluster();
    const { code, stderr } = await exec(m.baseUrl, "mva_wrong-token-000000000000000000000000");
    expect(code).toBe(1);
    expect(stderr).not.toContain("1006");
    expect(stderr).toMatch(/^multiverse: .*token.*\n$/);
  });

  test("an address locked out for guessing: the master's 429, not 1006", async () => {
    const m = await cluster({ maxFailures: 3, windowMs: 60_000, lockoutMs: 60_000 });
    const wrong = "mva_wrong-token-000000000000000000000000";
    for (let i = 0; i < 3; i++) await fetch(`${m.baseUrl}/api/v1/nodes`, { headers: { authorization: `Bearer ${wrong}` } });
    const { code, stderr } = await exec(m.baseUrl, wrong);
    expect(code).toBe(1);
    expect(stderr).toBe("multiverse: Too many failed attempts from this address; try again in 60s\n");
  });

  test("an audit trail that cannot be written: the master's 503, not 1006", async () => {
    const m = await cluster();
    // The database's write lock held by another connection: every append fails (SQLITE_BUSY), as on a full disk.
    const lock = lockDatabase(m.dataDir);
    const { code, stderr } = await exec(m.baseUrl, API).finally(() => lock.release());
    expect(code).toBe(1);
    expect(stderr).toStartWith('multiverse: Not opening the exec on "web": ');
    expect(stderr).not.toContain("1006");
  });
});
