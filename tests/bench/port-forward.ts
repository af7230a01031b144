/**
 * Port-forward benchmark (issue 14): a TCP service on a simulated instance's
 * own address (a Bun server in this process, bound to the instance's
 * loopback address, so nothing but the path differs), reached directly and
 * through `multiverse port-forward` (client → master → worker → the
 * instance's address), side by side:
 * - throughput: one download of SIZE, MB/s (best of RUNS);
 * - connection set-up: N sequential connections, each connect + one byte
 *   written + the first byte back, p50 and p95.
 *
 *   bun run bench                       (all benchmarks)
 *   bun tests/bench/port-forward.ts     (this one)
 *
 * PF_BENCH_MB (default 200), PF_BENCH_RUNS (3), PF_BENCH_CONNECTIONS (100).
 * Figures only: it never passes or fails.
 */
import type { Socket } from "bun";
import { apiInstances, envWithBun, hostMultipass, removeTempDirs, roleCommand, simConfig, startMaster, startWorker, stopAll, tempDir, TimedProcess, waitFor } from "../e2e/harness.ts";

const MB = 1024 * 1024;

function setting(name: string, fallback: number): number {
  const text = process.env[name];
  const value = text === undefined || text === "" ? fallback : Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return value;
}

/** Serves `size` bytes to every connection, as fast as it is read, then ends. */
function blastServer(hostname: string, size: number) {
  const chunk = new Uint8Array(256 * 1024).fill(0x5a);
  const sent = new Map<Socket<undefined>, number>();
  const pump = (s: Socket<undefined>) => {
    let done = sent.get(s) ?? 0;
    while (done < size) {
      const want = Math.min(chunk.length, size - done);
      const n = s.write(chunk.subarray(0, want));
      if (n > 0) done += n;
      if (n < want) break;
    }
    sent.set(s, done);
    if (done >= size) {
      sent.delete(s);
      s.end();
    }
  };
  return Bun.listen<undefined>({ hostname, port: 0, socket: { open: pump, drain: pump, data() {}, close: (s) => void sent.delete(s) } });
}

/** Answers each connection's first byte with one byte. */
function echoServer(hostname: string) {
  return Bun.listen<undefined>({ hostname, port: 0, socket: { data: (s) => void s.write("!") } });
}

/** One download from `port`: MB/s. */
async function download(host: string, port: number, size: number): Promise<number> {
  const started = performance.now();
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    Bun.connect({
      hostname: host,
      port,
      socket: { data: (_s, d) => void (received += d.length), close: () => resolve(), error: (_s, e) => reject(e) },
    }).catch(reject);
  });
  if (received !== size) throw new Error(`downloaded ${received} bytes of ${size}`);
  return size / MB / ((performance.now() - started) / 1000);
}

/** Connect, one byte out, the first byte back: milliseconds. */
async function roundTrip(host: string, port: number): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    Bun.connect({
      hostname: host,
      port,
      socket: {
        open: (s) => void s.write("?"),
        data: (s) => {
          s.end();
          resolve();
        },
        error: (_s, e) => reject(e),
        close: () => resolve(),
      },
    }).catch(reject);
  });
  return performance.now() - started;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export async function runPortForwardBench(): Promise<void> {
  const size = setting("PF_BENCH_MB", 200) * MB;
  const runs = setting("PF_BENCH_RUNS", 3);
  const connections = setting("PF_BENCH_CONNECTIONS", 100);
  const master = await startMaster();
  try {
    const sim = tempDir("sim-pf-bench");
    simConfig(sim, { stepMs: 5 });
    await hostMultipass(sim, ["launch", "--name", "bench"]);
    await startWorker(master, "n1", { simDir: sim });
    const [bench] = await waitFor("the instance's address", async () => (await apiInstances(master)).filter((i) => i.ipv4.length > 0));
    const address = bench!.ipv4[0]!;
    const blast = blastServer(address, size);
    const echo = echoServer(address);
    const pf = new TimedProcess(
      [...roleCommand("client"), "port-forward", "bench", `:${blast.port}`, `:${echo.port}`, "--master", master.apiUrl, "--token", master.apiToken],
      envWithBun({ HOME: tempDir("home") }),
    );
    const local = async (remote: number) => Number(/:(\d+) ->/.exec((await pf.waitForLine(new RegExp(`-> bench@n1:${remote}$`))).text)![1]);
    const [blastLocal, echoLocal] = [await local(blast.port), await local(echo.port)];

    const rows: string[][] = [];
    for (const [path, host, blastPort, echoPort] of [
      ["direct (loopback)", address, blast.port, echo.port],
      ["port-forward", "127.0.0.1", blastLocal, echoLocal],
    ] as const) {
      const rates: number[] = [];
      for (let i = 0; i < runs; i++) rates.push(await download(host, blastPort, size));
      const times: number[] = [];
      for (let i = 0; i < connections; i++) times.push(await roundTrip(host, echoPort));
      times.sort((a, b) => a - b);
      rows.push([path, `${Math.max(...rates).toFixed(0)} MB/s`, `${percentile(times, 50).toFixed(2)} ms`, `${percentile(times, 95).toFixed(2)} ms`]);
    }
    pf.kill("SIGINT");
    await pf.exited;
    blast.stop(true);
    echo.stop(true);
    console.log(`\nport-forward: ${size / MB} MB download (best of ${runs}), ${connections} sequential connections (connect + 1 byte + first byte back)`);
    const header = ["path", "throughput", "set-up p50", "set-up p95"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const row of [header, ...rows]) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join("  "));
  } finally {
    await stopAll();
    removeTempDirs();
  }
}

if (import.meta.main) await runPortForwardBench();
