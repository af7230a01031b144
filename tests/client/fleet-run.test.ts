/**
 * The fan-out of a fleet exec (fleet.ts) against a stand-in master: each
 * instance's session is the client's real exec session over a real
 * WebSocket. The bound on sessions at once, stdin to every one, remote
 * statuses, a refused session explained, a session that never ends cut by
 * the timeout, and a hang-up of the client reaching every open session.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server, ServerWebSocket } from "bun";
import { runFleet, readFleetStdin } from "../../lib/client/fleet.ts";
import { FleetOutput } from "../../lib/client/fleet-output.ts";
import type { TerminalIo } from "../../lib/client/terminal-io.ts";
import { colors } from "../../lib/client/tables.ts";
import { CHANNEL_STDOUT, channelFrame, controlFrame } from "../../lib/protocol/session.ts";

type Data = { name: string; input: number[] };

let server: Server<Data> | undefined;
afterEach(() => {
  void server?.stop(true);
  server = undefined;
});

/**
 * A master whose instance `NAME@n1` behaves after its name: `down*` refuses
 * the session (502, as for a Down node), `hang*` opens and never answers,
 * `failN` exits N; the others echo their stdin back and exit 0.
 */
function standIn() {
  let open = 0;
  let peak = 0;
  let closedByClient = 0;
  const finish = (ws: ServerWebSocket<Data>) => {
    const { name, input } = ws.data;
    ws.send(channelFrame(CHANNEL_STDOUT, new TextEncoder().encode(`${name} read ${input.length} bytes: ${new TextDecoder().decode(new Uint8Array(input))}\n`)));
    const fail = /^fail(\d+)$/.exec(name);
    ws.send(controlFrame({ type: "exit", code: fail ? Number(fail[1]) : 0 }));
    ws.close(1000, "exit");
  };
  server = Bun.serve<Data>({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      const name = decodeURIComponent(new URL(req.url).pathname.split("/")[4] ?? "").split("@")[0]!;
      if (name.startsWith("down")) return Response.json({ error: { code: "E_UNREACHABLE", message: `Node "n1" is Down; cannot open a session on "${name}"` } }, { status: 502 });
      return srv.upgrade(req, { data: { name, input: [] } }) ? undefined : new Response("no", { status: 400 });
    },
    websocket: {
      open() {
        open++;
        peak = Math.max(peak, open);
      },
      message(ws, message) {
        if (typeof message !== "string") return void ws.data.input.push(...new Uint8Array(message));
        if (JSON.parse(message).type === "eof" && !ws.data.name.startsWith("hang")) setTimeout(() => finish(ws), 20);
      },
      close(ws, code) {
        open--;
        if (code !== 1000 || ws.data.name.startsWith("hang")) closedByClient++;
      },
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, peak: () => peak, open: () => open, closedByClient: () => closedByClient };
}

/** Resolves once `check` holds (polled). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await Bun.sleep(5);
}

/** The real terminal, as far as the runner uses it: its output collected, its signals triggerable. */
function terminal() {
  const out: string[] = [];
  let signal: (s: NodeJS.Signals) => void = () => {};
  const io = {
    stdinIsTTY: true,
    term: "dumb",
    onWritable: () => () => {},
    onSignal: (listener: (s: NodeJS.Signals) => void) => ((signal = listener), () => (signal = () => {})),
    flush: () => Promise.resolve(),
  } as unknown as TerminalIo;
  return { io, out, signal: (s: NodeJS.Signals) => signal(s) };
}

async function fleet(names: string[], options: { parallel?: number; timeoutMs?: number | null; stdin?: string; signalAtOpen?: number } = {}) {
  const master = standIn();
  const t = terminal();
  const output = new FleetOutput(names.map((n) => `${n}@n1`), { mode: "lines", sink: { stdout: (s) => (t.out.push(s), true), stderr: (s) => (t.out.push(s), true) }, colors: colors(false), strip: false });
  const { signalAtOpen } = options;
  if (signalAtOpen !== undefined) void until(() => master.open() === signalAtOpen).then(() => t.signal("SIGINT"));
  const run = await runFleet({
    targets: names.map((name) => ({ name, node: "n1" })),
    command: ["cat"],
    parallel: options.parallel ?? 16,
    timeoutMs: options.timeoutMs ?? null,
    stdin: new TextEncoder().encode(options.stdin ?? ""),
    output,
    base: {
      baseUrl: master.url,
      token: null,
      diagnose: async (path) => {
        const answer = await fetch(master.url + path);
        const body = (await answer.json()) as { error: { code: string; message: string } };
        return { code: null, message: body.error.message };
      },
    },
    terminal: t.io,
  });
  return { ...run, out: t.out, master };
}

describe("runFleet", () => {
  test("every instance runs, at most `parallel` at once, each gets all of stdin; statuses as they came", async () => {
    const names = Array.from({ length: 12 }, (_, i) => (i === 4 ? "fail3" : `w${i}`));
    const { results, interrupted, out, master } = await fleet(names, { parallel: 3, stdin: "x".repeat(100 * 1024) });
    expect(interrupted).toBe(false);
    expect(master.peak()).toBeLessThanOrEqual(3);
    expect(master.peak()).toBeGreaterThan(1);
    expect(results.map((r) => [r.instance, r.outcome, r.exitCode])).toEqual(names.map((n) => [n, n === "fail3" ? "failed" : "ok", n === "fail3" ? 3 : 0]));
    expect(out.filter((l) => l.includes(`read ${100 * 1024} bytes`)).length).toBe(12);
  });

  test("a refused session is unreachable with the master's reason; it does not hold the others", async () => {
    const { results } = await fleet(["a", "down1", "b"]);
    expect(results.map((r) => [r.instance, r.outcome, r.error])).toEqual([
      ["a", "ok", null],
      ["down1", "unreachable", 'Node "n1" is Down; cannot open a session on "down1"'],
      ["b", "ok", null],
    ]);
  });

  test("a session that never ends is cut at the timeout and closed; the rest complete", async () => {
    const { results, master } = await fleet(["hang1", "a", "b"], { timeoutMs: 300, parallel: 2 });
    expect(results.map((r) => [r.instance, r.outcome])).toEqual([
      ["hang1", "timeout"],
      ["a", "ok"],
      ["b", "ok"],
    ]);
    expect(results[0]!.error).toStartWith("no end within 0.3s");
    await until(() => master.open() === 0);
  });

  test("a signal hangs every open session up and starts no more", async () => {
    const names = ["hang1", "hang2", "hang3", "hang4"];
    const { results, interrupted, master } = await fleet(names, { parallel: 2, signalAtOpen: 2 });
    expect(interrupted).toBe(true);
    expect(results.map((r) => [r.instance, r.outcome])).toEqual(names.map((n) => [n, "interrupted"]));
    expect(results.slice(2).map((r) => r.error)).toEqual(["not started", "not started"]);
    await until(() => master.open() === 0);
    expect(master.closedByClient()).toBe(2);
  });
});

describe("readFleetStdin", () => {
  function piped(chunks: string[]): TerminalIo {
    return {
      stdinIsTTY: false,
      readStdin(onData: (b: Uint8Array) => void, onEnd: () => void) {
        queueMicrotask(() => {
          for (const c of chunks) onData(new TextEncoder().encode(c));
          onEnd();
        });
        return () => {};
      },
    } as unknown as TerminalIo;
  }

  test("all of it, once", async () => {
    expect(new TextDecoder().decode(await readFleetStdin(piped(["ab", "cd"])))).toBe("abcd");
  });

  test("past the bound: a clear error", async () => {
    await expect(readFleetStdin(piped(["abc", "def"]), 5)).rejects.toThrow("Standard input is larger than 5B");
  });

  test("a terminal: nothing", async () => {
    expect((await readFleetStdin({ stdinIsTTY: true } as TerminalIo)).length).toBe(0);
  });
});
