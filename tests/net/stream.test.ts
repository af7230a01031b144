/**
 * Streamed answers are pulled: a writer sees `full` once the reader has a
 * backlog of SEND_BACKLOG_BYTES, and `onDrain` when the reader takes from it.
 */
import { describe, expect, test } from "bun:test";
import { streamedResponse, type EventWriter } from "../../lib/net/stream.ts";
import { SEND_BACKLOG_BYTES } from "../../lib/protocol/session.ts";

describe("streamedResponse", () => {
  test("a writer that waits while full holds at most the bound for a slow reader, and every event arrives", async () => {
    const events = 2000;
    const payload = "x".repeat(16 * 1024);
    let written = 0;
    let writtenBytes = 0;
    let drains = 0;
    let out: EventWriter | null = null;
    const pump = () => {
      while (out && !out.full && written < events) {
        out.write({ type: "stdout", n: written, data: payload });
        writtenBytes += payload.length + 40;
        written++;
      }
      if (written === events) out?.close();
    };
    const response = streamedResponse((writer) => {
      out = writer;
      writer.onDrain(() => {
        drains++;
        pump();
      });
      pump();
    });
    const reader = response.body!.getReader();
    let readBytes = 0;
    let peak = 0;
    let text = "";
    for (;;) {
      peak = Math.max(peak, writtenBytes - readBytes);
      const { value, done } = await reader.read();
      if (done) break;
      readBytes += value.length;
      text += new TextDecoder().decode(value);
      // A slow reader.
      if (readBytes % (512 * 1024) < value.length) await Bun.sleep(1);
    }
    const lines = text.split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(events);
    expect(lines.every((line, i) => JSON.parse(line).n === i)).toBe(true);
    expect(drains).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(SEND_BACKLOG_BYTES + 2 * (payload.length + 40));
  });
});
