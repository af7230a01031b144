/**
 * The silence watchdog of a streamed answer: its reader takes the writer for
 * gone only when nothing at all — not even a keepalive (net/stream.ts) —
 * has arrived for a while (core/timers.ts STREAM_SILENCE_MS). A healthy
 * operation that is silent for minutes is never cut, because its stream is
 * not; a dead peer, a cut cable or a hung process is noticed in seconds.
 */

export interface SilenceWatch {
  /** Aborts once the stream has been silent for the limit: put it on the fetch. */
  readonly signal: AbortSignal;
  /** Whether it was silence that aborted `signal`. */
  readonly silent: boolean;
  /** A sign of life: the limit starts again. */
  heard(): void;
  /** Stops watching; idempotent. */
  stop(): void;
}

/** Starts watching at once: the answer's headers must arrive within `silenceMs` too. */
export function watchSilence(silenceMs: number): SilenceWatch {
  const controller = new AbortController();
  let silent = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      silent = true;
      controller.abort(new DOMException(`nothing arrived for ${silenceMs} ms`, "TimeoutError"));
    }, silenceMs);
  };
  arm();
  return {
    signal: controller.signal,
    get silent() {
      return silent;
    },
    heard() {
      if (!controller.signal.aborted) arm();
    },
    stop: () => clearTimeout(timer),
  };
}

/** The chunks of `body` as they arrive, each one a sign of life to `watch`. */
export async function* heardChunks(body: AsyncIterable<Uint8Array>, watch: SilenceWatch): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    watch.heard();
    yield chunk;
  }
}
