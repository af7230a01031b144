/**
 * The remote exit status of `multipass exec`, told apart from Multipass's own.
 *
 * Two Multipass facts make the plain exit code unusable (CONTRACT.md §1.4,
 * §6): a remote status of 1, 2 or 3 looks like a Multipass failure, and on
 * 1.14–1.16 a remote status of 4 makes the client re-run the whole command
 * forever. So the remote command is wrapped: it runs, then prints a trailer
 * carrying its status (an OSC sequence terminals ignore, tagged with a
 * per-session nonce) and exits with a status that is never 4. The driver's
 * exec (`exec.ts`) strips the trailer from the stream and takes the status
 * from it; without a trailer, the status is Multipass's own.
 */

const OSC_START = "\u001b]7770;multiverse-exit;";

/** A fresh nonce for one session: the remote side cannot forge a trailer it cannot guess. */
export function newNonce(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

/**
 * The script run by `sh -c`. `$@` (exec) or the login shell runs first; its
 * status is printed in the trailer on stderr (which is the terminal too,
 * under a PTY), and the wrapper exits 0 for a status of 4.
 */
function wrapper(nonce: string, body: string): string {
  return `${body}; r=$?; printf '\\033]7770;multiverse-exit;${nonce};%d\\007' "$r" >&2; [ "$r" -eq 4 ] && exit 0; exit "$r"`;
}

/** The remote argv that runs `command` exactly (no shell re-parsing) and reports its status. */
export function wrapCommand(command: string[], nonce: string): string[] {
  return ["sh", "-c", wrapper(nonce, '"$@"'), "multiverse-exec", ...command];
}

/** The remote argv of an interactive login shell that reports its status. */
export function wrapLoginShell(nonce: string): string[] {
  return ["sh", "-c", wrapper(nonce, 'if [ -x "${SHELL:-}" ]; then "$SHELL" -l; else /bin/sh -l; fi')];
}

/** The longest status text a trailer carries ("255"). */
const MAX_DIGITS = 3;

/**
 * Removes the trailer from a byte stream as it passes, holding back at most
 * the few bytes that might be the start of a trailer split across chunks.
 * Works on bytes: terminal output is not necessarily valid UTF-8.
 */
export class TrailerFilter {
  #pending: Buffer = Buffer.alloc(0);
  #status: number | null = null;
  readonly #marker: Buffer;

  constructor(nonce: string) {
    this.#marker = Buffer.from(`${OSC_START}${nonce};`, "latin1");
  }

  /** The status from the trailer, or null when none has been seen. */
  get status(): number | null {
    return this.#status;
  }

  /** Feeds a chunk; returns the bytes to pass on. */
  push(chunk: Uint8Array): Uint8Array {
    const buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#pending = Buffer.alloc(0);
    const out: Buffer[] = [];
    let from = 0;
    for (;;) {
      const at = buf.indexOf(this.#marker, from);
      if (at < 0) break;
      const digitsAt = at + this.#marker.length;
      const end = buf.indexOf(0x07, digitsAt);
      if (end < 0 && buf.length - digitsAt <= MAX_DIGITS) {
        // A trailer cut in two: wait for the rest.
        out.push(buf.subarray(from, at));
        this.#pending = Buffer.from(buf.subarray(at));
        return Buffer.concat(out);
      }
      const digits = end < 0 ? "" : buf.toString("latin1", digitsAt, end);
      if (!/^\d{1,3}$/.test(digits)) {
        // Looks like a trailer but is not one: pass it through untouched.
        out.push(buf.subarray(from, digitsAt));
        from = digitsAt;
        continue;
      }
      this.#status = Number(digits);
      out.push(buf.subarray(from, at));
      from = end + 1;
    }
    const rest = buf.subarray(from);
    const keep = partialSuffix(rest, this.#marker);
    out.push(rest.subarray(0, rest.length - keep));
    this.#pending = Buffer.from(rest.subarray(rest.length - keep));
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /** Whatever was held back, at the end of the stream. */
  flush(): Uint8Array {
    const rest = this.#pending;
    this.#pending = Buffer.alloc(0);
    return rest;
  }
}

/** Length of the longest suffix of `bytes` that is a proper prefix of `marker`. */
function partialSuffix(bytes: Buffer, marker: Buffer): number {
  const start = Math.max(0, bytes.length - (marker.length - 1));
  for (let i = bytes.indexOf(marker[0]!, start); i >= 0; i = bytes.indexOf(marker[0]!, i + 1)) {
    const tail = bytes.subarray(i);
    if (marker.subarray(0, tail.length).equals(tail)) return tail.length;
  }
  return 0;
}
