import { describe, expect, test } from "bun:test";
import { createKeyedLock } from "../lib/keyed-lock.ts";

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
