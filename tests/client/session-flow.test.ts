/**
 * Flow control in the client: output that stdout has not taken stops the
 * socket being read (the master then holds it back), so the client holds a
 * bounded backlog however much comes; stdin is not read while the socket has
 * a full backlog.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server, ServerWebSocket } from "bun";
import { runSession } from "../../lib/client/session.ts";
import type { TerminalIo } from "../../lib/client/terminal-io.ts";
import { CHANNEL_STDOUT, channelFrame, controlFrame, SEND_BACKLOG_BYTES } from "../../lib/protocol/session.ts";

const MB = 1024 * 1024;
const FRAME = 64 * 1024;
/** What a slow stdout holds before its write says "wait", like a pipe's highWaterMark. */
const STDOUT_HWM = 64 * 1024;

let server: Server<undefined> | undefined;
afterEach(() => {
  void server?.stop(true);
  server = undefined;
});

/** A master that sends `total` bytes as its socket takes them, then exit 0; or that reads no input. */
function master(total: number, options: { readInput?: boolean } = {}) {
  let sent = 0;
  const pump = (ws: ServerWebSocket<undefined>) => {
    while (sent < total && ws.getBufferedAmount() <= SEND_BACKLOG_BYTES) {
      ws.send(channelFrame(CHANNEL_STDOUT, new Uint8Array(FRAME).fill(0x61 + ((sent / FRAME) % 26))));
      sent += FRAME;
    }
    if (total > 0 && sent >= total && ws.getBufferedAmount() === 0 && ws.readyState === 1) {
      ws.send(controlFrame({ type: "exit", code: 0 }));
      ws.close(1000, "exit");
      sent = Infinity;
    }
  };
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => (srv.upgrade(req, { data: undefined }) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      open(ws) {
        if (options.readInput === false) ws.pause();
        pump(ws);
      },
      message() {},
      drain: (ws) => pump(ws),
    },
  });
  return `http://127.0.0.1:${server.port}`;
}

/** A terminal whose stdout takes `bytesPerTick` every 5 ms, and whose stdin (when piped) has endless input. */
function slowTerminal(bytesPerTick: number, options: { stdin?: boolean } = {}) {
  const chunks: Uint8Array[] = [];
  let backlog = 0;
  let peak = 0;
  let writable: () => void = () => {};
  let stdinPaused = false;
  let fed = 0;
  let stdinTimer: ReturnType<typeof setInterval> | undefined;
  const io: TerminalIo = {
    stdinIsTTY: false,
    stdoutIsTTY: false,
    term: "dumb",
    size: () => ({ cols: 80, rows: 24 }),
    onResize: () => () => {},
    setRaw: () => {},
    readStdin(onData, onEnd) {
      if (!options.stdin) {
        queueMicrotask(onEnd);
        return () => {};
      }
      stdinTimer = setInterval(() => {
        for (let i = 0; i < 16 && !stdinPaused; i++) {
          onData(new Uint8Array(FRAME));
          fed += FRAME;
        }
      }, 1);
      return () => clearInterval(stdinTimer);
    },
    pauseStdin: () => void (stdinPaused = true),
    resumeStdin: () => void (stdinPaused = false),
    writeStdout(bytes) {
      const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
      chunks.push(b.slice());
      backlog += b.length;
      peak = Math.max(peak, backlog);
      return backlog < STDOUT_HWM;
    },
    writeStderr: () => true,
    onWritable(listener) {
      writable = listener;
      return () => (writable = () => {});
    },
    onSignal: () => () => {},
    flush: async () => {},
    ask: async () => "",
  };
  const timer = setInterval(() => {
    if (backlog === 0) return;
    const was = backlog;
    backlog = Math.max(0, backlog - bytesPerTick);
    if (was >= STDOUT_HWM && backlog < STDOUT_HWM) writable();
  }, 5);
  return {
    io,
    stop: () => (clearInterval(timer), clearInterval(stdinTimer)),
    bytes: () => Buffer.concat(chunks),
    get peak() {
      return peak;
    },
    get fed() {
      return fed;
    },
    get stdinPaused() {
      return stdinPaused;
    },
  };
}

describe("the client's flow control", () => {
  test("stdout slower than the output: the client's backlog stays bounded, and every byte comes in order", async () => {
    const total = 16 * MB;
    const baseUrl = master(total);
    const t = slowTerminal(128 * 1024);
    const code = await runSession({ baseUrl, token: null, kind: "exec", ref: "web@n1", command: ["yes"], tty: false, io: t.io });
    t.stop();
    expect(code).toBe(0);
    const bytes = t.bytes();
    expect(bytes.length).toBe(total);
    for (let frame = 0; frame < total / FRAME; frame += 13) expect(bytes[frame * FRAME]).toBe(0x61 + (frame % 26));
    // The pipe's mark, plus what Bun had read from the socket before it was paused.
    expect(t.peak).toBeLessThan(SEND_BACKLOG_BYTES + STDOUT_HWM);
  });

  test("a master that takes no input: stdin stops being read within the bound", async () => {
    const baseUrl = master(0, { readInput: false });
    const t = slowTerminal(MB, { stdin: true });
    void runSession({ baseUrl, token: null, kind: "exec", ref: "web@n1", command: ["cat"], tty: false, io: t.io });
    const deadline = Date.now() + 10_000;
    while (!t.stdinPaused && t.fed < 256 * MB && Date.now() < deadline) await Bun.sleep(5);
    expect(t.stdinPaused).toBe(true);
    // The bound, plus what the kernel's socket buffers took.
    expect(t.fed).toBeLessThan(32 * MB);
    t.stop();
  });
});
