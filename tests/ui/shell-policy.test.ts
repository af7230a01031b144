import { describe, expect, test } from "bun:test";
import { afterClose, attachPath, reconnectDelay, shellPath, socketUrl, statusText, storageKey, type ConnectionFacts } from "../../lib/ui/shell-policy.ts";

const facts = (over: Partial<ConnectionFacts>): ConnectionFacts => ({ established: true, closeCode: 1006, sessionId: "0123abcd-0000", ...over });

describe("the browser terminal's policy", () => {
  test("routes carry the size, the terminal type and the keepalive; the URL follows the page's scheme", () => {
    expect(shellPath("web@n1", { cols: 120, rows: 40 })).toBe("/api/v1/instances/web%40n1/shell?cols=120&rows=40&term=xterm-256color&keepalive=2500");
    expect(attachPath("0123abcd-0000", { cols: 80, rows: 24 })).toBe("/api/v1/sessions/0123abcd-0000/attach?cols=80&rows=24&keepalive=2500");
    expect(socketUrl({ protocol: "https:", host: "m:1338" }, "/x")).toBe("wss://m:1338/x");
    expect(socketUrl({ protocol: "http:", host: "localhost:1338" }, "/x")).toBe("ws://localhost:1338/x");
    expect(storageKey("web@n1")).toBe("multiverse.shell.web@n1");
  });

  test("an exit ends the page's shell with its status", () => {
    expect(afterClose(facts({ exit: { code: 3 }, closeCode: 1000 }))).toEqual({ kind: "ended", code: 3 });
  });

  test("a detach on purpose or a take-over ends it; a detach after an error or a silent hop is ridden out", () => {
    expect(afterClose(facts({ detached: { reason: "taken over by another client" }, closeCode: 4010 }))).toEqual({ kind: "detached", reason: "taken over by another client" });
    expect(afterClose(facts({ detached: {}, closeCode: 4010 }))).toEqual({ kind: "detached", reason: "detached" });
    expect(afterClose(facts({ detached: {}, error: "E_UNREACHABLE", closeCode: 4010 }))).toEqual({ kind: "reconnect" });
    expect(afterClose(facts({ detached: {}, closeCode: 4004 }))).toEqual({ kind: "reconnect" });
  });

  test("a dropped socket reconnects a kept shell, and loses one that is not kept", () => {
    expect(afterClose(facts({}))).toEqual({ kind: "reconnect" });
    expect(afterClose(facts({ sessionId: null }))).toEqual({ kind: "lost" });
  });

  test("a refused credential or request is final", () => {
    expect(afterClose(facts({ error: "E_UNAUTHORIZED" }))).toEqual({ kind: "ended", code: null, error: "E_UNAUTHORIZED" });
    expect(afterClose(facts({ error: "E_FORBIDDEN" })).kind).toBe("ended");
  });

  test("the pause starts at 0.5 s and doubles to 5 s", () => {
    const top = () => 1;
    expect([0, 1, 2, 3, 4, 5].map((n) => reconnectDelay(n, top))).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
    expect(reconnectDelay(0, () => 0)).toBe(50);
  });

  test("the status line says connected, reconnecting, ended with its status, or detached", () => {
    expect(statusText({ state: "connected", readOnly: false }, 0)).toBe("connected");
    expect(statusText({ state: "reconnecting", sinceMs: 0 }, 500)).toBe("reconnecting…");
    expect(statusText({ state: "reconnecting", sinceMs: 0 }, 4200)).toContain("reconnecting… (4 s");
    expect(statusText({ state: "ended", code: 0 }, 0)).toBe("ended with status 0");
    expect(statusText({ state: "ended", code: null, message: "the shell is gone" }, 0)).toBe("ended: the shell is gone");
    expect(statusText({ state: "detached", reason: "detached" }, 0)).toBe("detached: detached");
  });
});
