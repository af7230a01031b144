import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import type { InstanceSummary } from "../../lib/protocol/instances.ts";
import { createOperationLog, LISTINGS_KEPT } from "../../lib/worker/operation-log.ts";

const stopped: InstanceSummary[] = [{ name: "web", state: "Stopped", ipv4: [], release: null }];

describe("the worker's operation log", () => {
  test("a call is running while it works, then ok; a failure is kept with its error; unnamed calls leave no record", async () => {
    const log = createOperationLog();
    let finish = (): void => {};
    const running = log.track("r1", { action: "stop", instance: "web" }, () => new Promise<InstanceSummary[]>((resolve) => (finish = () => resolve(stopped))));
    expect(log.get("r1")).toMatchObject({ requestId: "r1", action: "stop", instance: "web", state: "running", error: null, finishedAt: null, listing: null });
    finish();
    expect(await running).toBe(stopped);
    expect(log.get("r1")).toMatchObject({ state: "ok", error: null, finishedAt: expect.any(Number), listing: stopped });

    const failed = log.track("r2", { action: "start", instance: "db" }, async () => {
      throw new AppError("E_MULTIPASS", 'Cannot start instance "db": boom');
    });
    await expect(failed).rejects.toThrow("boom");
    expect(log.get("r2")).toMatchObject({ state: "error", error: { code: "E_MULTIPASS", message: 'Cannot start instance "db": boom' } });

    expect(await log.track(null, { action: "purge", instance: null }, async () => stopped)).toBe(stopped);
    expect(log.size).toBe(2);
    expect(log.get("never")).toBeNull();
  });

  test("bounded by count: the oldest records go first", async () => {
    const log = createOperationLog({ maxEntries: 3 });
    for (let i = 1; i <= 5; i++) await log.track(`r${i}`, { action: "stop", instance: `vm${i}` }, async () => []);
    expect(log.size).toBe(3);
    expect(log.get("r1")).toBeNull();
    expect(log.get("r2")).toBeNull();
    expect(log.get("r5")).toMatchObject({ state: "ok" });
  });

  test("bounded by age: finished records older than the limit go; a running one stays until it ends", async () => {
    let now = 0;
    const log = createOperationLog({ now: () => now, maxAgeMs: 1000 });
    let finish = (): void => {};
    const long = log.track("long", { action: "launch", instance: "big" }, () => new Promise<InstanceSummary[]>((resolve) => (finish = () => resolve([]))));
    await log.track("quick", { action: "stop", instance: "web" }, async () => []);
    now = 5000;
    expect(log.get("quick")).toBeNull();
    expect(log.get("long")).toMatchObject({ state: "running" });
    finish();
    await long;
    expect(log.get("long")).toBeNull();
    expect(log.size).toBe(0);
  });

  test("only the newest records keep the listing their call answered with", async () => {
    const log = createOperationLog();
    for (let i = 0; i <= LISTINGS_KEPT; i++) await log.track(`r${i}`, { action: "stop", instance: "web" }, async () => stopped);
    expect(log.get("r0")).toMatchObject({ state: "ok", listing: null });
    expect(log.get("r1")?.listing).toBe(stopped);
    expect(log.get(`r${LISTINGS_KEPT}`)?.listing).toBe(stopped);
  });

  test("a request id sent again is the newest record", async () => {
    const log = createOperationLog({ maxEntries: 2 });
    await log.track("a", { action: "stop", instance: "x" }, async () => []);
    await log.track("b", { action: "stop", instance: "y" }, async () => []);
    await log.track("a", { action: "start", instance: "x" }, async () => []);
    await log.track("c", { action: "stop", instance: "z" }, async () => []);
    expect(log.get("b")).toBeNull();
    expect(log.get("a")).toMatchObject({ action: "start" });
  });
});
