/**
 * Kept-shells benchmark (issue 12), through a real master and worker on the
 * simulated host:
 * - memory per detached shell: the worker's RSS growth per kept shell whose
 *   200×60 screen and 2,000 lines of scrollback are full of coloured text
 *   (its screen mirror, its PTY and its `multipass exec`);
 * - attach → restored screen: from asking the attach route to a client's
 *   headless terminal showing the whole 200×60 screen again.
 *
 *   bun run bench                (all benchmarks)
 *   bun tests/bench/kept-shells.ts (this one)
 */
import { readFileSync } from "node:fs";
import { Terminal } from "@xterm/headless";
import { controlFrame, parseSessionControl } from "../../lib/protocol/session.ts";
import { apiInstances, apiSessions, hostMultipass, removeTempDirs, simConfig, startMaster, startWorker, stopAll, tempDir, waitFor } from "../e2e/harness.ts";

const COLS = 200;
const ROWS = 60;
const SHELLS = 10;
const ATTACHES = 20;
/** Fills the scrollback and the screen with coloured lines, the last one a mark. */
const FILL = `i=0; while [ $i -lt 2060 ]; do i=$((i+1)); printf '\\033[3%dm%0199d\\033[0m\\n' $((i%8)) $i; done; printf 'END-MARK'\r`;

function rssMb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;
}

function ws(url: string, token: string): WebSocket {
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  socket.binaryType = "arraybuffer";
  return socket;
}

/** Opens a shell, fills its screen, and leaves it (detached); resolves once the screen is drawn. */
async function filledShell(apiUrl: string, token: string): Promise<void> {
  const socket = ws(`${apiUrl.replace("http", "ws")}/api/v1/instances/web/shell?cols=${COLS}&rows=${ROWS}&keepalive=2500`, token);
  let seen = "";
  await new Promise<void>((resolve, reject) => {
    socket.onmessage = (event) => {
      if (typeof event.data === "string") {
        if (parseSessionControl(event.data).type === "ping") socket.send(controlFrame({ type: "pong" }));
        return;
      }
      seen = (seen + new TextDecoder().decode(event.data as ArrayBuffer)).slice(-4096);
      if (seen.includes("END-MARK")) resolve();
    };
    socket.onopen = () => socket.send(new TextEncoder().encode(FILL));
    socket.onclose = () => reject(new Error("the shell closed before its screen was drawn"));
  });
  socket.onclose = null;
  socket.close();
}

/** Attaches to `id`; resolves with the milliseconds until the client's terminal shows the whole screen. */
async function timedAttach(apiUrl: string, token: string, id: string): Promise<number> {
  const term = new Terminal({ cols: COLS, rows: ROWS, scrollback: 2000, allowProposedApi: true });
  const started = performance.now();
  const socket = ws(`${apiUrl.replace("http", "ws")}/api/v1/sessions/${id}/attach?cols=${COLS}&rows=${ROWS}&keepalive=2500`, token);
  let writes = Promise.resolve();
  const ms = await new Promise<number>((resolve, reject) => {
    socket.onmessage = (event) => {
      if (typeof event.data === "string") return;
      const bytes = new Uint8Array(event.data as ArrayBuffer);
      writes = writes.then(
        () =>
          new Promise<void>((done) =>
            term.write(bytes, () => {
              if (term.buffer.active.getLine(term.buffer.active.viewportY + ROWS - 1)?.translateToString(true).includes("END-MARK")) resolve(performance.now() - started);
              done();
            }),
          ),
      );
    };
    socket.onclose = () => reject(new Error("the attach closed before the screen was restored"));
  });
  socket.onclose = null;
  socket.close();
  term.dispose();
  return ms;
}

export async function runKeptShellsBench(): Promise<void> {
  const master = await startMaster();
  const sim = tempDir("bench-kept");
  simConfig(sim, { stepMs: 5 });
  await hostMultipass(sim, ["launch", "--name", "web"]);
  const worker = await startWorker(master, "k1", { simDir: sim });
  try {
    await waitFor("instance", async () => (await apiInstances(master)).length === 1);
    Bun.gc(true);
    const before = rssMb(worker.proc.pid);
    for (let i = 0; i < SHELLS; i++) await filledShell(master.apiUrl, master.apiToken);
    await waitFor("every shell detached", async () => (await apiSessions(master)).filter((s) => s.state === "detached").length === SHELLS, 30_000);
    const after = rssMb(worker.proc.pid);
    const ids = (await apiSessions(master)).map((s) => s.id);
    const times: number[] = [];
    for (let i = 0; i < ATTACHES; i++) times.push(await timedAttach(master.apiUrl, master.apiToken, ids[i % ids.length]!));
    times.sort((a, b) => a - b);
    const p = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(0);
    console.log(`\nKept shells (${COLS}×${ROWS}, scrollback full, ${SHELLS} detached shells)`);
    console.log(`  worker memory per detached shell   ${((after - before) / SHELLS).toFixed(1)} MB RSS (${before.toFixed(0)} → ${after.toFixed(0)} MB)`);
    console.log(`  attach → screen restored           p50 ${p(0.5)} ms   p99 ${p(0.99)} ms   (${ATTACHES} attaches)`);
  } finally {
    await stopAll();
    removeTempDirs();
  }
}

if (import.meta.main) await runKeptShellsBench();
