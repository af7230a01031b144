/**
 * The client's streamed calls: no wall-clock limit, only a silence
 * watchdog that keepalives satisfy; and which failures mean "never sent"
 * and which "lost while it may be under way".
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createApiClient, isLostMaster } from "../../lib/client/api-client.ts";
import { AppError } from "../../lib/core/errors.ts";
import { fakeMaster, ndjsonAnswer, type FakeMaster } from "../support/fake-client.ts";

let master: FakeMaster | undefined;
afterEach(async () => {
  await master?.stop();
  master = undefined;
});

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const all: string[] = [];
  for await (const line of lines) all.push(line);
  return all;
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected a failure");
}

describe("streamed calls", () => {
  test("outlive a short-call limit and the silence limit as long as keepalives come", async () => {
    const keepalives = Array.from({ length: 6 }, () => ({ afterMs: 100, line: "" }));
    master = fakeMaster(() => ndjsonAnswer([...keepalives, { afterMs: 0, line: { type: "done" } }]));
    const api = createApiClient({ baseUrl: master.url, token: null, timeoutMs: 200, silenceMs: 300 });
    expect(await collect(await api.stream("/x", {}))).toEqual(['{"type":"done"}']);
  });

  test("silence past the limit, before or after the answer began, is a lost master", async () => {
    master = fakeMaster((r) => (r.path === "/late" ? new Promise<Response>(() => {}) : ndjsonAnswer([{ afterMs: 0, line: { type: "result" } }], "hang")));
    const api = createApiClient({ baseUrl: master.url, token: null, timeoutMs: 5000, silenceMs: 200 });
    const lines: string[] = [];
    const after = await failure(
      (async () => {
        for await (const line of await api.stream("/hang", {})) lines.push(line);
      })(),
    );
    expect(lines).toEqual(['{"type":"result"}']);
    expect(isLostMaster(after)).toBe(true);
    expect(after.message).toBe(`Lost the connection to the master at ${master.url} (nothing heard for 0.2s)`);
    const before = await failure(api.stream("/late", {}));
    expect(isLostMaster(before)).toBe(true);
  });

  test("a master that cannot be reached never got the call; the user's abort is a cancel", async () => {
    const api = createApiClient({ baseUrl: "http://127.0.0.1:9", token: null, timeoutMs: 1000 });
    const refused = await failure(api.stream("/x", {}));
    expect({ code: refused.code, lost: isLostMaster(refused), message: refused.message }).toEqual({
      code: "E_UNREACHABLE",
      lost: false,
      message: "Cannot reach the master at http://127.0.0.1:9: connection refused",
    });

    master = fakeMaster(() => ndjsonAnswer([{ afterMs: 0, line: "" }], "hang"));
    const controller = new AbortController();
    const lines = await createApiClient({ baseUrl: master.url, token: null, timeoutMs: 1000 }).stream("/x", {}, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect((await failure(collect(lines))).code).toBe("E_CANCELLED");
  });
});
