/**
 * One forwarded connection on the client (forward-link.ts), against a Bun
 * WebSocket server standing in for the master: the local side is not read
 * until the socket opens, bytes and eof pass both ways, a clean exit closes
 * the local side gently, the worker's error closes it abortively with the
 * reason, a local side that is backed up stops the socket being read, and a
 * refused upgrade is explained.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server, ServerWebSocket } from "bun";
import { ForwardLink, type ForwardOutcome, type LocalEnd } from "../../lib/client/forward-link.ts";
import { controlFrame, parseSessionControl, type SessionControl } from "../../lib/protocol/session.ts";
import { waitFor } from "../e2e/harness.ts";

type Script = (ws: ServerWebSocket<undefined>, heard: { controls: SessionControl[]; bytes: string }) => void;

let server: Server<undefined> | null = null;
afterEach(() => {
  server?.stop(true);
  server = null;
});

/** A stand-in master: runs `script` on open, records what the client sends. */
function master(script: Script, onMessage?: (ws: ServerWebSocket<undefined>, heard: { controls: SessionControl[]; bytes: string }) => void) {
  const heard = { controls: [] as SessionControl[], bytes: "" };
  server = Bun.serve<undefined>({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => (new URL(req.url).pathname === "/refused" ? new Response("no", { status: 409 }) : srv.upgrade(req, { data: undefined }) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      open: (ws) => script(ws, heard),
      message(ws, message) {
        if (typeof message === "string") heard.controls.push(parseSessionControl(message));
        else heard.bytes += Buffer.from(message).toString();
        onMessage?.(ws, heard);
      },
    },
  });
  return heard;
}

/** A local end that records what happens to it; `full` makes writes report a backlog. */
function localEnd(options: { full?: boolean } = {}) {
  const events: string[] = [];
  let written = "";
  const end: LocalEnd = {
    write(bytes) {
      written += Buffer.from(bytes).toString();
      return !options.full;
    },
    end: () => void events.push("end"),
    pause: () => void events.push("pause"),
    resume: () => void events.push("resume"),
    close: (failed) => void events.push(failed ? "close-abort" : "close"),
  };
  return { end, events, written: () => written };
}

function open(path: string, local: LocalEnd, diagnose?: (path: string) => Promise<{ code: null; message: string } | null>) {
  let outcome: ForwardOutcome | null = null;
  const link = new ForwardLink({
    target: { url: `ws://127.0.0.1:${server!.port}${path}`, token: null },
    path,
    local,
    onEnd: (o) => (outcome = o),
    ...(diagnose ? { diagnose } : {}),
  });
  return { link, outcome: () => outcome };
}

describe("ForwardLink", () => {
  test("the local side waits for the socket; bytes and eof pass both ways; exit 0 closes it gently", async () => {
    const heard = master(
      (ws) => ws.send(new TextEncoder().encode("hello")),
      (ws, h) => {
        if (h.controls.some((c) => c.type === "eof")) {
          ws.send(controlFrame({ type: "eof" }));
          ws.send(controlFrame({ type: "exit", code: 0 }));
          ws.close(1000, "exit");
        }
      },
    );
    const local = localEnd();
    const { link, outcome } = open("/fwd", local.end);
    expect(local.events).toEqual(["pause"]);
    link.inputEnded();
    await waitFor("the outcome", outcome);
    expect(outcome()).toEqual({ ok: true });
    expect(local.written()).toBe("hello");
    expect(heard.controls).toContainEqual({ type: "eof" });
    expect(local.events).toEqual(["pause", "resume", "end", "close"]);
  });

  test("the worker's error ends it with the reason, the local side reset", async () => {
    master((ws) => {
      ws.send(controlFrame({ type: "error", code: "E_UNAVAILABLE", message: 'Cannot connect to port 9 of "web": connection refused' }));
      ws.send(controlFrame({ type: "exit", code: null }));
      ws.close(1000, "exit");
    });
    const local = localEnd();
    const { outcome } = open("/fwd", local.end);
    await waitFor("the outcome", outcome);
    expect(outcome()).toEqual({ ok: false, failure: { code: "E_UNAVAILABLE", message: 'Cannot connect to port 9 of "web": connection refused' } });
    expect(local.events.at(-1)).toBe("close-abort");
  });

  test("a backed-up local side stops the socket being read until it is writable again", async () => {
    master((ws) => {
      // Far more than one read: the client reads one frame, stops, and the rest waits.
      for (let i = 0; i < 64; i++) ws.send(new Uint8Array(64 * 1024).fill(1));
    });
    const local = localEnd({ full: true });
    const { link } = open("/fwd", local.end);
    await waitFor("a first frame", () => local.written().length > 0);
    await Bun.sleep(200);
    const whilePaused = local.written().length;
    expect(whilePaused).toBeLessThan(64 * 64 * 1024);
    link.writable();
    await waitFor("more after writable", () => local.written().length > whilePaused);
    link.close();
  });

  test("a refused upgrade is explained by asking the master why", async () => {
    master(() => {});
    const local = localEnd();
    const { outcome } = open("/refused", local.end, async (path) => ({ code: null, message: `asked ${path}: Instance "web" not found` }));
    await waitFor("the outcome", outcome);
    expect(outcome()).toEqual({ ok: false, failure: { code: null, message: 'asked /refused: Instance "web" not found' } });
    expect(local.events.at(-1)).toBe("close-abort");
  });
});
