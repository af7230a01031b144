/**
 * A streaming parser of `multipass launch`'s stdout (CONTRACT.md §1.2, §4.3).
 *
 * Multipass draws a spinner there even into a pipe: each message is written
 * after `ESC[2K ESC[0A ESC[0E` and followed by two spaces and `\b|`, `\b/`,
 * `\b-`, `\b\` frames; percentages (`Retrieving image: 42%`) are written after
 * a `\r` with no spinner. The parser strips all of that, turns each message
 * into a {@link LaunchProgress} when the phase or percent changes, and picks
 * the instance name out of the final `Launched: NAME` line.
 */
import type { LaunchPhase, LaunchProgress } from "../protocol/instances.ts";

/** Feeds launch's stdout through; see {@link createLaunchProgressParser}. */
export interface LaunchProgressParser {
  /** Takes the next piece of stdout, split anywhere (even inside an escape sequence or a UTF-8 character). */
  push(chunk: string | Uint8Array): void;
  /** Flushes what is left once stdout has closed. */
  end(): void;
  /** The name of `Launched: NAME`, once that line has been seen whole. */
  readonly launchedName: string | null;
}

const PHASES: readonly (readonly [RegExp, LaunchPhase])[] = [
  [/^Creating\b/, "Creating"],
  [/^Retrieving image\b/, "Retrieving image"],
  [/^Verifying image\b/, "Verifying image"],
  [/^Preparing image\b/, "Preparing image"],
  [/^Configuring\b/, "Configuring"],
  [/^Starting\b/, "Starting"],
  [/^Waiting for initialization\b/, "Waiting for initialization"],
];

const PERCENT = /:\s*(\d{1,3})%$/;
const LAUNCHED = /Launched: (\S+)/;
const ESC = "\x1b";
const BACKSPACE = "\b";
const SPINNER_FRAMES = "|/-\\ ";
const MAX_ESCAPE_LENGTH = 32;
/** Longer text is no spinner message; keeping its head bounds memory on garbage without line breaks. */
const MAX_SEGMENT_LENGTH = 4096;
/** The spinner's separator between a message and its animation. */
const MESSAGE_END = "  ";

/** What a finished piece of spinner text means, or null when it carries no progress. */
export function parseProgressText(raw: string): LaunchProgress | null {
  const text = raw.trim();
  if (text === "") return null;
  const phase = PHASES.find(([pattern]) => pattern.test(text))?.[1] ?? "Other";
  const percent = PERCENT.exec(text)?.[1];
  const value = percent === undefined ? null : Number(percent);
  return { phase, percent: value !== null && value <= 100 ? value : null, text };
}

/**
 * Creates a parser that calls `onProgress` each time the launch's phase or
 * percentage changes (for phase "Other", each time the text changes) and
 * never for spinner frames. Text after the `Launched:` line is ignored.
 */
export function createLaunchProgressParser(onProgress: (progress: LaunchProgress) => void): LaunchProgressParser {
  const decoder = new TextDecoder();
  let pending = "";
  let segment = "";
  let last: LaunchProgress | null = null;
  let launchedName: string | null = null;

  const report = (text: string): void => {
    if (launchedName !== null) return;
    const progress = parseProgressText(text);
    if (progress === null) return;
    const changed =
      last === null ||
      progress.phase !== last.phase ||
      progress.percent !== last.percent ||
      (progress.phase === "Other" && progress.text !== last.text);
    if (!changed) return;
    last = progress;
    onProgress(progress);
  };

  /** The current segment has ended: a spinner frame, an escape, `\r` or `\n` came after it. */
  const finish = (): void => {
    if (launchedName === null) {
      const launched = LAUNCHED.exec(segment);
      if (launched?.[1] !== undefined) launchedName = launched[1];
      else report(segment);
    }
    segment = "";
  };

  /** Reports a message as soon as it is visibly whole, without waiting for the next one. */
  const reportIfWhole = (): void => {
    if (segment.endsWith(MESSAGE_END) || PERCENT.test(segment)) report(segment);
  };

  const consume = (text: string): void => {
    const input = pending + text;
    pending = "";
    let i = 0;
    while (i < input.length) {
      const char = input[i] ?? "";
      if (char === ESC) {
        const length = escapeLength(input, i);
        if (length === 0) {
          pending = input.slice(i);
          break;
        }
        finish();
        i += length;
      } else if (char === BACKSPACE) {
        if (i + 1 >= input.length) {
          pending = input.slice(i);
          break;
        }
        finish();
        i += SPINNER_FRAMES.includes(input[i + 1] ?? "") ? 2 : 1;
      } else if (char === "\r" || char === "\n") {
        finish();
        i += 1;
      } else {
        if (segment.length < MAX_SEGMENT_LENGTH) segment += char;
        i += 1;
      }
    }
    reportIfWhole();
  };

  return {
    push(chunk) {
      consume(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
    },
    end() {
      consume(decoder.decode());
      pending = "";
      finish();
    },
    get launchedName() {
      return launchedName;
    },
  };
}

/**
 * Length of the escape sequence at `start`, or 0 when it is cut off by the end
 * of `input`: CSI (`ESC [ params final`) or a two-character `ESC X`.
 */
function escapeLength(input: string, start: number): number {
  if (start + 1 >= input.length) return 0;
  if (input[start + 1] !== "[") return 2;
  for (let i = start + 2; i < input.length; i += 1) {
    const code = input.charCodeAt(i);
    if (code >= 0x40 && code <= 0x7e) return i - start + 1;
    // Not a sequence multipass writes; drop it rather than buffer without end.
    if (i - start >= MAX_ESCAPE_LENGTH) return i - start;
  }
  return 0;
}
