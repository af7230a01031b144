/**
 * The client's end of a kept shell (issue 12) against a fake master: attach
 * writes the screen the worker restores; a read-only watch sends no input; a
 * dropped connection is ridden out (one status line, keys typed meanwhile
 * discarded, the screen restored); a refused reattach ends with a message and
 * 255; the escapes ~. ~d ~~ ~?.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server, ServerWebSocket } from "bun";
import { runSession, type Refusal, type SessionRequest } from "../../lib/client/session.ts";
import { controlFrame, parseSessionControl, type SessionControl } from "../../lib/protocol/session.ts";
import { waitFor } from "../e2e/harness.ts";
import { fakeTerminal, type FakeTerminal } from "../support/fake-terminal.ts";

const ID = "0123abcd-0000-4000-8000-000000000001";
const FAST = { backoff: { baseMs: 10, maxMs: 40 }, limitMs: 60_000, attemptMs: 5_000 };

interface Conn {
  path: string;
  ws: ServerWebSocket<{ path: string }>;
  input: string[];
  controls: SessionControl[];
  closed: number | null;
}

/** A master whose session and attach routes the test plays; `refuse(path)` may refuse an upgrade with a status. */
function master(play: { open(conn: Conn): void; input?(conn: Conn, text: string): void; refuse?(path: string): number | null }) {
  const conns: Conn[] = [];
  const upgrades: string[] = [];
  const server: Server<{ path: string }> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      const url = new URL(req.url);
      const path = url.pathname + url.search;
      upgrades.push(path);
      const status = play.refuse?.(path) ?? null;
      if (status !== null) return new Response("refused", { status });
      return srv.upgrade(req, { data: { path } }) ? undefined : new Response("no", { status: 400 });
    },
    websocket: {
      open(ws) {
        const conn: Conn = { path: ws.data.path, ws, input: [], controls: [], closed: null };
        conns.push(conn);
        play.open(conn);
      },
      message(ws, message) {
        const conn = conns.find((c) => c.ws === ws)!;
        if (typeof message === "string") return void conn.controls.push(parseSessionControl(message));
        const text = new TextDecoder().decode(message);
        conn.input.push(text);
        play.input?.(conn, text);
      },
      close(ws, code) {
        const conn = conns.find((c) => c.ws === ws);
        if (conn) conn.closed = code;
      },
    },
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${server.port}`, conns, upgrades };
}

const servers: Server<{ path: string }>[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
});

const send = (conn: Conn, message: SessionControl) => conn.ws.send(controlFrame(message));
const exit = (conn: Conn, code: number) => {
  send(conn, { type: "exit", code });
  conn.ws.close(1000, "exit");
};

function shellRequest(url: string, t: FakeTerminal, extra: Partial<SessionRequest> = {}): SessionRequest {
  return { baseUrl: url, token: "t", kind: "shell", ref: "web@n1", command: [], tty: true, io: t.io, reconnect: FAST, ...extra };
}

function attachRequest(url: string, t: FakeTerminal, readOnly = false, extra: Partial<SessionRequest> = {}): SessionRequest {
  return shellRequest(url, t, { attach: { id: ID, node: "n1", readOnly }, ...extra });
}

describe("attach", () => {
  test("asks the attach route at the terminal's size and writes the screen bytes that follow attached as they come", async () => {
    const m = master({
      open(conn) {
        send(conn, { type: "attached", id: ID, readOnly: false });
        conn.ws.send(new TextEncoder().encode("\x1bc\x1b[?1049h"));
        conn.ws.send(new TextEncoder().encode("\x1b[3;5Hscreen"));
      },
      input: (conn, text) => text.includes("\r") && exit(conn, 7),
    });
    const t = fakeTerminal({ cols: 120, rows: 40 });
    const done = runSession(attachRequest(m.url, t));
    await waitFor("the screen", () => t.out().includes("screen"));
    t.type("ls\r");
    expect(await done).toBe(7);
    expect(m.upgrades).toEqual([`/api/v1/sessions/${ID}/attach?cols=120&rows=40&keepalive=2500`]);
    expect(t.out()).toBe("\x1bc\x1b[?1049h\x1b[3;5Hscreen");
    expect(m.conns[0]!.input.join("")).toBe("ls\r");
    expect([t.raw[0], t.raw.at(-1)]).toEqual([true, false]);
  });

  test("read-only: asks for it, sends no keys and no resize, and Enter ~ . stops watching", async () => {
    const m = master({ open: (conn) => send(conn, { type: "attached", id: ID, readOnly: true }) });
    const t = fakeTerminal();
    const done = runSession(attachRequest(m.url, t, true));
    await waitFor("attached", () => m.conns.length === 1 && t.reading());
    t.type("rm -rf /tmp/x\r");
    t.type("\u0003");
    t.type("\r~.");
    expect(await done).toBe(255);
    expect(m.upgrades[0]).toBe(`/api/v1/sessions/${ID}/attach?cols=80&rows=24&keepalive=2500&readOnly=1`);
    await waitFor("the close", () => m.conns[0]!.closed !== null);
    expect(m.conns[0]!.input).toEqual([]);
    expect(m.conns[0]!.controls.filter((c) => c.type !== "ping")).toEqual([]);
    expect(t.err()).toContain(`stopped watching shell ${ID} on web@n1`);
  });

  test("an attach the worker refuses: its message, exit 1, nothing retried", async () => {
    const m = master({
      open(conn) {
        send(conn, { type: "error", code: "E_CONFLICT", message: "Shell has a client attached already; attach --read-only to watch it" });
        send(conn, { type: "exit", code: null });
        conn.ws.close(1000);
      },
    });
    const t = fakeTerminal();
    expect(await runSession(attachRequest(m.url, t))).toBe(1);
    expect(t.err()).toBe("\r\nmultiverse: Shell has a client attached already; attach --read-only to watch it\n");
    expect(m.upgrades).toHaveLength(1);
  });
});

/** A shell that the worker keeps: `session` first, then a prompt. */
function keptShellOpen(conn: Conn): void {
  send(conn, { type: "session", id: ID, node: "n1" });
  conn.ws.send(new TextEncoder().encode("$ "));
}

describe("a dropped connection", () => {
  test("is ridden out: one status line, keys typed meanwhile discarded and said so, then the screen restored and the shell live again", async () => {
    let open = false;
    const m = master({
      refuse: (path) => (path.includes("/attach") && !open ? 503 : null),
      open(conn) {
        if (conn.path.includes("/shell")) {
          keptShellOpen(conn);
          // Torn down without a close frame, as a lost network does.
          setTimeout(() => conn.ws.terminate(), 20);
          return;
        }
        send(conn, { type: "attached", id: ID, readOnly: false });
        conn.ws.send(new TextEncoder().encode("\x1bcrestored"));
      },
      input: (conn, text) => conn.path.includes("/attach") && text.includes("exit") && exit(conn, 0),
    });
    const t = fakeTerminal();
    const refusals: string[] = [];
    const diagnose = async (path: string): Promise<Refusal | null> => (refusals.push(path), { code: "E_UNREACHABLE", message: "the node is away" });
    const done = runSession(shellRequest(m.url, t, { diagnose }));
    await waitFor("reconnecting", () => t.err().includes("connection lost — reconnecting…"));
    await waitFor("a refused attempt", () => refusals.length > 0);
    t.type("typed-while-away\r");
    await waitFor("said so", () => t.err().includes("input discarded while disconnected"));
    open = true;
    await waitFor("restored", () => t.out().endsWith("\x1bcrestored"));
    t.type("exit\r");
    expect(await done).toBe(0);
    const attach = m.conns.find((c) => c.path.includes("/attach"))!;
    expect(attach.path).toBe(`/api/v1/sessions/${ID}/attach?cols=80&rows=24&keepalive=2500`);
    expect(attach.input.join("")).toBe("exit\r");
    expect(m.conns[0]!.input.join("")).toBe("");
    expect(t.out()).toBe("$ \x1bcrestored");
    expect(t.err().startsWith("\r\nmultiverse: connection lost — reconnecting…")).toBe(true);
    // One line, rewritten in place: no newline after the first.
    expect(t.err().slice(2)).not.toContain("\n");
    expect([t.raw[0], t.raw.at(-1)]).toEqual([true, false]);
  });

  test.each([
    ["after an error (the master lost the node)", true, 4010],
    ["with the close 4004 (a hop went silent)", false, 4004],
  ])("detached %s is ridden out too: the client attaches again", async (_what, withError, closeCode) => {
    const m = master({
      open(conn) {
        if (conn.path.includes("/shell")) {
          keptShellOpen(conn);
          setTimeout(() => {
            if (withError) send(conn, { type: "error", code: "E_UNREACHABLE", message: 'Lost the connection to node "n1" (code 1006)' });
            send(conn, { type: "detached", id: ID });
            conn.ws.close(closeCode, "detached");
          }, 20);
          return;
        }
        send(conn, { type: "attached", id: ID, readOnly: false });
        conn.ws.send(new TextEncoder().encode("\x1bcback"));
        exit(conn, 5);
      },
    });
    const t = fakeTerminal();
    expect(await runSession(shellRequest(m.url, t))).toBe(5);
    expect(m.upgrades[1]).toBe(`/api/v1/sessions/${ID}/attach?cols=80&rows=24&keepalive=2500`);
    expect(t.out()).toBe("$ \x1bcback");
  });

  test("a shell that is not kept (no session frame) is not retried: the loss is reported, exit 1", async () => {
    const m = master({ open: (conn) => setTimeout(() => conn.ws.terminate(), 20) });
    const t = fakeTerminal();
    expect(await runSession(shellRequest(m.url, t))).toBe(1);
    expect(t.err()).toMatch(/multiverse: the connection to the master was lost/);
    expect(m.upgrades).toHaveLength(1);
  });

  test("a silent master is taken for lost: the kept shell reconnects", async () => {
    const m = master({
      open(conn) {
        if (conn.path.includes("/shell")) return keptShellOpen(conn);
        send(conn, { type: "attached", id: ID, readOnly: false });
        exit(conn, 3);
      },
    });
    // The fake answers no ping: silence.
    const t = fakeTerminal();
    expect(await runSession(shellRequest(m.url, t, { liveness: { pingIntervalMs: 50, peerTimeoutMs: 200 } }))).toBe(3);
    expect(m.upgrades[1]).toBe(`/api/v1/sessions/${ID}/attach?cols=80&rows=24&keepalive=2500`);
    expect(t.err()).toContain("reconnecting");
  });

  test("a refused reattach (the shell is not found while its node is Ready) ends with a clear message and 255; not while the node is away", async () => {
    let nodeIsReady = false;
    const asked: string[] = [];
    const m = master({
      refuse: (path) => (path.includes("/attach") ? 404 : null),
      open(conn) {
        keptShellOpen(conn);
        setTimeout(() => conn.ws.terminate(), 20);
      },
    });
    const t = fakeTerminal();
    const diagnose = async (): Promise<Refusal> => ({ code: "E_NOT_FOUND", message: `No session "${ID}" of yours is kept on a node that answers` });
    const nodeReady = async (node: string) => (asked.push(node), nodeIsReady);
    const done = runSession(shellRequest(m.url, t, { diagnose, nodeReady }));
    // A master that has just restarted: the node has not joined it yet, so not found proves nothing.
    await waitFor("tries while the node is away", () => asked.length >= 3);
    nodeIsReady = true;
    expect(await done).toBe(255);
    expect(asked.every((n) => n === "n1")).toBe(true);
    expect(t.err()).toEndWith(`\r\nmultiverse: the shell ended while this client was disconnected, or its grace period passed (No session "${ID}" of yours is kept on a node that answers)\n`);
    expect(t.raw.at(-1)).toBe(false);
  });

  test("giving up after the limit: 255, and how to try again", async () => {
    const m = master({
      refuse: (path) => (path.includes("/attach") ? 503 : null),
      open(conn) {
        keptShellOpen(conn);
        setTimeout(() => conn.ws.terminate(), 20);
      },
    });
    const t = fakeTerminal();
    const policy = { backoff: { baseMs: 10, maxMs: 20 }, limitMs: 200, attemptMs: 1_000 };
    expect(await runSession(shellRequest(m.url, t, { reconnect: policy }))).toBe(255);
    expect(t.err()).toMatch(new RegExp(`multiverse: could not reconnect within .*; if the shell is still kept, reattach with: multiverse attach ${ID}\\n$`));
  });

  test("Enter ~ . while reconnecting gives up at once; Ctrl-C is just a key", async () => {
    const m = master({
      refuse: (path) => (path.includes("/attach") ? 503 : null),
      open(conn) {
        keptShellOpen(conn);
        setTimeout(() => conn.ws.terminate(), 20);
      },
    });
    const t = fakeTerminal();
    const done = runSession(shellRequest(m.url, t));
    await waitFor("reconnecting", () => t.err().includes("reconnecting"));
    t.type("\u0003");
    t.type("\r~.");
    expect(await done).toBe(255);
    expect(t.err()).toContain(`gave up reconnecting; if shell ${ID} on web@n1 is still kept, reattach with: multiverse attach ${ID}`);
  });
});

describe("escapes", () => {
  function keptShell(onInput: (conn: Conn, text: string) => void = () => {}) {
    return master({ open: keptShellOpen, input: onInput });
  }

  test("Enter ~ . disconnects: a normal close, 255, and how to reattach", async () => {
    const m = keptShell();
    const t = fakeTerminal();
    const done = runSession(shellRequest(m.url, t));
    await waitFor("the prompt", () => t.out() === "$ ");
    t.type("ls\r~.");
    expect(await done).toBe(255);
    await waitFor("the close", () => m.conns[0]!.closed !== null);
    expect(m.conns[0]!.closed).toBe(1000);
    expect(m.conns[0]!.input.join("")).toBe("ls\r");
    expect(t.err()).toBe(`\r\nmultiverse: disconnected; shell ${ID} on web@n1 goes on, detached — reattach with: multiverse attach ${ID}\n`);
  });

  test("Enter ~ d detaches: detach is sent, and after detached the client says how to reattach and exits 0", async () => {
    const m = master({
      open: keptShellOpen,
      input() {},
    });
    const t = fakeTerminal();
    const done = runSession(shellRequest(m.url, t));
    await waitFor("the prompt", () => t.out() === "$ ");
    t.type("~d");
    const conn = m.conns[0]!;
    await waitFor("detach", () => conn.controls.some((c) => c.type === "detach"));
    send(conn, { type: "detached", id: ID });
    conn.ws.close(4010, "detached");
    expect(await done).toBe(0);
    expect(conn.input).toEqual([]);
    expect(t.err()).toBe(`\r\nmultiverse: detached from shell ${ID} on web@n1; reattach with: multiverse attach ${ID}\n`);
  });

  test("~~ sends one ~, ~? lists the escapes and sends nothing, another key after ~ sends both, ~ mid-line is a ~", async () => {
    const m = keptShell((conn, text) => text.includes("END") && exit(conn, 0));
    const t = fakeTerminal();
    const done = runSession(shellRequest(m.url, t));
    await waitFor("the prompt", () => t.out() === "$ ");
    t.type("~~");
    t.type("\r~?");
    t.type("~x a~.b\rEND");
    expect(await done).toBe(0);
    expect(m.conns[0]!.input.join("")).toBe("~\r~x a~.b\rEND");
    expect(t.err()).toContain("\r\nSupported escape sequences (after Enter):\r\n  ~.  disconnect");
  });

  test("a detached frame the client did not ask for: exit 0 and the reattach hint", async () => {
    const m = master({
      open(conn) {
        keptShellOpen(conn);
        send(conn, { type: "detached", id: ID });
        conn.ws.close(4010, "detached");
      },
    });
    const t = fakeTerminal();
    expect(await runSession(shellRequest(m.url, t))).toBe(0);
    expect(t.err()).toContain(`reattach with: multiverse attach ${ID}`);
  });

  test("taken over by another client of the same token: exit 0, the worker's reason (cleaned) and the reattach hint, no reconnect", async () => {
    const m = master({
      open(conn) {
        keptShellOpen(conn);
        send(conn, { type: "detached", id: ID, reason: "another client of the same token attached to this shell\u001b[2J" });
        conn.ws.close(4010, "detached");
      },
    });
    const t = fakeTerminal();
    expect(await runSession(shellRequest(m.url, t))).toBe(0);
    expect(t.err()).toBe(`\r\nmultiverse: another client of the same token attached to this shell; detached from shell ${ID} on web@n1; reattach with: multiverse attach ${ID}\n`);
    expect(m.conns).toHaveLength(1);
  });

  test("a signal to the client of a kept shell: 130, and the shell goes on detached", async () => {
    const m = keptShell();
    const t = fakeTerminal();
    const done = runSession(shellRequest(m.url, t));
    await waitFor("the prompt", () => t.out() === "$ ");
    t.signal("SIGHUP");
    expect(await done).toBe(130);
    expect(t.err()).toBe(`\r\nmultiverse: interrupted by SIGHUP; shell ${ID} on web@n1 goes on, detached — reattach with: multiverse attach ${ID}\n`);
  });
});
