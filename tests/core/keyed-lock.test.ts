import { describe, expect, test } from "bun:test";
import { createKeyedLimit, createKeyedLock } from "../../lib/core/keyed-lock.ts";

describe("keyed lock", () => {
  test("serializes one key, in arrival order, and survives failures", async () => {
    const lock = createKeyedLock();
    const log: string[] = [];
    const task = (name: string, ms: number, fail = false) => async () => {
      log.push(`start ${name}`);
      await Bun.sleep(ms);
      log.push(`end ${name}`);
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([lock.run("web", task("a", 30, true)), lock.run("web", task("b", 5)), lock.run("web", task("c", 1))]);
    expect(log).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
    await Bun.sleep(0);
    expect(lock.busy).toBe(0);
  });

  test("different keys run in parallel", async () => {
    const lock = createKeyedLock();
    const log: string[] = [];
    await Promise.all(
      ["x", "y"].map((k) =>
        lock.run(k, async () => {
          log.push(`start ${k}`);
          await Bun.sleep(20);
          log.push(`end ${k}`);
        }),
      ),
    );
    expect(log.slice(0, 2).sort()).toEqual(["start x", "start y"]);
  });
});

describe("keyed lock of several keys", () => {
  test("waits for every key it takes, holds them all, and two callers of overlapping keys never deadlock", async () => {
    const lock = createKeyedLock();
    const log: string[] = [];
    const step = (name: string, ms: number) => async () => {
      log.push(`start ${name}`);
      await Bun.sleep(ms);
      log.push(`end ${name}`);
    };
    await Promise.all([
      lock.run("web", step("stop web", 30)),
      lock.runAll(["web", "db", "purge"], step("purge", 10)),
      lock.run("db", step("recover db", 5)),
      lock.runAll(["db", "web"], step("both", 5)),
    ]);
    // purge took db at once (sorted order), then waited for stop web; recover db, arriving meanwhile, waits for purge.
    expect(log.indexOf("start purge")).toBeGreaterThan(log.indexOf("end stop web"));
    expect(log.indexOf("start recover db")).toBeGreaterThan(log.indexOf("end purge"));
    expect(log.indexOf("start both")).toBeGreaterThan(log.indexOf("end purge"));
    // Nothing overlapped with purge.
    const during = log.slice(log.indexOf("start purge") + 1, log.indexOf("end purge"));
    expect(during).toEqual([]);
    await Bun.sleep(0);
    expect(lock.busy).toBe(0);
  });
});

describe("keyed limit", () => {
  test("at most N at a time per key, in arrival order; other keys do not wait; nothing kept after", async () => {
    const limit = createKeyedLimit(2);
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    const started: string[] = [];
    const queued: number[] = [];
    const gates: (() => void)[] = [];
    const task = (key: string, id: string) => () => {
      started.push(id);
      running.set(key, (running.get(key) ?? 0) + 1);
      most.set(key, Math.max(most.get(key) ?? 0, running.get(key)!));
      return new Promise<string>((resolve) =>
        gates.push(() => {
          running.set(key, running.get(key)! - 1);
          resolve(id);
        }),
      );
    };
    const all = ["a1", "a2", "a3", "a4", "b1"].map((id) => limit.run(id[0]!, task(id[0]!, id), (ahead) => queued.push(ahead)));
    await Bun.sleep(5);
    expect(started).toEqual(["a1", "a2", "b1"]);
    expect(queued).toEqual([2, 3]);
    while (gates.length > 0) {
      gates.shift()!();
      await Bun.sleep(1);
    }
    expect(await Promise.all(all)).toEqual(["a1", "a2", "a3", "a4", "b1"]);
    expect(started).toEqual(["a1", "a2", "b1", "a3", "a4"]);
    expect(most.get("a")).toBe(2);
  });

  test("a task that fails frees its slot", async () => {
    const limit = createKeyedLimit(1);
    await expect(limit.run("k", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await limit.run("k", async () => "next")).toBe("next");
  });
});
