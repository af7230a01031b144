/**
 * The client's command tree in this process: a recorded context (stdout,
 * stderr, a terminal whose signals the test sends) and a fake master API on
 * a real Bun server whose routes the test writes.
 */
import type { Server, ServerWebSocket } from "bun";
import { runCli } from "../../lib/cli/run.ts";
import { createClientCommand, type ClientContext } from "../../lib/client/commands.ts";
import type { TerminalIo } from "../../lib/client/terminal-io.ts";
import { parseJson } from "../../lib/core/parse.ts";

export interface FakeClient {
  ctx: ClientContext;
  out: string[];
  err: string[];
  /** The questions asked on the terminal. */
  asked: string[];
  /** Sends a signal to the client, as Ctrl-C would. */
  signal(signal: NodeJS.Signals): void;
  /** Whether a signal listener is installed now. */
  listening(): boolean;
}

export function fakeClient(options: { isTTY?: boolean; cols?: number; stdinIsTTY?: boolean; answers?: string[] } = {}): FakeClient {
  const out: string[] = [];
  const err: string[] = [];
  const asked: string[] = [];
  const answers = [...(options.answers ?? [])];
  let listener: ((signal: NodeJS.Signals) => void) | undefined;
  const terminal: TerminalIo = {
    stdinIsTTY: options.stdinIsTTY ?? false,
    stdoutIsTTY: options.isTTY ?? false,
    term: "xterm-256color",
    size: () => ({ cols: options.cols ?? 80, rows: 24 }),
    onResize: () => () => {},
    setRaw: () => {},
    readStdin: (_onData, onEnd) => {
      // A terminal's input does not end; a pipe's (empty) does.
      if (!options.stdinIsTTY) queueMicrotask(onEnd);
      return () => {};
    },
    pauseStdin: () => {},
    resumeStdin: () => {},
    writeStdout: () => true,
    writeStderr: () => true,
    onWritable: () => () => {},
    onSignal(l) {
      listener = l;
      return () => (listener = undefined);
    },
    flush: async () => {},
    ask: async (question) => (asked.push(question), answers.shift() ?? ""),
  };
  const ctx: ClientContext = {
    env: { NO_COLOR: "1" },
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    isTTY: options.isTTY ?? false,
    stderrIsTTY: false,
    defaultTokenFile: "/nonexistent/api-token",
    terminal,
  };
  return { ctx, out, err, asked, signal: (s) => listener?.(s), listening: () => listener !== undefined };
}

/** One request the fake master received. */
export interface SeenRequest {
  method: string;
  path: string;
  accept: string | null;
  body: unknown;
}

export interface FakeMaster {
  url: string;
  seen: SeenRequest[];
  /** Stops the server, cutting the connections it has open. */
  stop(): Promise<void>;
}

/**
 * A master API whose answers `route` makes; every request is recorded first.
 * With `session`, WebSocket upgrades are taken and `session` plays the
 * session's master side (by default: exit 0 at once).
 */
export function fakeMaster(route: (request: SeenRequest) => Response | Promise<Response>, session?: (ws: ServerWebSocket<{ path: string }>) => void): FakeMaster {
  const seen: SeenRequest[] = [];
  const server: Server<{ path: string }> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req, srv) {
      const url = new URL(req.url);
      if (session && req.headers.get("upgrade")?.toLowerCase() === "websocket") {
        seen.push({ method: req.method, path: url.pathname + url.search, accept: null, body: undefined });
        return srv.upgrade(req, { data: { path: url.pathname + url.search } }) ? undefined : new Response("no", { status: 400 });
      }
      const text = await req.text();
      const request = { method: req.method, path: url.pathname + url.search, accept: req.headers.get("accept"), body: text === "" ? undefined : parseJson(text, "request body") };
      seen.push(request);
      return route(request);
    },
    websocket: {
      open: (ws) => session?.(ws),
      message() {},
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, stop: () => server.stop(true) };
}

/** Runs the client with `args` against `master`; resolves with its exit status. */
export function runClient(client: FakeClient, master: FakeMaster, args: string[]): Promise<number> {
  return runCli(createClientCommand(client.ctx), [...args, "--master", master.url, "--token", "mva_test"], { stdout: client.ctx.stdout, stderr: client.ctx.stderr, verbose: false });
}

/** An NDJSON answer that writes `lines` (objects, or "" for a keepalive) at the given delays, then ends (or hangs). */
export function ndjsonAnswer(steps: { afterMs: number; line: unknown }[], end: "close" | "hang" = "close"): Response {
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      for (const step of steps) {
        await Bun.sleep(step.afterMs);
        try {
          controller.enqueue(encoder.encode(step.line === "" ? "\n" : `${JSON.stringify(step.line)}\n`));
        } catch {
          return;
        }
      }
      if (end === "close") controller.close();
    },
  });
  return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
}
