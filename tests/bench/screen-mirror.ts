/**
 * Screen mirror benchmark: what a kept shell costs the worker, and how fast a
 * full screen is restored.
 *
 * - memory per mirror: 200×60 terminals, each fed a full scrollback
 *   (MIRROR_SCROLLBACK_LINES lines of coloured text) and a full-screen
 *   program's alternate screen; heap and RSS growth divided by their count;
 * - restore: serializing a full 200×60 coloured screen and writing it into a
 *   client's headless terminal, until that terminal has parsed it.
 *
 *   bun run bench                  (all benchmarks)
 *   bun tests/bench/screen-mirror.ts (this one)
 */
import { Terminal } from "@xterm/headless";
import { MIRROR_SCROLLBACK_LINES, ScreenMirror } from "../../lib/worker/screen-mirror.ts";

const COLS = 200;
const ROWS = 60;
const MIRRORS = 20;
const RESTORES = 50;

function colouredLine(i: number): string {
  let line = "";
  for (let x = 0; x < COLS - 20; x += 12) line += `\x1b[38;5;${(i + x) % 256}m${`w${i}:${x}`.padEnd(12, ".")}`;
  return `${line}\x1b[0m\r\n`;
}

function fullScreen(seed: number): string {
  let screen = "\x1b[?1049h\x1b[H";
  for (let y = 1; y <= ROWS; y++) screen += `\x1b[${y};1H\x1b[4${y % 8};3${(y + seed) % 8}m${String(seed * 1000 + y).padEnd(COLS, "#")}`;
  return `${screen}\x1b[0m\x1b[30;100H`;
}

async function feed(mirror: ScreenMirror, seed: number): Promise<void> {
  let chunk = "";
  for (let i = 0; i < MIRROR_SCROLLBACK_LINES + ROWS; i++) {
    chunk += colouredLine(i + seed);
    if (chunk.length > 64 * 1024) {
      mirror.write(chunk);
      chunk = "";
      await mirror.settled();
    }
  }
  mirror.write(chunk + fullScreen(seed));
  await mirror.settled();
}

function usage(): { heap: number; rss: number } {
  Bun.gc(true);
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

export async function runScreenMirrorBench(): Promise<void> {
  const before = usage();
  const mirrors: ScreenMirror[] = [];
  for (let i = 0; i < MIRRORS; i++) {
    const mirror = new ScreenMirror({ cols: COLS, rows: ROWS });
    await feed(mirror, i);
    mirrors.push(mirror);
  }
  const after = usage();

  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RESTORES; i++) {
    const mirror = mirrors[i % MIRRORS]!;
    const started = performance.now();
    const snapshot = await mirror.snapshot();
    const client = new Terminal({ cols: COLS, rows: ROWS, scrollback: MIRROR_SCROLLBACK_LINES, allowProposedApi: true });
    await new Promise<void>((resolve) => client.write(snapshot, resolve));
    times.push(performance.now() - started);
    bytes = snapshot.length;
    client.dispose();
  }
  for (const mirror of mirrors) mirror.dispose();
  times.sort((a, b) => a - b);
  const p = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(1);

  console.log(`\nScreen mirror (${COLS}×${ROWS}, ${MIRROR_SCROLLBACK_LINES} lines of scrollback, full, ${MIRRORS} mirrors)`);
  console.log(`  memory per kept shell        heap ${mib((after.heap - before.heap) / MIRRORS)} MiB   rss ${mib((after.rss - before.rss) / MIRRORS)} MiB`);
  console.log(`  restore (serialize + client parses it, ${(bytes / 1024).toFixed(0)} KiB)   p50 ${p(0.5)} ms   p99 ${p(0.99)} ms`);
}

if (import.meta.main) await runScreenMirrorBench();
