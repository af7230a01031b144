/**
 * The 1.16 client's AnimatedSpinner, byte for byte: it always writes to stdout,
 * TTY or not. start() clears the line and prints the message and two spaces; a
 * drawing loop then writes `\b` + the next of `| / - \` every 100 ms (the first
 * frame drawn is `/`, as upstream advances before drawing); stop() writes `\b `
 * if it was running and then always clears the line again.
 */

/** ESC[2K ESC[0A ESC[0E: delete the line, cursor to its start. */
export const CLEAR_LINE = "\x1b[2K\x1b[0A\x1b[0E";

const FRAMES = ["|", "/", "-", "\\"] as const;
const FRAME_MS = 100;

/** One spinner, like the member/local AnimatedSpinner of a client command. */
export class Spinner {
  private running = false;
  private frame = 0;
  private nextFrameAt = 0;

  constructor(private readonly write: (text: string) => void) {}

  start(message: string): void {
    if (this.running) return;
    this.running = true;
    this.frame = 0;
    this.write(`${CLEAR_LINE}${message}  `);
    this.draw();
  }

  private draw(): void {
    this.frame = (this.frame + 1) % FRAMES.length;
    this.write(`\b${FRAMES[this.frame]}`);
    this.nextFrameAt = Date.now() + FRAME_MS;
  }

  /** Waits `ms` while the animation keeps drawing. */
  async hold(ms: number): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      const now = Date.now();
      if (now >= end) return;
      if (!this.running) {
        await Bun.sleep(end - now);
        return;
      }
      if (now >= this.nextFrameAt) this.draw();
      await Bun.sleep(Math.max(0, Math.min(end, this.nextFrameAt) - Date.now()));
    }
  }

  stop(): void {
    if (this.running) {
      this.running = false;
      this.write("\b ");
    }
    this.write(CLEAR_LINE);
  }

  /** A phase: start with `message`, animate for `ms`, stop. */
  async phase(message: string, ms: number): Promise<void> {
    this.start(message);
    await this.hold(ms);
    this.stop();
  }

  /**
   * Percent progress (`Retrieving image: N%`): upstream stops the spinner and
   * writes `\r` + message + percent for each update, with no animation. The
   * updates are spread evenly over `ms`.
   */
  async progress(label: string, ms: number, percents: readonly number[]): Promise<void> {
    for (const percent of percents) {
      this.stop();
      this.write(`\r${label}${percent}%`);
      await Bun.sleep(ms / percents.length);
    }
  }
}
