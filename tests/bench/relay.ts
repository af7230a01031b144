/**
 * Relay benchmark: terminal throughput and keystroke round-trip through a
 * real master and worker (on the simulated host), each beside the same
 * figure for a direct local PTY measured in the same run.
 *
 *   bun run bench            (all benchmarks)
 *   bun tests/bench/relay.ts (this one)
 */
import { controlFrame, parseSessionControl } from "../../lib/protocol/session.ts";
import { apiInstances, hostMultipass, simConfig, startMaster, startWorker, stopAll, removeTempDirs, tempDir, waitFor } from "../e2e/harness.ts";

const THROUGHPUT_BYTES = 32 * 1024 * 1024;
const KEYSTROKES = 400;

interface Figures {
  mbPerSecond: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A byte source and sink: a local PTY or a relayed session. */
interface Pipe {
  write(bytes: string): void;
  onData(listener: (bytes: Uint8Array) => void): void;
  close(): Promise<void>;
}

function localPty(argv: string[]): Pipe {
  let listener: (bytes: Uint8Array) => void = () => {};
  const proc = Bun.spawn(argv, { terminal: { cols: 120, rows: 40, data: (_t, bytes) => listener(bytes) }, env: { ...process.env, TERM: "xterm-256color" } });
  return {
    write: (s) => void proc.terminal?.write(s),
    onData: (l) => (listener = l),
    async close() {
      proc.terminal?.close();
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

async function relayed(apiUrl: string, token: string, ref: string, command: string[]): Promise<Pipe> {
  const query = new URLSearchParams({ tty: "1", cols: "120", rows: "40", term: "xterm-256color" });
  for (const arg of command) query.append("arg", arg);
  const ws = new WebSocket(`${apiUrl.replace("http", "ws")}/api/v1/instances/${ref}/exec?${query}`, { headers: { authorization: `Bearer ${token}` } });
  ws.binaryType = "arraybuffer";
  let listener: (bytes: Uint8Array) => void = () => {};
  ws.onmessage = (e) => {
    if (typeof e.data === "string") {
      if (parseSessionControl(e.data).type === "ping") ws.send(controlFrame({ type: "pong" }));
      return;
    }
    // binaryType is "arraybuffer", so every binary frame is an ArrayBuffer.
    if (e.data instanceof ArrayBuffer) listener(new Uint8Array(e.data));
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("session refused"));
  });
  return {
    write: (s) => ws.send(new TextEncoder().encode(s)),
    onData: (l) => (listener = l),
    async close() {
      const closed = new Promise((resolve) => (ws.onclose = resolve));
      ws.close();
      await closed;
    },
  };
}

/** Output of `head -c N /dev/zero | tr` through the pipe, in MB/s. */
async function throughput(open: (argv: string[]) => Promise<Pipe>): Promise<number> {
  // stty raw: no \n → \r\n translation, so the byte count is exact on both paths.
  const argv = ["sh", "-c", `stty raw -echo; sleep 0.2; head -c ${THROUGHPUT_BYTES} /dev/zero | tr '\\0' x; sleep 5`];
  const pipe = await open(argv);
  let received = 0;
  let started = 0;
  const done = new Promise<number>((resolve) => {
    pipe.onData((bytes) => {
      for (const b of bytes) if (b === 0x78) received++;
      if (received > 0 && started === 0) started = performance.now();
      if (received >= THROUGHPUT_BYTES) resolve(performance.now() - started);
    });
  });
  const ms = await done;
  await pipe.close();
  return THROUGHPUT_BYTES / (1024 * 1024) / (ms / 1000);
}

/** Round trips of one key through `cat` on a terminal (echo comes back). */
async function keystrokes(open: (argv: string[]) => Promise<Pipe>): Promise<{ p50: number; p99: number }> {
  const pipe = await open(["sh", "-c", "stty raw -echo; printf READY; cat"]);
  let buffer = "";
  let waiting: ((value: void) => void) | null = null;
  let expected = "";
  pipe.onData((bytes) => {
    buffer += new TextDecoder().decode(bytes);
    if (waiting && buffer.includes(expected)) {
      const w = waiting;
      waiting = null;
      w();
    }
  });
  const wait = (text: string) =>
    new Promise<void>((resolve) => {
      expected = text;
      if (buffer.includes(text)) return resolve();
      waiting = resolve;
    });
  await wait("READY");
  const samples: number[] = [];
  for (let i = 0; i < KEYSTROKES; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    buffer = "";
    const started = performance.now();
    pipe.write(key);
    await wait(key);
    samples.push(performance.now() - started);
  }
  await pipe.close();
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

export async function runRelayBench(): Promise<void> {
  const master = await startMaster();
  const sim = tempDir("bench-sim");
  simConfig(sim, { stepMs: 5 });
  await hostMultipass(sim, ["launch", "--name", "bench"]);
  await startWorker(master, "b1", { simDir: sim });
  await waitFor("instance", async () => (await apiInstances(master)).length === 1);
  try {
    const viaRelay = (argv: string[]) => relayed(master.apiUrl, master.apiToken, "bench", argv);
    const direct = async (argv: string[]) => localPty(argv);
    const relayFigures: Figures = { mbPerSecond: await throughput(viaRelay), ...(await keystrokes(viaRelay)) };
    const directFigures: Figures = { mbPerSecond: await throughput(direct), ...(await keystrokes(direct)) };
    const row = (name: string, r: number, d: number, unit: string, digits: number) =>
      `| ${name.padEnd(26)} | ${`${r.toFixed(digits)} ${unit}`.padStart(12)} | ${`${d.toFixed(digits)} ${unit}`.padStart(12)} | ${`${(r / d).toFixed(2)}x`.padStart(7)} |`;
    console.log(`\nRelay benchmark: ${THROUGHPUT_BYTES / 1024 / 1024} MiB of terminal output, ${KEYSTROKES} keystrokes`);
    console.log("| figure                     |  via relay   | direct PTY   |  ratio  |");
    console.log("|----------------------------|--------------|--------------|---------|");
    console.log(row("throughput", relayFigures.mbPerSecond, directFigures.mbPerSecond, "MB/s", 1));
    console.log(row("keystroke round trip p50", relayFigures.p50, directFigures.p50, "ms", 2));
    console.log(row("keystroke round trip p99", relayFigures.p99, directFigures.p99, "ms", 2));
  } finally {
    await stopAll();
    removeTempDirs();
  }
}

if (import.meta.main) await runRelayBench();
