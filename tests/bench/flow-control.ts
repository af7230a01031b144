/**
 * Flow-control benchmark: SESSIONS sessions each push SIZE of output through
 * a real master and worker (on the simulated host) to readers that take
 * RATE each, and the peak resident memory of the master and the worker is
 * printed beside their memory before. With flow control both stay near
 * their baseline however large the output; without it they grow by what the
 * readers have not read yet.
 *
 *   bun run bench                      (all benchmarks; this one at its defaults)
 *   bun tests/bench/flow-control.ts    (this one)
 *
 * Defaults are the figures: 4 sessions × 200 MB at 1 MB/s each (over
 * three minutes). Shorter runs: FLOW_BENCH_SESSIONS, FLOW_BENCH_MB,
 * FLOW_BENCH_RATE_MB (MB per second per reader). Figures only: it never
 * passes or fails.
 */
import { readFileSync } from "node:fs";
import { controlFrame, parseSessionControl } from "../../lib/protocol/session.ts";
import { apiInstances, hostMultipass, removeTempDirs, simConfig, startMaster, startWorker, stopAll, tempDir, waitFor } from "../e2e/harness.ts";

const MB = 1024 * 1024;

function setting(name: string, fallback: number): number {
  const text = process.env[name];
  const value = text === undefined || text === "" ? fallback : Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(text)}`);
  return value;
}

/** Resident and peak resident memory of a process, in MB (Linux /proc). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

/** One session whose reader takes `rate` bytes per second; resolves with the bytes and the exit code. */
function slowSession(apiUrl: string, token: string, bytes: number, rate: number): Promise<{ received: number; code: number | null; seconds: number }> {
  const query = new URLSearchParams({ tty: "0" });
  for (const arg of ["head", "-c", String(bytes), "/dev/zero"]) query.append("arg", arg);
  const ws = new WebSocket(`${apiUrl.replace("http", "ws")}/api/v1/instances/bench/exec?${query}`, { headers: { authorization: `Bearer ${token}` } });
  ws.binaryType = "arraybuffer";
  let received = 0;
  let code: number | null = null;
  let resumeTimer: ReturnType<typeof setTimeout> | undefined;
  const started = performance.now();
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {
      const message = parseSessionControl(event.data);
      if (message.type === "ping") ws.send(controlFrame({ type: "pong" }));
      if (message.type === "exit") code = message.code;
      return;
    }
    if (!(event.data instanceof ArrayBuffer)) return;
    received += event.data.byteLength - 1;
    // A reader of `rate`: ahead of it, the socket is not read until the time catches up (frames
    // already read from the socket still arrive, so pacing by the total keeps the average exact).
    const ahead = started + (received / rate) * 1000 - performance.now();
    if (ahead > 0 && resumeTimer === undefined) {
      ws.pause();
      resumeTimer = setTimeout(() => {
        resumeTimer = undefined;
        ws.resume();
      }, ahead);
    }
  };
  return new Promise((resolve) => {
    ws.onclose = () => {
      clearTimeout(resumeTimer);
      resolve({ received, code, seconds: (performance.now() - started) / 1000 });
    };
  });
}

export async function runFlowControlBench(): Promise<void> {
  const sessions = setting("FLOW_BENCH_SESSIONS", 4);
  const bytes = Math.round(setting("FLOW_BENCH_MB", 200) * MB);
  const rate = setting("FLOW_BENCH_RATE_MB", 1) * MB;
  const master = await startMaster();
  const sim = tempDir("bench-flow");
  simConfig(sim, { stepMs: 5 });
  await hostMultipass(sim, ["launch", "--name", "bench"]);
  const worker = await startWorker(master, "b1", { simDir: sim });
  await waitFor("instance", async () => (await apiInstances(master)).length === 1);
  try {
    const before = { master: memoryOf(master.proc.pid), worker: memoryOf(worker.proc.pid) };
    let peakRss = { master: before.master.rss, worker: before.worker.rss };
    const sampler = setInterval(() => {
      peakRss = { master: Math.max(peakRss.master, memoryOf(master.proc.pid).rss), worker: Math.max(peakRss.worker, memoryOf(worker.proc.pid).rss) };
    }, 200);
    const results = await Promise.all(Array.from({ length: sessions }, () => slowSession(master.apiUrl, master.apiToken, bytes, rate)));
    clearInterval(sampler);
    const after = { master: memoryOf(master.proc.pid), worker: memoryOf(worker.proc.pid) };
    console.log(`\nFlow control: ${sessions} sessions × ${(bytes / MB).toFixed(0)} MB, each read at ${(rate / MB).toFixed(1)} MB/s`);
    console.table(
      (["master", "worker"] as const).map((role) => ({
        process: role,
        "RSS before (MB)": before[role].rss.toFixed(0),
        "peak RSS sampled (MB)": peakRss[role].toFixed(0),
        "peak RSS, VmHWM (MB)": after[role].peak.toFixed(0),
        "RSS after (MB)": after[role].rss.toFixed(0),
      })),
    );
    console.table(
      results.map((r, i) => ({
        session: i + 1,
        "received (MB)": (r.received / MB).toFixed(1),
        complete: r.received === bytes,
        exit: r.code,
        "MB/s": (r.received / MB / r.seconds).toFixed(2),
      })),
    );
  } finally {
    await stopAll();
    removeTempDirs();
  }
}

if (import.meta.main) await runFlowControlBench();
