import { describe, expect, test } from "bun:test";
import { attachPath, formatStatus, isRetryable, Reconnection, type ReconnectEnd } from "../../lib/client/reconnect.ts";

describe("what is retried", () => {
  test("anything the network or a restarting master explains; not a refused token or request", () => {
    expect(isRetryable({ code: null })).toBe(true);
    for (const code of ["E_UNREACHABLE", "E_TIMEOUT", "E_CONFLICT", "E_STORAGE", "E_RATE_LIMITED", "E_INTERNAL"] as const) expect(isRetryable({ code })).toBe(true);
    for (const code of ["E_UNAUTHORIZED", "E_USAGE", "E_PROTOCOL"] as const) expect(isRetryable({ code })).toBe(false);
  });

  test("a shell not found is gone only while its node is Ready on the master", () => {
    expect(isRetryable({ code: "E_NOT_FOUND", nodeReady: true })).toBe(false);
    expect(isRetryable({ code: "E_NOT_FOUND", nodeReady: false })).toBe(true);
    expect(isRetryable({ code: "E_NOT_FOUND" })).toBe(true);
  });
});

describe("the status line and the route", () => {
  test("says how long, and that input was discarded", () => {
    expect(formatStatus(12_400, false)).toBe("multiverse: connection lost — reconnecting… 12 s (Enter ~ . to quit)");
    expect(formatStatus(72_000, true)).toBe("multiverse: connection lost — reconnecting… 1m12s (input discarded while disconnected)");
  });
  test("the attach route at a size, read-only or not", () => {
    expect(attachPath("ab-12", { cols: 100, rows: 30 }, false)).toBe("/api/v1/sessions/ab-12/attach?cols=100&rows=30&keepalive=2500");
    expect(attachPath("ab-12", { cols: 100, rows: 30 }, true)).toBe("/api/v1/sessions/ab-12/attach?cols=100&rows=30&keepalive=2500&readOnly=1");
  });
});

describe("a stretch of reconnecting", () => {
  test("attempts, paced by the backoff, until the limit; then gives up once", async () => {
    let clock = 0;
    let attempts = 0;
    const lines: [string, boolean][] = [];
    const ends: ReconnectEnd[] = [];
    await new Promise<void>((resolve) => {
      const r: Reconnection = new Reconnection({
        policy: { backoff: { baseMs: 1, maxMs: 4 }, limitMs: 35_000, attemptMs: 10_000 },
        ticking: false,
        now: () => clock,
        status: (line, first) => void lines.push([line, first]),
        attempt() {
          attempts++;
          // Each attempt takes 10 s (on the test's clock) and fails.
          clock += 10_000;
          queueMicrotask(() => r.failed({ code: "E_UNREACHABLE", message: "down" }));
          return () => {};
        },
        end(outcome) {
          ends.push(outcome);
          resolve();
        },
      });
    });
    expect(attempts).toBe(4);
    expect(ends).toEqual([{ kind: "gaveUp", elapsedMs: 40_000, why: "down" }]);
    // Not a terminal: one line, once.
    expect(lines).toEqual([["multiverse: connection lost — reconnecting… 0 s (Enter ~ . to quit)", true]]);
  });

  test("on a terminal, discarded input rewrites the line; after stop nothing more happens", async () => {
    const lines: [string, boolean][] = [];
    let attempts = 0;
    const r = new Reconnection({
      policy: { backoff: { baseMs: 1, maxMs: 1 }, limitMs: 60_000, attemptMs: 10_000 },
      ticking: true,
      now: () => 3_000,
      status: (line, first) => void lines.push([line, first]),
      attempt: () => (attempts++, () => {}),
      end: () => {},
    });
    r.discard();
    r.discard();
    r.stop();
    r.failed({ code: null, message: "x" });
    await Bun.sleep(20);
    expect(attempts).toBe(0);
    expect(lines).toEqual([
      ["multiverse: connection lost — reconnecting… 0 s (Enter ~ . to quit)", true],
      ["multiverse: connection lost — reconnecting… 0 s (input discarded while disconnected)", false],
    ]);
  });
});

describe("a failure that is final", () => {
  test("not found while the node is Ready ends at once; while it is away, the attempts go on", async () => {
    let ready = false;
    let attempts = 0;
    const outcome = await new Promise<ReconnectEnd>((resolve) => {
      const r: Reconnection = new Reconnection({
        policy: { backoff: { baseMs: 1, maxMs: 2 }, limitMs: 60_000, attemptMs: 10_000 },
        ticking: false,
        status: () => {},
        nodeReady: async () => ready,
        attempt() {
          if (++attempts === 3) ready = true;
          queueMicrotask(() => r.failed({ code: "E_NOT_FOUND", message: "no such shell" }));
          return () => {};
        },
        end: resolve,
      });
    });
    expect(attempts).toBe(3);
    expect(outcome).toEqual({ kind: "final", failure: { code: "E_NOT_FOUND", message: "no such shell" } });
  });

  test("an attempt with no answer in time is abandoned and counts as failed", async () => {
    let abandoned = 0;
    let attempts = 0;
    await new Promise<void>((resolve) => {
      const r: Reconnection = new Reconnection({
        policy: { backoff: { baseMs: 1, maxMs: 1 }, limitMs: 60_000, attemptMs: 5 },
        ticking: false,
        status: () => {},
        attempt() {
          if (++attempts === 3) {
            r.stop();
            resolve();
          }
          return () => void abandoned++;
        },
        end: () => {},
      });
    });
    expect(abandoned).toBe(2);
  });
});
