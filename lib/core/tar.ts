/**
 * A streaming tar codec (POSIX pax over ustar), pure: no I/O, no whole file
 * in memory. `multiverse cp` carries files, directories, symlinks and their
 * modes in one tar stream; GNU tar reads what {@link encodeTarHeader} writes,
 * and {@link TarDecoder} reads what `tar --format=pax -cf -` writes.
 *
 * - Encoding: a header (preceded by a pax extended header when a name or a
 *   link target does not fit ustar or is not ASCII, or a size or an mtime
 *   does not fit its octal field, e.g. a file of 8 GiB or more), then the
 *   data, then {@link tarPadding}; {@link TAR_END} closes the archive.
 * - Decoding: fed chunks of any size, the decoder yields entries and their
 *   data as views of the chunks it was given; it holds at most one header
 *   block, or one pax header of at most {@link MAX_PAX_BYTES}. It checks
 *   every header's checksum, and refuses member names that are absolute or
 *   climb out with `..`, hard links and special files.
 */
import { AppError } from "./errors.ts";

export const BLOCK_BYTES = 512;
/** The largest pax extended header read (long names are at most a few KiB). */
export const MAX_PAX_BYTES = 1024 * 1024;
/** The end of an archive: two zero blocks. */
export const TAR_END = new Uint8Array(2 * BLOCK_BYTES);

export type TarEntryType = "file" | "directory" | "symlink";

export interface TarEntry {
  /** The member name, without a trailing slash: `dir`, `dir/file`. */
  name: string;
  type: TarEntryType;
  /** Permission bits (07777). */
  mode: number;
  /** Bytes of data that follow (0 but for a file). */
  size: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** A symlink's target; empty otherwise. */
  linkname: string;
}

/** A step of decoding: an entry starts, some of its data, it ends, or the archive ends. */
export type TarEvent = { kind: "entry"; entry: TarEntry } | { kind: "data"; bytes: Uint8Array } | { kind: "entry-end" } | { kind: "end" };

const OCTAL_SIZE_LIMIT = 8 ** 11;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function tarError(message: string): AppError {
  return new AppError("E_PROTOCOL", `Bad tar stream: ${message}`);
}

/**
 * The components of a member name, checked for extraction: relative,
 * never `..`, no NUL; `.` components and a leading `./` are dropped.
 * @throws AppError E_PROTOCOL naming the member
 */
export function memberComponents(name: string): string[] {
  const shown = JSON.stringify(name.slice(0, 200));
  if (name.includes("\u0000")) throw tarError(`member ${shown} has a NUL byte in its name`);
  if (name.startsWith("/")) throw tarError(`member ${shown} has an absolute name; refusing to extract it`);
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw tarError(`member ${shown} climbs out with ".."; refusing to extract it`);
  if (parts.length === 0) throw tarError(`member ${shown} has an empty name`);
  return parts;
}

// ---------------------------------------------------------------- encoding

function putString(block: Uint8Array, offset: number, length: number, text: string): void {
  block.set(encoder.encode(text).subarray(0, length), offset);
}

function putOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  putString(block, offset, length, value.toString(8).padStart(length - 1, "0") + "\u0000");
}

function checksum(block: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK_BYTES; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum;
}

/** One ustar header block; `name` and `linkname` must fit (the caller put what does not in pax). */
function ustarBlock(name: string, prefix: string, type: string, mode: number, size: number, mtime: number, linkname: string): Uint8Array {
  const block = new Uint8Array(BLOCK_BYTES);
  putString(block, 0, 100, name);
  putOctal(block, 100, 8, mode & 0o7777);
  putOctal(block, 108, 8, 0);
  putOctal(block, 116, 8, 0);
  putOctal(block, 124, 12, size);
  putOctal(block, 136, 12, mtime);
  block[156] = type.charCodeAt(0);
  putString(block, 157, 100, linkname);
  putString(block, 257, 8, "ustar\u000000");
  putString(block, 345, 155, prefix);
  putString(block, 148, 8, checksum(block).toString(8).padStart(6, "0") + "\u0000 ");
  return block;
}

const isAscii = (text: string) => /^[\x20-\x7e]*$/.test(text);

/** The ustar name and prefix of `path`, or null when it needs a pax `path`. */
function splitName(path: string): { name: string; prefix: string } | null {
  if (!isAscii(path)) return null;
  if (path.length <= 100) return { name: path, prefix: "" };
  for (let at = path.indexOf("/"); at >= 0; at = path.indexOf("/", at + 1)) {
    const prefix = path.slice(0, at);
    const name = path.slice(at + 1);
    if (prefix.length <= 155 && name.length > 0 && name.length <= 100) return { name, prefix };
  }
  return null;
}

/** One pax record, `LEN key=value\n`, its length counting itself. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bytes = encoder.encode(body).length;
  let length = bytes + String(bytes).length;
  if (String(length).length !== String(bytes).length) length = bytes + String(length).length;
  return `${length}${body}`;
}

/** Zero bytes that take `size` bytes of data to a block boundary. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((BLOCK_BYTES - (size % BLOCK_BYTES)) % BLOCK_BYTES);
}

/**
 * The header blocks of `entry`: a pax extended header first when needed,
 * then its ustar header. Its data and {@link tarPadding} follow.
 * @throws AppError E_USAGE for a name no archive can carry (see {@link memberComponents})
 */
export function encodeTarHeader(entry: TarEntry): Uint8Array {
  try {
    memberComponents(entry.name);
  } catch (error) {
    throw new AppError("E_USAGE", (error as AppError).message.replace("Bad tar stream: ", "Cannot archive "));
  }
  const path = entry.type === "directory" ? `${entry.name}/` : entry.name;
  const size = entry.type === "file" ? entry.size : 0;
  const records: string[] = [];
  const split = splitName(path);
  if (split === null) records.push(paxRecord("path", path));
  if (entry.linkname.length > 100 || !isAscii(entry.linkname)) records.push(paxRecord("linkpath", entry.linkname));
  if (size >= OCTAL_SIZE_LIMIT) records.push(paxRecord("size", String(size)));
  const mtime = Math.floor(entry.mtime);
  if (mtime < 0 || mtime >= OCTAL_SIZE_LIMIT) records.push(paxRecord("mtime", String(mtime)));
  const type = entry.type === "file" ? "0" : entry.type === "directory" ? "5" : "2";
  const header = ustarBlock(
    split?.name ?? path.replace(/[^\x20-\x7e]/g, "_").slice(-100),
    split?.prefix ?? "",
    type,
    entry.mode,
    size >= OCTAL_SIZE_LIMIT ? 0 : size,
    mtime < 0 || mtime >= OCTAL_SIZE_LIMIT ? 0 : mtime,
    records.some((r) => r.includes(" linkpath=")) ? "" : entry.linkname,
  );
  if (records.length === 0) return header;
  const pax = encoder.encode(records.join(""));
  const base = (entry.name.split("/").pop() ?? "x").replace(/[^\x20-\x7e]/g, "_").slice(0, 80);
  const paxHeader = ustarBlock(`PaxHeaders/${base}`, "", "x", 0o644, pax.length, mtime < 0 || mtime >= OCTAL_SIZE_LIMIT ? 0 : mtime, "");
  const out = new Uint8Array(BLOCK_BYTES + pax.length + tarPadding(pax.length).length + BLOCK_BYTES);
  out.set(paxHeader, 0);
  out.set(pax, BLOCK_BYTES);
  out.set(header, out.length - BLOCK_BYTES);
  return out;
}

// ---------------------------------------------------------------- decoding

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
