import { describe, expect, test } from "bun:test";
import { backoffDelay, MIN_DELAY_MS, sleep } from "../../lib/core/backoff.ts";

describe("backoffDelay", () => {
  const policy = { baseMs: 500, maxMs: 10_000 };
  test("the window doubles per attempt and is capped", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 50].map((a) => backoffDelay(a, policy, () => 1))).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });
  test("full jitter: anywhere in the window, never below the floor", () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(MIN_DELAY_MS);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(2000);
    const seen = new Set(Array.from({ length: 200 }, () => backoffDelay(4, policy)));
    expect(seen.size).toBeGreaterThan(50);
    for (const d of seen) expect(d >= MIN_DELAY_MS && d <= 8000).toBe(true);
  });
});

describe("sleep", () => {
  test("ends early on abort and leaves no timer behind", async () => {
    const controller = new AbortController();
    const started = performance.now();
    const done = sleep(60_000, controller.signal);
    controller.abort();
    await done;
    expect(performance.now() - started).toBeLessThan(1000);
  });
  test("an already aborted signal resolves at once", async () => {
    await sleep(60_000, AbortSignal.abort());
  });
});
