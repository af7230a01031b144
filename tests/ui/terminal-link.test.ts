/**
 * The browser terminal's connection against a real WebSocket server that
 * speaks the session wire: a new shell and its kept id, the ride through a
 * dropped connection by the attach route, a stored id refused on load, a
 * detach on purpose, and the exit status. The page's globals (location,
 * sessionStorage) are given to Bun as a browser would have them.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Server, ServerWebSocket } from "bun";
import type { ShellStatus } from "../../lib/ui/shell-policy.ts";
import { ShellLink } from "../../lib/ui/terminal-link.ts";

interface Conn {
  path: string;
  ws: ServerWebSocket<{ path: string }>;
  received: (string | Uint8Array)[];
}

const ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
let server: Server<{ path: string }>;
let conns: Conn[];
let refuseAttach: boolean;
let refuseShell: boolean;
const realFetch = globalThis.fetch;
const store = new Map<string, string>();

async function until<T>(what: string, check: () => T | undefined | false, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

beforeEach(() => {
  conns = [];
  refuseAttach = false;
  refuseShell = false;
  store.clear();
  server = Bun.serve<{ path: string }>({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req, srv) {
      const url = new URL(req.url);
      if (refuseAttach && url.pathname.includes("/attach")) return new Response("not found", { status: 404 });
      if (refuseShell && url.pathname.endsWith("/shell")) return new Response("busy", { status: 409 });
      if (url.pathname === "/api/v1/instances/web%40n1") return Response.json({ node: "n1", name: "web", state: "Suspended", ipv4: [], release: null });
      return srv.upgrade(req, { data: { path: url.pathname + url.search } }) ? undefined : new Response("no", { status: 400 });
    },
    websocket: {
      open(ws) {
        conns.push({ path: ws.data.path, ws, received: [] });
      },
      message(ws, message) {
        conns.find((c) => c.ws === ws)?.received.push(typeof message === "string" ? message : new Uint8Array(message));
      },
    },
  });
  Object.assign(globalThis, {
    location: { protocol: "http:", host: `127.0.0.1:${server.port}` },
    // The page's fetch of a path goes to its own origin.
    fetch: (input: string | URL | Request, init?: RequestInit) => realFetch(typeof input === "string" && input.startsWith("/") ? `http://127.0.0.1:${server.port}${input}` : input, init),
    sessionStorage: { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v), removeItem: (k: string) => void store.delete(k) },
  });
});

afterEach(() => {
  globalThis.fetch = realFetch;
  server.stop(true);
});

function open(statuses: ShellStatus[], written: Uint8Array[] = [], resets = { count: 0 }) {
  const link = new ShellLink("web@n1", { write: (d) => written.push(d), reset: () => resets.count++, size: () => ({ cols: 100, rows: 30 }) }, (s) => statuses.push(s));
  link.start();
  return link;
}

describe("the browser terminal's connection", () => {
  test("a new shell: the route, its size and keepalive; the kept id stored; keys go out as bytes; the exit status ends it", async () => {
    const statuses: ShellStatus[] = [];
    const written: Uint8Array[] = [];
    const link = open(statuses, written);
    const conn = await until("the shell socket", () => conns[0]);
    expect(conn.path).toBe("/api/v1/instances/web%40n1/shell?cols=100&rows=30&term=xterm-256color&keepalive=2500");
    await until("connected", () => statuses.at(-1)?.state === "connected");
    conn.ws.send(JSON.stringify({ type: "session", id: ID, node: "n1" }));
    conn.ws.send(new TextEncoder().encode("héllo"));
    await until("the output", () => written.length === 1);
    expect(new TextDecoder().decode(written[0])).toBe("héllo");
    expect(store.get("multiverse.shell.web@n1")).toBe(ID);
    link.input("ls\r");
    link.resize({ cols: 120, rows: 40 });
    await until("input and resize", () => conn.received.length >= 2);
    expect(new TextDecoder().decode(conn.received[0] as Uint8Array)).toBe("ls\r");
    expect(JSON.parse(conn.received[1] as string)).toEqual({ type: "resize", cols: 120, rows: 40 });
    conn.ws.send(JSON.stringify({ type: "ping" }));
    await until("the pong", () => conn.received.some((m) => typeof m === "string" && JSON.parse(m).type === "pong"));
    conn.ws.send(JSON.stringify({ type: "exit", code: 7 }));
    conn.ws.close(1000);
    const last = await until("ended", () => (statuses.at(-1)?.state === "ended" ? statuses.at(-1) : undefined));
    expect(last).toEqual({ state: "ended", code: 7 });
    expect(store.has("multiverse.shell.web@n1")).toBe(false);
    link.close();
  });

  test("a dropped connection is ridden out through the attach route, and the screen restored after a reset", async () => {
    const statuses: ShellStatus[] = [];
    const written: Uint8Array[] = [];
    const resets = { count: 0 };
    const link = open(statuses, written, resets);
    const first = await until("the shell socket", () => conns[0]);
    first.ws.send(JSON.stringify({ type: "session", id: ID, node: "n1" }));
    await until("the id", () => store.get("multiverse.shell.web@n1"));
    first.ws.terminate();
    await until("reconnecting", () => statuses.at(-1)?.state === "reconnecting");
    const second = await until("the attach socket", () => conns[1]);
    expect(second.path).toBe(`/api/v1/sessions/${ID}/attach?cols=100&rows=30&keepalive=2500`);
    second.ws.send(JSON.stringify({ type: "attached", id: ID, readOnly: false }));
    second.ws.send(new TextEncoder().encode("screen"));
    await until("connected again", () => statuses.at(-1)?.state === "connected");
    await until("the screen", () => written.length === 1);
    expect(resets.count).toBe(1);
    link.close();
  });

  test("on load, a stored id that cannot be attached falls back to a new shell", async () => {
    store.set("multiverse.shell.web@n1", ID);
    refuseAttach = true;
    const statuses: ShellStatus[] = [];
    const link = open(statuses);
    const conn = await until("a new shell", () => conns[0]);
    expect(conn.path.startsWith("/api/v1/instances/web%40n1/shell?")).toBe(true);
    await until("connected", () => statuses.at(-1)?.state === "connected");
    expect(store.has("multiverse.shell.web@n1")).toBe(false);
    link.close();
  });

  test("on load, a stored id is taken back first", async () => {
    store.set("multiverse.shell.web@n1", ID);
    const statuses: ShellStatus[] = [];
    const link = open(statuses);
    const conn = await until("the attach", () => conns[0]);
    expect(conn.path.startsWith(`/api/v1/sessions/${ID}/attach?`)).toBe(true);
    expect(statuses.at(-1)?.state).toBe("connecting");
    conn.ws.send(JSON.stringify({ type: "attached", id: ID, readOnly: true }));
    await until("connected read-only", () => statuses.at(-1)?.state === "connected");
    expect(statuses.at(-1)).toEqual({ state: "connected", readOnly: true });
    link.close();
  });

  test("a detach on purpose (or a take-over) ends the page's connection without a reconnect; the id stays for a reload", async () => {
    const statuses: ShellStatus[] = [];
    const link = open(statuses);
    const conn = await until("the shell socket", () => conns[0]);
    conn.ws.send(JSON.stringify({ type: "session", id: ID, node: "n1" }));
    await until("the id", () => store.get("multiverse.shell.web@n1"));
    link.detach();
    await until("the detach", () => conn.received.some((m) => typeof m === "string" && JSON.parse(m).type === "detach"));
    conn.ws.send(JSON.stringify({ type: "detached", id: ID, reason: "detached on request" }));
    conn.ws.close(4010);
    await until("detached", () => statuses.at(-1)?.state === "detached");
    await Bun.sleep(700);
    expect(conns).toHaveLength(1);
    expect(store.get("multiverse.shell.web@n1")).toBe(ID);
    link.close();
  });

  test("a shell that is not kept is lost with its connection", async () => {
    const statuses: ShellStatus[] = [];
    const link = open(statuses);
    const conn = await until("the shell socket", () => conns[0]);
    await until("connected", () => statuses.at(-1)?.state === "connected");
    conn.ws.terminate();
    const last = await until("ended", () => (statuses.at(-1)?.state === "ended" ? statuses.at(-1) : undefined));
    expect(last).toMatchObject({ state: "ended", code: null });
    link.close();
  });

  test("a refused shell says why, from the instance's own answer", async () => {
    refuseShell = true;
    const statuses: ShellStatus[] = [];
    const link = open(statuses);
    const last = await until("ended", () => (statuses.at(-1)?.state === "ended" ? statuses.at(-1) : undefined));
    expect(last).toEqual({ state: "ended", code: null, message: "the master refused the shell (web@n1 is Suspended)" });
    expect(conns).toHaveLength(0);
    link.close();
  });
});
