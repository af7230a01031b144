/**
 * The escapes typed into an interactive shell, as ssh has them: after Enter
 * (or at the very start), `~` and then
 * - `.` disconnects this client (a kept shell goes on, detached),
 * - `d` detaches on purpose,
 * - `?` lists the escapes,
 * - `~` sends one `~`;
 * any other key after the `~` sends both. Pure: keys in, actions out; a `~`
 * that ends a chunk is held back until the next key says what it is.
 */

export type EscapeKey = "." | "d" | "?";

export type EscapeAction = { type: "send"; bytes: Uint8Array } | { type: "escape"; key: EscapeKey };

/** What `~?` prints (raw mode: every line ends with CR LF). */
export const ESCAPE_HELP = [
  "Supported escape sequences (after Enter):",
  "  ~.  disconnect (a kept shell goes on, detached)",
  "  ~d  detach, and say how to reattach",
  "  ~?  this list",
  "  ~~  send one ~",
].join("\r\n");

/** The escapes as `shell --help` and `attach --help` describe them. */
export const ESCAPES_DOC = "Escapes after Enter: ~. disconnect (the shell is kept, detached), ~d detach, ~? list them, ~~ a ~";

const TILDE = 0x7e;
const CR = 0x0d;
const LF = 0x0a;
const ESCAPE_KEYS = new Map<number, EscapeKey>([
  [0x2e, "."],
  [0x64, "d"],
  [0x3f, "?"],
]);

/**
 * Where the reader is: at the start of a line (an `~` there may start an
 * escape), in the middle of one, or holding back a `~` typed at the start.
 */
export type EscapeState = "lineStart" | "typing" | "tilde";

export class EscapeReader {
  state: EscapeState = "lineStart";

  /** The actions `keys` stand for, in order; adjacent bytes to send come as one action. */
  feed(keys: Uint8Array): EscapeAction[] {
    const actions: EscapeAction[] = [];
    const send = (bytes: Uint8Array) => {
      if (bytes.length === 0) return;
      const last = actions.at(-1);
      if (last?.type === "send") last.bytes = concat(last.bytes, bytes);
      else actions.push({ type: "send", bytes });
    };
    let from = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (this.state === "tilde") {
        const escape = ESCAPE_KEYS.get(key);
        if (escape !== undefined || key === TILDE) {
          if (escape !== undefined) actions.push({ type: "escape", key: escape });
          else send(Uint8Array.of(TILDE));
          this.state = escape !== undefined ? "lineStart" : "typing";
          from = i + 1;
          continue;
        }
        // Not an escape: the held `~` goes out, and this key is an ordinary one.
        send(Uint8Array.of(TILDE));
        from = i;
        this.state = "typing";
      }
      if (this.state === "lineStart" && key === TILDE) {
        send(keys.subarray(from, i));
        from = i + 1;
        this.state = "tilde";
        continue;
      }
      this.state = key === CR || key === LF ? "lineStart" : "typing";
    }
    send(keys.subarray(from));
    return actions;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
