/**
 * End-to-end flow control: a real master and worker on the simulated host,
 * and readers that read slowly. The program is held back while nobody reads
 * (it is still running, blocked, long after it would have finished), and the
 * slow reader gets every byte, in order, then the exit — over the session
 * WebSocket, over the streamed POST exec, and through the client to a pipe;
 * and the client's piped stdin is held back while the program reads none.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { controlFrame, parseExecLine, parseSessionControl, type SessionControl } from "../../lib/protocol/session.ts";
import {
  apiInstances,
  envWithBun,
  hostMultipass,
  hostProcesses,
  removeTempDirs,
  roleCommand,
  simConfig,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
  type MasterHandle,
  type WorkerHandle,
} from "./harness.ts";

setDefaultTimeout(60_000);

let master: MasterHandle;
let n1: WorkerHandle;

/**
 * About 100 MB of numbered lines (the figure): more than the kernel's
 * socket buffers on the two hops can absorb, so a program not held back would
 * be done; and any byte lost, doubled or out of order shows.
 */
const COUNT = 12_500_000;
/** How long nothing is read at first: `seq` writes 100 MB in well under this, unless held back. */
const HOLD_MS = 2000;

/** Checks numbered lines as they stream in, without holding them. */
class SeqCheck {
  #next = 1;
  #partial = "";
  #bad: string | null = null;
  bytes = 0;

  push(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    const lines = (this.#partial + Buffer.from(chunk).toString("latin1")).split("\n");
    this.#partial = lines.pop() ?? "";
    for (const line of lines) {
      if (this.#bad === null && line !== String(this.#next)) this.#bad = `line ${this.#next} is ${JSON.stringify(line.slice(0, 20))}`;
      this.#next++;
    }
  }

  /** What went wrong, or "" when exactly 1..COUNT came, in order. */
  verdict(): string {
    if (this.#bad !== null) return this.#bad;
    if (this.#partial !== "") return `a cut line at the end: ${JSON.stringify(this.#partial.slice(0, 20))}`;
    return this.#next === COUNT + 1 ? "" : `${this.#next - 1} lines of ${COUNT}`;
  }
}

/** Reads `reader` to its end at about 20 MB/s, feeding `onChunk`. */
async function readSlowly(reader: { read(): Promise<{ value?: Uint8Array; done: boolean }> }, onChunk: (chunk: Uint8Array) => void): Promise<void> {
  let since = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done || value === undefined) return;
    onChunk(value);
    since += value.length;
    if (since >= 1024 * 1024) {
      since = 0;
      await Bun.sleep(50);
    }
  }
}

beforeAll(async () => {
  master = await startMaster();
  const sim = tempDir("sim-fc");
  simConfig(sim, { stepMs: 5 });
  expect((await hostMultipass(sim, ["launch", "--name", "web"])).code).toBe(0);
  n1 = await startWorker(master, "n1", { simDir: sim });
  await waitFor("web listed", async () => (await apiInstances(master)).length === 1);
});
afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

const seqRunning = () => hostProcesses(n1.simDir, n1.proc.pid).some((p) => p.includes(`seq 1 ${COUNT}`));

describe("a slow reader", () => {
  test("of a session WebSocket holds the program back, then gets every byte in order and the exit", async () => {
    const query = new URLSearchParams({ tty: "0" });
    for (const arg of ["seq", "1", String(COUNT)]) query.append("arg", arg);
    const ws = new WebSocket(`${master.apiUrl.replace("http", "ws")}/api/v1/instances/web/exec?${query}`, { headers: { authorization: `Bearer ${master.apiToken}` } });
    ws.binaryType = "arraybuffer";
    const check = new SeqCheck();
    const controls: SessionControl[] = [];
    let windowBytes = 0;
    ws.onmessage = (event) => {
      if (typeof event.data === "string") {
        const message = parseSessionControl(event.data);
        controls.push(message);
        if (message.type === "ping") ws.send(controlFrame({ type: "pong" }));
      } else if (event.data instanceof ArrayBuffer) {
        check.push(new Uint8Array(event.data).subarray(1));
        windowBytes += event.data.byteLength;
        // About 20 MB/s: a MB, then nothing until the next tick.
        if (windowBytes >= 1024 * 1024) ws.pause();
      }
    };
    const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
    await waitFor("first output", () => check.bytes > 0);
    ws.pause();
    await Bun.sleep(HOLD_MS);
    expect(seqRunning()).toBe(true);
    const ticker = setInterval(() => {
      windowBytes = 0;
      ws.resume();
    }, 50);
    const event = await closed;
    clearInterval(ticker);
    expect(event.code).toBe(1000);
    expect(controls.filter((c) => c.type !== "ping" && c.type !== "pong")).toEqual([{ type: "exit", code: 0 }]);
    expect(check.verdict()).toBe("");
  });

  test("of a streamed POST exec holds the program back, then gets every byte in order and the exit", async () => {
    const response = await fetch(`${master.apiUrl}/api/v1/instances/web/exec`, {
      method: "POST",
      headers: { authorization: `Bearer ${master.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ command: ["seq", "1", String(COUNT)] }),
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const check = new SeqCheck();
    const others: unknown[] = [];
    let partial = "";
    const take = (chunk: Uint8Array) => {
      const lines = (partial + new TextDecoder().decode(chunk)).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines.filter((l) => l !== "").map(parseExecLine)) {
        if (line.type === "stdout") check.push(Buffer.from(line.data, "base64"));
        else others.push(line);
      }
    };
    const first = await reader.read();
    if (first.value) take(first.value);
    await Bun.sleep(HOLD_MS);
    expect(seqRunning()).toBe(true);
    await readSlowly(reader, take);
    expect(partial).toBe("");
    expect(check.verdict()).toBe("");
    expect(others).toEqual([{ type: "exit", code: 0 }]);
  });

  test("of the client's stdout holds the program back, then gets every byte in order and the status", async () => {
    const proc = Bun.spawn([...roleCommand("client"), "exec", "web", "--master", master.apiUrl, "--token", master.apiToken, "--", "sh", "-c", `seq 1 ${COUNT}; exit 3`], {
      env: envWithBun({ HOME: tempDir("home") }),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = proc.stdout.getReader();
    const check = new SeqCheck();
    const first = await reader.read();
    if (first.value) check.push(first.value);
    await Bun.sleep(HOLD_MS);
    expect(seqRunning()).toBe(true);
    await readSlowly(reader, (chunk) => check.push(chunk));
    expect(await proc.exited).toBe(3);
    expect(check.verdict()).toBe("");
    expect(await new Response(proc.stderr).text()).toBe("");
  });

  test("of stdin (a program that reads none for a while) holds the client's stdin back, then gets all of it", async () => {
    const total = 200 * 1024 * 1024;
    const proc = Bun.spawn([...roleCommand("client"), "exec", "web", "-T", "--master", master.apiUrl, "--token", master.apiToken, "--", "sh", "-c", "sleep 3; wc -c"], {
      env: envWithBun({ HOME: tempDir("home") }),
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    const chunk = new Uint8Array(1024 * 1024).fill(0x61);
    let written = 0;
    const feeding = (async () => {
      while (written < total) {
        await proc.stdin.write(chunk);
        await proc.stdin.flush();
        written += chunk.length;
      }
      await proc.stdin.end();
    })();
    await Bun.sleep(HOLD_MS);
    // The program reads nothing yet: what went in is held back at the bounds (and in the kernel's buffers).
    expect(written).toBeLessThan(total);
    await feeding;
    expect(await proc.exited).toBe(0);
    expect((await new Response(proc.stdout).text()).trim()).toBe(String(total));
  });
});

