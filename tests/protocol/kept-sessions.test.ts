import { describe, expect, test } from "bun:test";
import { parseAgentSessions } from "../../lib/protocol/agent.ts";
import { parseSessionView } from "../../lib/protocol/api.ts";
import { attachFromQuery, controlFrame, parseSessionControl, parseSessionStart, type SessionControl } from "../../lib/protocol/session.ts";

const id = "3f2a9c1e-7b4d-4e8a-9c2f-0a1b2c3d4e5f";

function codeOf(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? "no code";
  }
}

describe("kept shells on the session wire", () => {
  test("the control frames of keeping, attaching and detaching round-trip", () => {
    const frames: SessionControl[] = [
      { type: "session", id, node: "n1" },
      { type: "session", id, node: null },
      { type: "attached", id, readOnly: true },
      { type: "detach" },
      { type: "detached", id },
    ];
    for (const frame of frames) expect(parseSessionControl(controlFrame(frame))).toEqual(frame);
  });

  test("a start frame is a new session or an attach, each checked", () => {
    expect(parseSessionStart({ kind: "attach", id, owner: "a1b2c3d4e5f6", readOnly: false, cols: 120, rows: 40 })).toEqual({ kind: "attach", id, owner: "a1b2c3d4e5f6", readOnly: false, cols: 120, rows: 40 });
    const shell = parseSessionStart({ kind: "shell", instance: "web", command: [], cols: 80, rows: 24, term: "xterm", id, owner: "a1b2c3d4e5f6" });
    expect(shell).toMatchObject({ kind: "shell", id, owner: "a1b2c3d4e5f6" });
    // Without id and owner a shell is not kept, as from a master before kept shells.
    expect(parseSessionStart({ kind: "shell", instance: "web", command: [], cols: 80, rows: 24, term: "xterm" })).not.toHaveProperty("id");
    expect(codeOf(() => parseSessionStart({ kind: "attach", id: "../../etc", owner: "a1", readOnly: false, cols: 80, rows: 24 }))).toBe("E_USAGE");
    expect(codeOf(() => parseSessionStart({ kind: "attach", id, owner: "not hex!", readOnly: false, cols: 80, rows: 24 }))).not.toBeNull();
    expect(codeOf(() => parseSessionStart({ kind: "attach", id, owner: "a1", cols: 80, rows: 24 }))).not.toBeNull();
    expect(codeOf(() => parseSessionStart({ kind: "attach", id, owner: "a1", readOnly: false, cols: 0, rows: 24 }))).toBe("E_USAGE");
    expect(codeOf(() => parseSessionControl(JSON.stringify({ type: "detached", id: "x".repeat(5000) })))).toBe("E_USAGE");
  });

  test("the worker's and the API's listings parse, and reject what they do not know", () => {
    const kept = { id, instance: "web", owner: "a1b2", state: "detached", startedAt: "2026-12-02T01:00:00.000Z", lastActivityAt: "2026-12-02T01:05:00.000Z", detachedUntil: "2026-12-02T01:15:00.000Z", cols: 80, rows: 24, viewers: 0 };
    expect(parseAgentSessions({ sessions: [kept] }).sessions).toEqual([kept as never]);
    expect(() => parseAgentSessions({ sessions: [{ ...kept, state: "zombie" }] })).toThrow();
    const view = { id, node: "n1", instance: "web", kind: "shell", tty: true, since: kept.startedAt, size: { cols: 80, rows: 24 }, owner: "a1b2", state: "detached", mine: true, lastActivityAt: kept.lastActivityAt, detachedUntil: kept.detachedUntil, viewers: 0 };
    expect(parseSessionView(view, "s")).toEqual(view as never);
    expect(() => parseSessionView({ ...view, viewers: -1 }, "s")).toThrow();
  });
});

describe("the attach query", () => {
  test("cols, rows and readOnly from the query; the id and the owner checked", () => {
    expect(attachFromQuery(id, "a1b2c3d4e5f6", new URLSearchParams("cols=120&rows=40&readOnly=1"))).toEqual({ kind: "attach", id, owner: "a1b2c3d4e5f6", readOnly: true, cols: 120, rows: 40 });
    expect(attachFromQuery(id, "a1b2c3d4e5f6", new URLSearchParams(""))).toEqual({ kind: "attach", id, owner: "a1b2c3d4e5f6", readOnly: false, cols: 80, rows: 24 });
    expect(codeOf(() => attachFromQuery("../etc", "a1b2c3d4e5f6", new URLSearchParams("")))).toBe("E_USAGE");
    expect(codeOf(() => attachFromQuery(id, "a1b2c3d4e5f6", new URLSearchParams("readOnly=yes")))).toBe("E_USAGE");
    expect(codeOf(() => attachFromQuery(id, "a1b2c3d4e5f6", new URLSearchParams("cols=0")))).toBe("E_USAGE");
  });
});

describe("a client's declared keepalive", () => {
  test("is read from the query within its bounds, and watched for four missed pings, at least 10 s", async () => {
    const { keepaliveFromQuery } = await import("../../lib/protocol/session.ts");
    const { livenessForKeepalive, DEFAULT_LIVENESS } = await import("../../lib/net/liveness.ts");
    expect(keepaliveFromQuery(new URLSearchParams("cols=80"))).toBeNull();
    expect(keepaliveFromQuery(new URLSearchParams("keepalive=2500"))).toBe(2500);
    for (const bad of ["999", "20001", "2.5", "-1", "abc", "1".repeat(50)]) {
      expect(codeOf(() => keepaliveFromQuery(new URLSearchParams({ keepalive: bad })))).toBe("E_USAGE");
    }
    expect(livenessForKeepalive(2500)).toEqual({ pingIntervalMs: 2500, peerTimeoutMs: 10_000 });
    expect(livenessForKeepalive(5000)).toEqual({ pingIntervalMs: 5000, peerTimeoutMs: 20_000 });
    expect(livenessForKeepalive(20_000)).toEqual({ pingIntervalMs: DEFAULT_LIVENESS.pingIntervalMs, peerTimeoutMs: 80_000 });
  });
});
