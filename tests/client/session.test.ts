import { afterEach, describe, expect, test } from "bun:test";
import type { Server, ServerWebSocket } from "bun";
import { runSession, type SessionRequest } from "../../lib/client/session.ts";
import type { TerminalIo } from "../../lib/client/terminal-io.ts";
import { CHANNEL_STDERR, CHANNEL_STDOUT, channelFrame, controlFrame, parseSessionControl, type SessionControl } from "../../lib/protocol/session.ts";

/** A local terminal that records what the session does to it. */
function fakeTerminal(options: { stdinIsTTY?: boolean; stdinCloses?: boolean; stdinLost?: boolean; typed?: string[] } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const raw: boolean[] = [];
  let signal: ((signal: NodeJS.Signals) => void) | undefined;
  const text = (bytes: Uint8Array | string) => (typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes));
  const io: TerminalIo = {
    stdinIsTTY: options.stdinIsTTY ?? false,
    stdoutIsTTY: false,
    term: "xterm-256color",
    size: () => ({ cols: 80, rows: 24 }),
    onResize: () => () => {},
    setRaw: (on) => void raw.push(on),
    readStdin: (onData, onEnd, onLost) => {
      for (const keys of options.typed ?? []) queueMicrotask(() => onData(new TextEncoder().encode(keys)));
      // A terminal that is still there never ends its input (Ctrl-D is a byte in raw mode).
      if (options.stdinLost && onLost) queueMicrotask(() => onLost(new Error("EIO: i/o error, read")));
      else if (!options.stdinIsTTY || options.stdinCloses) queueMicrotask(onEnd);
      return () => {};
    },
    pauseStdin: () => {},
    resumeStdin: () => {},
    writeStdout: (bytes) => (out.push(text(bytes)), true),
    writeStderr: (bytes) => (err.push(text(bytes)), true),
    onWritable: () => () => {},
    onSignal(listener) {
      signal = listener;
      return () => (signal = undefined);
    },
    flush: async () => {},
    ask: async () => "",
  };
  return { io, out, err, raw, sendSignal: (s: NodeJS.Signals) => signal?.(s) };
}

interface FakeMaster {
  server: Server<undefined>;
  /** Control frames the client sent. */
  controls: SessionControl[];
  /** The close code the client sent, once it closed. */
  closedWith: Promise<number>;
}

let server: Server<undefined> | undefined;
afterEach(() => {
  server?.stop(true);
  server = undefined;
});

/** A master's session route: `onOpen` plays the master's side; any path with "refuse" is refused. */
function fakeMaster(onOpen: (ws: ServerWebSocket<undefined>) => void, onInput: (ws: ServerWebSocket<undefined>, bytes: Buffer) => void = () => {}): FakeMaster {
  const controls: SessionControl[] = [];
  let closed: (code: number) => void = () => {};
  const closedWith = new Promise<number>((resolve) => (closed = resolve));
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req, srv) {
      if (req.url.includes("refuse")) return new Response("no", { status: 403 });
      return srv.upgrade(req, { data: undefined }) ? undefined : new Response("upgrade", { status: 400 });
    },
    websocket: {
      open: onOpen,
      message(ws, message) {
        if (typeof message === "string") controls.push(parseSessionControl(message));
        else onInput(ws, message);
      },
      close: (_ws, code) => closed(code),
    },
  });
  return { server, controls, closedWith };
}

function request(master: FakeMaster, io: TerminalIo, extra: Partial<SessionRequest> = {}): SessionRequest {
  return { baseUrl: `http://127.0.0.1:${master.server.port}`, token: "t", kind: "exec", ref: "web@n1", command: ["true"], tty: false, io, ...extra };
}

const encode = (text: string) => new TextEncoder().encode(text);

describe("the client's session", () => {
  test("exec output goes to its stream, and the remote status is the result", async () => {
    const master = fakeMaster((ws) => {
      ws.send(channelFrame(CHANNEL_STDOUT, encode("out")));
      ws.send(channelFrame(CHANNEL_STDERR, encode("err")));
      ws.send(controlFrame({ type: "exit", code: 3 }));
      ws.close(1000);
    });
    const t = fakeTerminal();
    expect(await runSession(request(master, t.io))).toBe(3);
    expect(t.out.join("")).toBe("out");
    expect(t.err.join("")).toBe("err");
  });

  test("with a terminal, bytes are written as they are; a ping is answered; stdin that is a terminal is not forwarded", async () => {
    const master = fakeMaster((ws) => {
      ws.send(controlFrame({ type: "ping" }));
      ws.send(encode("\u0001raw"));
      setTimeout(() => {
        ws.send(controlFrame({ type: "exit", code: 0 }));
        ws.close(1000);
      }, 50);
    });
    const t = fakeTerminal({ stdinIsTTY: true });
    expect(await runSession(request(master, t.io, { tty: false }))).toBe(0);
    expect(t.out.join("")).toBe("raw");
    expect(master.controls).toContainEqual({ type: "pong" });
    expect(master.controls).toContainEqual({ type: "eof" });
  });

  test("an interactive session whose terminal closes (EOF on it) ends at once: 130, the remote side told, raw mode undone", async () => {
    const master = fakeMaster(() => {});
    const t = fakeTerminal({ stdinIsTTY: true, stdinCloses: true });
    expect(await runSession(request(master, t.io, { kind: "shell", command: [], tty: true }))).toBe(130);
    expect(await master.closedWith).toBe(1000);
    expect(master.controls).not.toContainEqual({ type: "eof" });
    expect(t.err.join("")).toBe("\r\nmultiverse: the terminal closed; session closed\n");
    expect(t.raw.at(-1)).toBe(false);
  });

  test("an interactive session whose terminal fails (EIO) ends at once with 130 and the reason", async () => {
    const master = fakeMaster(() => {});
    const t = fakeTerminal({ stdinIsTTY: true, stdinLost: true });
    expect(await runSession(request(master, t.io, { kind: "shell", command: [], tty: true }))).toBe(130);
    expect(t.err.join("")).toBe("\r\nmultiverse: the terminal failed (EIO: i/o error, read); session closed\n");
  });

  test("an error frame without a status: failure, and the master's message", async () => {
    const master = fakeMaster((ws) => {
      ws.send(controlFrame({ type: "error", code: "E_NOT_FOUND", message: "no such instance" }));
      ws.send(controlFrame({ type: "exit", code: null }));
      ws.close(1000);
    });
    const t = fakeTerminal();
    expect(await runSession(request(master, t.io))).toBe(1);
    expect(t.err.join("")).toBe("multiverse: no such instance\n");
  });

  test("a bad control frame: the client closes with 1002 and says why", async () => {
    const master = fakeMaster((ws) => ws.send("{not json"));
    const t = fakeTerminal();
    expect(await runSession(request(master, t.io))).toBe(1);
    expect(await master.closedWith).toBe(1002);
    expect(t.err.join("")).toStartWith("multiverse: the master sent a bad control frame: ");
  });

  test("a connection lost before the exit frame", async () => {
    const master = fakeMaster((ws) => ws.close(1011, "gone"));
    const t = fakeTerminal();
    expect(await runSession(request(master, t.io))).toBe(1);
    expect(t.err.join("")).toBe("multiverse: the connection to the master was lost (code 1011)\n");
  });

  test("a refused upgrade is explained by the diagnosis, or by the close code without one", async () => {
    const master = fakeMaster(() => {});
    const asked: string[] = [];
    const t = fakeTerminal();
    const diagnose = async (path: string) => {
      asked.push(path);
      return { code: "E_UNAUTHORIZED" as const, message: "the token was refused" };
    };
    expect(await runSession(request(master, t.io, { ref: "refuse", diagnose }))).toBe(1);
    expect(asked).toEqual(["/api/v1/instances/refuse/exec?cols=80&rows=24&term=xterm-256color&tty=0&arg=true"]);
    expect(t.err.join("")).toBe("multiverse: the token was refused\n");

    const plain = fakeTerminal();
    expect(await runSession(request(master, plain.io, { ref: "refuse" }))).toBe(1);
    expect(plain.err.join("")).toStartWith(`multiverse: cannot open the exec session at http://127.0.0.1:${master.server.port} (code `);
  });

  test("a signal ends the session with 130 and a normal close, and restores the terminal", async () => {
    const t = fakeTerminal({ stdinIsTTY: true });
    const master = fakeMaster(() => setTimeout(() => t.sendSignal("SIGTERM"), 20));
    expect(await runSession(request(master, t.io, { kind: "shell", command: [], tty: true }))).toBe(130);
    expect(await master.closedWith).toBe(1000);
    expect(t.raw.at(0)).toBe(true);
    expect(t.raw.at(-1)).toBe(false);
    expect(t.err.join("")).toBe("\r\nmultiverse: interrupted by SIGTERM; session closed\n");
  });

  test("a silent master: the client gives up with 4004", async () => {
    const master = fakeMaster(() => {});
    const t = fakeTerminal();
    const code = await runSession(request(master, t.io, { liveness: { pingIntervalMs: 50, peerTimeoutMs: 200 } }));
    expect(code).toBe(1);
    expect(await master.closedWith).toBe(4004);
    expect(master.controls).toContainEqual({ type: "ping" });
    expect(t.err.join("")).toBe("multiverse: the master stopped answering (network lost?)\n");
  });

  describe("Ctrl-C typed into an interactive exec", () => {
    /** A remote command that the interrupt ends with `status` (255: killed by SIGINT, as multipass reports it). */
    const endsOnCtrlC = (status: number) =>
      fakeMaster(
        () => {},
        (ws, bytes) => {
          if (!bytes.includes(3)) return;
          ws.send(controlFrame({ type: "exit", code: status }));
          ws.close(1000);
        },
      );

    test.each([255, 130])("a remote command it ended (status %p): 130, and the client says so", async (status) => {
      const master = endsOnCtrlC(status);
      const t = fakeTerminal({ stdinIsTTY: true, typed: ["\u0003"] });
      expect(await runSession(request(master, t.io, { tty: true, command: ["sleep", "1000"] }))).toBe(130);
      expect(t.err.join("")).toBe("\r\nmultiverse: interrupted by Ctrl-C; the remote command ended\n");
      expect(t.raw.at(-1)).toBe(false);
    });

    test("keys typed after it: the remote status stands", async () => {
      const master = fakeMaster(
        () => {},
        (ws, bytes) => {
          if (!bytes.includes(0x0d)) return;
          ws.send(controlFrame({ type: "exit", code: 255 }));
          ws.close(1000);
        },
      );
      const t = fakeTerminal({ stdinIsTTY: true, typed: ["\u0003", "exit\r"] });
      expect(await runSession(request(master, t.io, { tty: true, command: ["sh"] }))).toBe(255);
      expect(t.err.join("")).toBe("");
    });

    test("without a terminal, a status of 255 stands", async () => {
      const master = fakeMaster((ws) => {
        ws.send(controlFrame({ type: "exit", code: 255 }));
        ws.close(1000);
      });
      const t = fakeTerminal();
      expect(await runSession(request(master, t.io))).toBe(255);
    });
  });
});
