import { describe, expect, test } from "bun:test";
import { attachPath, formatStatus, isRetryable, Reconnection } from "../../lib/client/reconnect.ts";

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
    expect(attachPath("ab-12", { cols: 100, rows: 30 }, false)).toBe("/api/v1/sessions/ab-12/attach?cols=100&rows=30");
    expect(attachPath("ab-12", { cols: 100, rows: 30 }, true)).toBe("/api/v1/sessions/ab-12/attach?cols=100&rows=30&readOnly=1");
  });
});

describe("a stretch of reconnecting", () => {
  test("attempts, paced by the backoff, until the limit; then gives up once", async () => {
    let clock = 0;
    let attempts = 0;
    const lines: [string, boolean][] = [];
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
          r.failed();
        },
        giveUp: resolve,
      });
    });
    expect(attempts).toBe(4);
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
      attempt: () => void attempts++,
      giveUp: () => {},
    });
    r.discard();
    r.discard();
    r.stop();
    r.failed();
    await Bun.sleep(20);
    expect(attempts).toBe(0);
    expect(lines).toEqual([
      ["multiverse: connection lost — reconnecting… 0 s (Enter ~ . to quit)", true],
      ["multiverse: connection lost — reconnecting… 0 s (input discarded while disconnected)", false],
    ]);
  });
});
