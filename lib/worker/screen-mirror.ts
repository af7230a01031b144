/**
 * What a shell's terminal shows, kept on the worker: every byte of the PTY's
 * output goes through an `@xterm/headless` terminal of the session's size, so
 * a client that reattaches can be given the screen exactly as it was — the
 * normal and alternate buffers, the cursor, colours and attributes, the modes
 * a full-screen program set (application cursor keys, bracketed paste, mouse
 * reporting) and the title — before the live stream goes on.
 *
 * Bounds: the scrollback is a fixed number of lines; bytes written but not
 * yet parsed are counted (`pendingBytes`) so that the session pauses its PTY
 * while the mirror is behind, as it does for a slow client.
 *
 * The serialized screen is terminal output from the instance, as the live
 * stream is; only the title, which the mirror re-emits itself, is cleaned of
 * control characters and bounded.
 */
import { SerializeAddon } from "@xterm/addon-serialize";
import { Terminal } from "@xterm/headless";
import { stripControl } from "../core/format.ts";

/** Lines kept above the screen: about 6 MiB for a full 200-column mirror, 2.5 MiB at 80 columns (tests/bench/screen-mirror.ts). */
export const MIRROR_SCROLLBACK_LINES = 2_000;
/** Heap per cell of a headless xterm buffer, measured: 6.3 MiB for 200 × 2,060 lines. */
const BYTES_PER_CELL = 16;
/** The longest title re-emitted on reattach. */
const MAX_TITLE_CHARS = 256;

export interface ScreenMirrorOptions {
  cols: number;
  rows: number;
  /** Default {@link MIRROR_SCROLLBACK_LINES}. */
  scrollback?: number;
}

export class ScreenMirror {
  readonly #terminal: Terminal;
  readonly #serializer = new SerializeAddon();
  #title = "";
  #cursorHidden = false;
  /** Settles once every write so far has been parsed (xterm parses writes in order). */
  #parsed: Promise<void> = Promise.resolve();
  #pendingBytes = 0;
  /** Bytes parsed since the start: what a snapshot taken now reflects. */
  #parsedBytes = 0;
  #disposed = false;

  constructor(options: ScreenMirrorOptions) {
    this.#terminal = new Terminal({
      cols: options.cols,
      rows: options.rows,
      scrollback: options.scrollback ?? MIRROR_SCROLLBACK_LINES,
      allowProposedApi: true,
    });
    // The addon is typed against the browser package's Terminal; the headless one has the same surface.
    this.#terminal.loadAddon(this.#serializer as unknown as Parameters<Terminal["loadAddon"]>[0]);
    this.#terminal.onTitleChange((title) => (this.#title = title));
    // Cursor visibility (DECTCEM) is not in the serialized screen: watch it go by without consuming it.
    const watchCursor = (visible: boolean) => (params: (number | number[])[]) => {
      if (params.includes(25)) this.#cursorHidden = !visible;
      return false;
    };
    this.#terminal.parser.registerCsiHandler({ prefix: "?", final: "h" }, watchCursor(true));
    this.#terminal.parser.registerCsiHandler({ prefix: "?", final: "l" }, watchCursor(false));
  }

  get cols(): number {
    return this.#terminal.cols;
  }

  get rows(): number {
    return this.#terminal.rows;
  }

  /** Bytes written that the mirror has not parsed yet. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * About what the mirror holds: its lines in use (both buffers) times the
   * cells per line, at the bytes per cell measured in tests/bench/screen-mirror.ts.
   */
  memoryBytes(): number {
    if (this.#disposed) return 0;
    const lines = this.#terminal.buffer.normal.length + (this.#terminal.buffer.active.type === "alternate" ? this.rows : 0);
    return lines * this.cols * BYTES_PER_CELL + this.#pendingBytes;
  }

  /** Feeds output of the PTY, in order. */
  write(data: Uint8Array | string): void {
    if (this.#disposed) return;
    const size = typeof data === "string" ? data.length : data.byteLength;
    this.#pendingBytes += size;
    this.#parsed = new Promise<void>((resolve) =>
      this.#terminal.write(data, () => {
        this.#pendingBytes -= size;
        this.#parsedBytes += size;
        resolve();
      }),
    );
  }

  /** Resolves once everything written so far is parsed. */
  settled(): Promise<void> {
    return this.#parsed;
  }

  resize(cols: number, rows: number): void {
    if (this.#disposed || (cols === this.cols && rows === this.rows)) return;
    this.#terminal.resize(cols, rows);
  }

  /**
   * The screen as terminal output: written to a freshly reset terminal of the
   * same size, it shows what this one shows. Waits for pending writes first.
   */
  async snapshot(): Promise<string> {
    return (await this.capture()).screen;
  }

  /**
   * The snapshot, and how many of the bytes written since the start it
   * reflects (`through`): a chunk written after the call may be in it, so a
   * client that is given the screen gets the live stream from `through` on.
   * (xterm calls a write's callback as soon as that write is parsed, so
   * the bytes parsed are those whose callbacks have run, at any moment
   * outside its parser.)
   */
  async capture(): Promise<{ screen: string; through: number }> {
    await this.#parsed;
    if (this.#disposed) return { screen: "", through: this.#parsedBytes };
    const title = stripControl(this.#title).replace(/[\t\n]/g, " ").slice(0, MAX_TITLE_CHARS);
    const titleSequence = title === "" ? "" : `\x1b]0;${title}\x07`;
    const cursor = this.#cursorHidden ? "\x1b[?25l" : "";
    return { screen: titleSequence + this.#serializer.serialize() + cursor, through: this.#parsedBytes };
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#terminal.dispose();
  }
}
