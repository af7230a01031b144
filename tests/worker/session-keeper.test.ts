import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import { SessionKeeper, type Keepable } from "../../lib/worker/session-keeper.ts";
import { createTestLog } from "../support/test-log.ts";

const silent = createTestLog().log;

function shell(id: string, options: { owner?: string; idleSince?: number; bytes?: number } = {}): Keepable & { endedWith: string | null } {
  const s = {
    id,
    instance: "web",
    owner: options.owner ?? "tok1",
    startedAt: 0,
    endedWith: null as string | null,
    lastActivityAt: () => options.idleSince ?? 0,
    // A shell frees its mirror when it ends.
    memoryBytes: () => (s.endedWith === null ? (options.bytes ?? 1024) : 0),
    end(reason: string) {
      s.endedWith = reason;
    },
  };
  return s;
}

function codeOf(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (error) {
    return error instanceof AppError ? error.code : "not an AppError";
  }
}

describe("session keeper", () => {
  test("a detached shell is kept for the grace period, then ended with the reason", async () => {
    const keeper = new SessionKeeper({ graceMs: 60, log: silent });
    const a = shell("a");
    keeper.add(a);
    keeper.detach("a", "connection lost");
    expect(keeper.list()).toMatchObject([{ id: "a", state: "detached" }]);
    expect(a.endedWith).toBeNull();
    await Bun.sleep(120);
    expect(a.endedWith).toBe("nobody attached within 0.06s");
    expect(keeper.list()).toEqual([]);
  });

  test("grace 0 ends a shell with its client, as before", () => {
    const keeper = new SessionKeeper({ graceMs: 0, log: silent });
    const a = shell("a");
    keeper.add(a);
    keeper.detach("a", "client killed");
    expect(a.endedWith).toBe("its client went away (client killed)");
    expect(keeper.list()).toEqual([]);
  });

  test("reattaching stops the grace clock; only the owner may; the owner takes an attached shell over", async () => {
    const keeper = new SessionKeeper({ graceMs: 60, log: silent });
    const a = shell("a");
    keeper.add(a);
    expect(keeper.attach("a", "tok1")).toBe(a);
    expect(keeper.list()).toMatchObject([{ id: "a", state: "attached" }]);
    keeper.detach("a", "lost");
    expect(codeOf(() => keeper.attach("a", "someone-else"))).toBe("E_NOT_FOUND");
    expect(codeOf(() => keeper.attach("nope", "tok1"))).toBe("E_NOT_FOUND");
    expect(keeper.attach("a", "tok1")).toBe(a);
    await Bun.sleep(120);
    expect(a.endedWith).toBeNull();
    expect(keeper.list()).toMatchObject([{ id: "a", state: "attached", detachedAt: null }]);
  });

  test("past the count bound the detached shell idle the longest is evicted, never an attached one", () => {
    const keeper = new SessionKeeper({ graceMs: 60_000, maxDetached: 2, log: silent });
    const old = shell("old", { idleSince: 10 });
    const attached = shell("attached", { idleSince: 1 });
    const mid = shell("mid", { idleSince: 20 });
    const fresh = shell("fresh", { idleSince: 30 });
    for (const s of [old, attached, mid, fresh]) keeper.add(s);
    keeper.detach("old", "lost");
    keeper.detach("mid", "lost");
    expect(old.endedWith).toBeNull();
    keeper.detach("fresh", "lost");
    expect(old.endedWith).toBe("evicted: more than 2 detached shells, and it was idle the longest");
    expect(attached.endedWith).toBeNull();
    expect(keeper.list().map((v) => v.id).sort()).toEqual(["attached", "fresh", "mid"]);
    keeper.closeAll("the worker is stopping");
  });

  test("past the memory bound, idle ones go until the rest fit", () => {
    const keeper = new SessionKeeper({ graceMs: 60_000, maxDetachedBytes: 10 * 1024 * 1024, log: silent });
    const shells = [1, 2, 3].map((i) => shell(`s${i}`, { idleSince: i, bytes: 4 * 1024 * 1024 }));
    for (const s of shells) keeper.add(s);
    for (const s of shells) keeper.detach(s.id, "lost");
    expect(shells.map((s) => s.endedWith === null)).toEqual([false, true, true]);
    expect(shells[0]!.endedWith).toBe("evicted: detached shells over 10.0MiB, and it was idle the longest");
    keeper.closeAll("the worker is stopping");
    expect(shells.every((s) => s.endedWith !== null)).toBe(true);
  });

  test("a read-only watch finds only the owner's shell, and leaves it as it is: a detached one's grace clock goes on", async () => {
    const keeper = new SessionKeeper({ graceMs: 60, log: silent });
    const a = shell("a");
    keeper.add(a);
    keeper.detach("a", "lost");
    expect(codeOf(() => keeper.find("a", "someone-else"))).toBe("E_NOT_FOUND");
    expect(keeper.find("a", "tok1")).toBe(a);
    expect(keeper.list()).toMatchObject([{ id: "a", state: "detached" }]);
    await Bun.sleep(120);
    expect(a.endedWith).toBe("nobody attached within 0.06s");
  });

  test("a shell that exits leaves with its timer", async () => {
    const keeper = new SessionKeeper({ graceMs: 40, log: silent });
    const a = shell("a");
    keeper.add(a);
    keeper.detach("a", "lost");
    keeper.remove("a");
    await Bun.sleep(80);
    expect(a.endedWith).toBeNull();
    expect(keeper.get("a")).toBeNull();
  });
});
