import { describe, expect, test } from "bun:test";
import { Terminal } from "@xterm/headless";
import { ScreenMirror } from "../../lib/worker/screen-mirror.ts";

function write(terminal: Terminal, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve) => terminal.write(data, resolve));
}

/** Every cell of the active buffer's screen: its text, colours and bold. */
function cells(terminal: Terminal): string[] {
  const buffer = terminal.buffer.active;
  const out: string[] = [];
  for (let y = 0; y < terminal.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    for (let x = 0; x < terminal.cols; x++) {
      const cell = line?.getCell(x);
      out.push(cell ? `${cell.getChars() || " "}|${cell.getFgColorMode()}:${cell.getFgColor()}|${cell.getBgColorMode()}:${cell.getBgColor()}|${cell.isBold()}` : "none");
    }
  }
  return out;
}

/** A client terminal given the mirror's snapshot, as a reattaching client is. */
async function restored(mirror: ScreenMirror): Promise<{ terminal: Terminal; title: string }> {
  const terminal = new Terminal({ cols: mirror.cols, rows: mirror.rows, allowProposedApi: true });
  let title = "";
  terminal.onTitleChange((t) => (title = t));
  await write(terminal, await mirror.snapshot());
  return { terminal, title };
}

describe("screen mirror", () => {
  test("a full-screen program's screen comes back cell by cell, with the cursor, modes and title", async () => {
    const mirror = new ScreenMirror({ cols: 60, rows: 12 });
    const live = new Terminal({ cols: 60, rows: 12, allowProposedApi: true });
    let liveTitle = "";
    live.onTitleChange((t) => (liveTitle = t));
    const screen = [
      "$ ls\r\nfile-one  \x1b[1;34mdir\x1b[0m\r\n$ htop\r\n",
      "\x1b]0;htop on web\x07\x1b[?1049h\x1b[?1h\x1b[?2004h\x1b[?1000h\x1b[?25l",
      "\x1b[H\x1b[2J\x1b[42;30m  CPU[|||||   41%]  \x1b[0m\r\n\x1b[38;5;208mTasks: 31\x1b[0m",
      "\x1b[7;20H\x1b[1;31mPID USER\x1b[0m\x1b[9;3H",
    ];
    for (const part of screen) {
      mirror.write(new TextEncoder().encode(part));
      await write(live, part);
    }
    const { terminal, title } = await restored(mirror);
    expect(terminal.buffer.active.type).toBe("alternate");
    expect(cells(terminal)).toEqual(cells(live));
    expect([terminal.buffer.active.cursorX, terminal.buffer.active.cursorY]).toEqual([live.buffer.active.cursorX, live.buffer.active.cursorY]);
    expect(terminal.modes).toEqual(live.modes);
    expect(terminal.modes.mouseTrackingMode).toBe("vt200");
    expect(title).toBe(liveTitle);
    expect(await mirror.snapshot()).toEndWith("\x1b[?25l");
    // Back to the normal buffer, the shell's lines are there too.
    await write(terminal, "\x1b[?1049l");
    await write(live, "\x1b[?1049l");
    expect(cells(terminal)).toEqual(cells(live));
    mirror.dispose();
  });

  test("a shown cursor is not hidden on reattach", async () => {
    const mirror = new ScreenMirror({ cols: 20, rows: 4 });
    mirror.write("\x1b[?25l hidden \x1b[?25h shown");
    expect(await mirror.snapshot()).not.toContain("\x1b[?25l");
    mirror.dispose();
  });

  test("the title it re-emits is cleaned of control characters and bounded", async () => {
    const mirror = new ScreenMirror({ cols: 20, rows: 4 });
    mirror.write(`\x1b]0;a\tb\x7f${"x".repeat(5000)}\x07`);
    const snapshot = await mirror.snapshot();
    const title = /^\x1b\]0;([^\x07]*)\x07/.exec(snapshot)?.[1];
    expect(title).toStartWith("abx");
    expect(title!.length).toBe(256);
    expect(title).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
    mirror.dispose();
  });

  test("the scrollback is bounded, and pending bytes drain to zero", async () => {
    const mirror = new ScreenMirror({ cols: 40, rows: 10, scrollback: 100 });
    for (let i = 0; i < 2_000; i++) mirror.write(`line ${i}\r\n`);
    expect(mirror.pendingBytes).toBeGreaterThan(0);
    await mirror.settled();
    expect(mirror.pendingBytes).toBe(0);
    const { terminal } = await restored(mirror);
    const kept = await mirror.snapshot();
    expect(kept).toContain("line 1999");
    expect(kept).not.toContain("line 1800\r");
    expect(terminal.buffer.normal.length).toBeLessThanOrEqual(110);
    mirror.dispose();
  });

  test("what it holds is estimated from the lines in use, and bounded by the scrollback", async () => {
    const mirror = new ScreenMirror({ cols: 100, rows: 20, scrollback: 300 });
    const empty = mirror.memoryBytes();
    expect(empty).toBe(20 * 100 * 16);
    for (let i = 0; i < 5_000; i++) mirror.write(`line ${i}\r\n`);
    await mirror.settled();
    expect(mirror.memoryBytes()).toBe((300 + 20) * 100 * 16);
    mirror.dispose();
    expect(mirror.memoryBytes()).toBe(0);
  });

  test("a capture says how much of the output it holds: the screen plus the output from there on is the whole screen", async () => {
    const encoder = new TextEncoder();
    const chunks = Array.from({ length: 400 }, (_, i) => encoder.encode(`\x1b[3${i % 8}m${i},\x1b[0m`));
    const mirror = new ScreenMirror({ cols: 40, rows: 10 });
    const whole = new Terminal({ cols: 40, rows: 10, allowProposedApi: true });
    for (const chunk of chunks.slice(0, 200)) mirror.write(chunk);
    const capturing = mirror.capture();
    // Written while the capture waits: some of it may be parsed before the screen is taken.
    for (const chunk of chunks.slice(200)) mirror.write(chunk);
    const { screen, through } = await capturing;
    const sizes = chunks.map((c) => c.length);
    const before = sizes.slice(0, 200).reduce((a, b) => a + b, 0);
    expect(through).toBeGreaterThanOrEqual(before);
    const client = new Terminal({ cols: 40, rows: 10, allowProposedApi: true });
    await write(client, screen);
    let offset = 0;
    for (const chunk of chunks) {
      await write(whole, chunk);
      const end = offset + chunk.length;
      if (end > through) await write(client, chunk.subarray(Math.max(0, through - offset)));
      offset = end;
    }
    expect(cells(client)).toEqual(cells(whole));
    mirror.dispose();
  });

  test("a resize reflows the mirror to the new size", async () => {
    const mirror = new ScreenMirror({ cols: 80, rows: 24 });
    mirror.write("hello");
    mirror.resize(100, 30);
    expect([mirror.cols, mirror.rows]).toEqual([100, 30]);
    const { terminal } = await restored(mirror);
    expect(terminal.buffer.active.getLine(0)?.translateToString(true)).toBe("hello");
    mirror.dispose();
    expect(await mirror.snapshot()).toBe("");
  });
});
