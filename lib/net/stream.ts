/**
 * Streamed HTTP answers: NDJSON (`application/x-ndjson`) or server-sent
 * events (`text/event-stream`), written as events happen. One writer for every
 * streamed route, so keepalives and flow control are fixed in one place.
 *
 * A stream that has written nothing for {@link KEEPALIVE_MS} writes a
 * keepalive: a blank line in NDJSON (readers skip blank lines), a comment line
 * in SSE (browsers ignore it). So a phase of an operation that is silent for
 * minutes never looks like a dead connection to Bun, a proxy or the reader.
 */
import { ndjsonLine } from "../core/ndjson.ts";
import { KEEPALIVE_MS } from "../core/timers.ts";
import { SEND_BACKLOG_BYTES } from "../protocol/session.ts";

export type StreamFormat = "ndjson" | "sse";

/** What a route writes its events to. */
export interface EventWriter {
  /**
   * Writes one event. An SSE event is named `event` when given (the value is
   * then its data as it is), else by the value's `type`.
   * @returns false once the reader has gone; later writes are dropped.
   */
  write(value: unknown, event?: string): boolean;
  /**
   * The reader has not taken {@link SEND_BACKLOG_BYTES} or more of what was
   * written: a writer that can wait should, until `onDrain`.
   */
  readonly full: boolean;
  /** Calls `listener` whenever the reader takes from the answer and the backlog is under the bound. */
  onDrain(listener: () => void): void;
  /** Ends the answer; idempotent. */
  close(): void;
}

const CONTENT_TYPE: Record<StreamFormat, string> = { ndjson: "application/x-ndjson", sse: "text/event-stream" };

const KEEPALIVE: Record<StreamFormat, string> = { ndjson: "\n", sse: ": keepalive\n\n" };

function encodeEvent(format: StreamFormat, value: unknown, event?: string): string {
  if (format === "ndjson") return ndjsonLine(value);
  const type = event ?? (typeof value === "object" && value !== null && "type" in value && typeof value.type === "string" ? value.type : "message");
  return `event: ${type}\ndata: ${JSON.stringify(value)}\n\n`;
}

/**
 * A streamed answer. `run` starts the work and writes its events; when it
 * returns a promise, the answer ends once that settles (else when `run`
 * calls `close`). `onCancel` runs when the reader goes away first. The
 * answer is pulled: Bun takes from it only as the reader reads, so
 * {@link EventWriter.full} and `onDrain` carry a slow reader's pace back to
 * the writer.
 */
export function streamedResponse(
  run: (out: EventWriter) => Promise<unknown> | void,
  options: { format?: StreamFormat; status?: number; onCancel?: () => void; keepaliveMs?: number } = {},
): Response {
  const format = options.format ?? "ndjson";
  const encoder = new TextEncoder();
  let stopKeepalive = (): void => {};
  let drained = (): void => {};
  let desiredSize = (): number => 1;
  const stream = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        desiredSize = () => controller.desiredSize ?? 0;
        let open = true;
        let wrote = false;
        const enqueue = (text: string): boolean => {
          if (!open) return false;
          try {
            controller.enqueue(encoder.encode(text));
            wrote = true;
            return true;
          } catch {
            out.close();
            return false;
          }
        };
        const keepalive = setInterval(() => {
          if (!wrote) enqueue(KEEPALIVE[format]);
          wrote = false;
        }, options.keepaliveMs ?? KEEPALIVE_MS);
        stopKeepalive = () => clearInterval(keepalive);
        const out: EventWriter = {
          write: (value, event) => enqueue(encodeEvent(format, value, event)),
          get full() {
            return open && desiredSize() <= 0;
          },
          onDrain(listener) {
            drained = listener;
          },
          close() {
            if (!open) return;
            open = false;
            stopKeepalive();
            try {
              controller.close();
            } catch {
              // The reader left already.
            }
          },
        };
        const running = run(out);
        if (running) void running.then(out.close, out.close);
      },
      pull() {
        if (desiredSize() > 0) drained();
      },
      cancel() {
        stopKeepalive();
        options.onCancel?.();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: SEND_BACKLOG_BYTES }),
  );
  return new Response(stream, {
    status: options.status ?? 200,
    headers: { "content-type": CONTENT_TYPE[format], "cache-control": "no-store" },
  });
}
