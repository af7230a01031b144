import { describe, expect, test } from "bun:test";
import { createFailureLimiter } from "../../lib/net/rate-limit.ts";

describe("failure limiter", () => {
  test("locks an address out after too many failures in the window, then lets it try again", () => {
    let t = 0;
    const limiter = createFailureLimiter({ maxFailures: 3, windowMs: 1000, lockoutMs: 5000 }, () => t);
    limiter.fail("a");
    limiter.fail("a");
    expect(limiter.lockedFor("a")).toBe(0);
    limiter.fail("a");
    expect(limiter.lockedFor("a")).toBe(5000);
    expect(limiter.lockedFor("b")).toBe(0);
    t = 4999;
    expect(limiter.lockedFor("a")).toBe(1);
    t = 5000;
    expect(limiter.lockedFor("a")).toBe(0);
  });

  test("failures spread beyond the window do not add up", () => {
    let t = 0;
    const limiter = createFailureLimiter({ maxFailures: 3, windowMs: 1000, lockoutMs: 5000 }, () => t);
    for (let i = 0; i < 10; i++) {
      limiter.fail("a");
      t += 600;
    }
    expect(limiter.lockedFor("a")).toBe(0);
  });

  test("memory stays bounded with many addresses", () => {
    const limiter = createFailureLimiter({ maxFailures: 1, windowMs: 1000, lockoutMs: 5000 }, () => 0);
    for (let i = 0; i < 50_000; i++) limiter.fail(`10.0.${i >> 8}.${i & 255}`);
    expect(limiter.lockedFor("10.0.195.79")).toBe(5000);
    expect(limiter.lockedFor("10.0.0.0")).toBe(0);
  });
});
