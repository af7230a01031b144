/**
 * Newline-delimited JSON, the format of every streamed answer (launch
 * progress, exec output). Reading splits a byte stream into lines, bounded so
 * that a peer that never sends a newline cannot grow the reader's memory.
 */
import { AppError } from "./errors.ts";

/** Longest line accepted: far above any event the streams carry (an exec chunk is at most 64 KiB, base64). */
export const MAX_NDJSON_LINE_BYTES = 4 * 1024 * 1024;

/** One value as one line of NDJSON. */
export function ndjsonLine(value: unknown): string {
  return JSON.stringify(value) + "\n";
}

/**
 * The non-blank lines of a byte stream, without their newline, as they
 * arrive. A last line without a newline is yielded too.
 * @throws AppError E_PROTOCOL when a line grows past `maxLineBytes`; errors of the stream itself pass through.
 */
export async function* readLines(chunks: AsyncIterable<Uint8Array>, maxLineBytes = MAX_NDJSON_LINE_BYTES): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of chunks) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let at = buffered.indexOf("\n"); at >= 0; at = buffered.indexOf("\n")) {
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      if (line.trim() !== "") yield line;
    }
    if (buffered.length > maxLineBytes) throw new AppError("E_PROTOCOL", `A streamed line is longer than ${maxLineBytes} bytes`);
  }
  buffered += decoder.decode();
  if (buffered.trim() !== "") yield buffered;
}
