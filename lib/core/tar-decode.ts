/**
 * The decoding half of the tar codec (tar.ts): fed chunks of any size, it
 * yields entries and their data as views of the chunks it was given. It
 * holds at most one header block, or one pax header of at most
 * MAX_PAX_BYTES (tar.ts); it checks every header's checksum (unsigned or
 * signed sums, as tar does), reads pax records (`path`, `linkpath`, `size`,
 * `mtime`), GNU long names and GNU base-256 numbers, and refuses members
 * that are absolute, climb out with `..`, are hard links or special files.
 */
import { BLOCK_BYTES, MAX_PAX_BYTES, memberComponents, tarError, type TarEntry, type TarEntryType, type TarEvent } from "./tar.ts";

const decoder = new TextDecoder();

function readString(block: Uint8Array, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return decoder.decode(nul < 0 ? field : field.subarray(0, nul));
}

/** An octal field, or GNU's base-256 (high bit set) for big values. */
function readNumber(block: Uint8Array, offset: number, length: number, what: string): number {
  const field = block.subarray(offset, offset + length);
  if ((field[0]! & 0x80) !== 0) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = decoder.decode(field).replace(/[\u0000 ]+$/, "").replace(/^[ ]+/, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw tarError(`header field ${what} is not a number: ${JSON.stringify(text.slice(0, 20))}`);
  return parseInt(text, 8);
}

function checksumMatches(block: Uint8Array): boolean {
  let stored: number;
  try {
    stored = readNumber(block, 148, 8, "chksum");
  } catch {
    return false;
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_BYTES; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** The records of a pax extended header. @throws AppError E_PROTOCOL */
export function parsePaxRecords(bytes: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < bytes.length) {
    if (bytes[at] === 0) break;
    const space = bytes.indexOf(0x20, at);
    const length = space < 0 ? NaN : Number(decoder.decode(bytes.subarray(at, space)));
    if (!Number.isInteger(length) || length <= 0 || at + length > bytes.length || bytes[at + length - 1] !== 0x0a) throw tarError("a malformed pax record");
    const record = decoder.decode(bytes.subarray(space + 1, at + length - 1));
    const eq = record.indexOf("=");
    if (eq <= 0) throw tarError("a pax record without a key");
    records.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return records;
}

type DecoderState = "header" | "data" | "padding" | "pax" | "end";

/**
 * Decodes a tar stream fed in chunks. `push` returns what each chunk
 * completes; data events are views of the chunk (copy them to keep them
 * past the next push). Call `finish` at the end of the stream.
 */
export class TarDecoder {
  #state: DecoderState = "header";
  #block = new Uint8Array(BLOCK_BYTES);
  #filled = 0;
  /** Data (or pax header bytes) still to come for the current member, then its padding. */
  #remaining = 0;
  #padding = 0;
  #pax: Uint8Array | null = null;
  #paxFilled = 0;
  #paxGlobal = false;
  /** The type of the extended header being read: pax (`x`, `g`) or GNU long name (`L`, `K`). */
  #paxKind = "x";
  /** Pax records that apply to the next member. */
  #next = new Map<string, string>();

  get ended(): boolean {
    return this.#state === "end";
  }

  /** @throws AppError E_PROTOCOL for a bad checksum, a refused member, a malformed header */
  push(chunk: Uint8Array): TarEvent[] {
    const events: TarEvent[] = [];
    let at = 0;
    while (at < chunk.length && this.#state !== "end") {
      if (this.#state === "header") {
        const take = Math.min(BLOCK_BYTES - this.#filled, chunk.length - at);
        this.#block.set(chunk.subarray(at, at + take), this.#filled);
        this.#filled += take;
        at += take;
        if (this.#filled === BLOCK_BYTES) {
          this.#filled = 0;
          this.#header(events);
        }
      } else if (this.#state === "data") {
        const take = Math.min(this.#remaining, chunk.length - at);
        if (take > 0) events.push({ kind: "data", bytes: chunk.subarray(at, at + take) });
        this.#remaining -= take;
        at += take;
        if (this.#remaining === 0) {
          events.push({ kind: "entry-end" });
          this.#state = this.#padding > 0 ? "padding" : "header";
        }
      } else if (this.#state === "pax") {
        const take = Math.min(this.#remaining, chunk.length - at);
        this.#pax!.set(chunk.subarray(at, at + take), this.#paxFilled);
        this.#paxFilled += take;
        this.#remaining -= take;
        at += take;
        if (this.#remaining === 0) this.#paxDone();
      } else {
        const take = Math.min(this.#padding, chunk.length - at);
        this.#padding -= take;
        at += take;
        if (this.#padding === 0) this.#state = "header";
      }
    }
    return events;
  }

  /** The stream has ended. @throws AppError E_PROTOCOL when it ended inside the archive */
  finish(): void {
    if (this.#state !== "end") throw tarError("the archive was cut short");
  }

  #header(events: TarEvent[]): void {
    const block = this.#block;
    if (block.every((b) => b === 0)) {
      this.#state = "end";
      events.push({ kind: "end" });
      return;
    }
    if (!checksumMatches(block)) throw tarError("a header's checksum does not match (not a tar stream, or corrupted)");
    const type = String.fromCharCode(block[156]!);
    const size = this.#next.has("size") ? Number(this.#next.get("size")) : readNumber(block, 124, 12, "size");
    if (!Number.isSafeInteger(size) || size < 0) throw tarError("a member size is not a number");
    this.#padding = (BLOCK_BYTES - (size % BLOCK_BYTES)) % BLOCK_BYTES;
    if (type === "x" || type === "g" || type === "L" || type === "K") {
      if (size > MAX_PAX_BYTES) throw tarError(`an extended header of ${size} bytes (at most ${MAX_PAX_BYTES})`);
      this.#pax = new Uint8Array(size);
      this.#paxFilled = 0;
      this.#paxGlobal = type === "g";
      this.#paxKind = type;
      this.#remaining = size;
      this.#state = "pax";
      if (size === 0) this.#paxDone();
      return;
    }
    const prefix = readString(block, 345, 155);
    const rawName = this.#next.get("path") ?? (prefix ? `${prefix}/${readString(block, 0, 100)}` : readString(block, 0, 100));
    const linkname = this.#next.get("linkpath") ?? readString(block, 157, 100);
    const mtime = this.#next.has("mtime") ? Math.floor(Number(this.#next.get("mtime"))) : readNumber(block, 136, 12, "mtime");
    this.#next = new Map();
    const entryType = typeOf(type, rawName);
    const name = memberComponents(rawName).join("/");
    const entry: TarEntry = { name, type: entryType, mode: readNumber(block, 100, 8, "mode") & 0o7777, size: entryType === "file" ? size : 0, mtime: Number.isFinite(mtime) ? mtime : 0, linkname: entryType === "symlink" ? linkname : "" };
    events.push({ kind: "entry", entry });
    if (entryType === "file" && size > 0) {
      this.#remaining = size;
      this.#state = "data";
      return;
    }
    // A directory or a link: any data it claims is skipped.
    events.push({ kind: "entry-end" });
    this.#padding = size + this.#padding;
    this.#state = this.#padding > 0 ? "padding" : "header";
  }

  #paxDone(): void {
    const bytes = this.#pax!;
    this.#pax = null;
    this.#state = this.#padding > 0 ? "padding" : "header";
    if (this.#paxKind === "L" || this.#paxKind === "K") {
      this.#next.set(this.#paxKind === "L" ? "path" : "linkpath", readString(bytes, 0, bytes.length));
      return;
    }
    const records = parsePaxRecords(bytes);
    if (this.#paxGlobal) return;
    for (const [key, value] of records) this.#next.set(key, value);
  }
}

function typeOf(flag: string, name: string): TarEntryType {
  switch (flag) {
    case "0":
    case "\u0000":
    case "7":
      return name.endsWith("/") ? "directory" : "file";
    case "5":
      return "directory";
    case "2":
      return "symlink";
    case "1":
      throw tarError(`member ${JSON.stringify(name.slice(0, 200))} is a hard link, which cp does not carry`);
    default:
      throw tarError(`member ${JSON.stringify(name.slice(0, 200))} is a special file (type ${JSON.stringify(flag)}), which cp does not carry`);
  }
}
