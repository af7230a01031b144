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
 * - Decoding (tar-decode.ts): fed chunks of any size, the decoder yields
 *   entries and their data as views of the chunks it was given, in bounded
 *   memory; it checks every header's checksum, and refuses member names
 *   that are absolute or climb out with `..`, hard links and special files.
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

/** An error of a tar stream that cannot be read (or a member that must not be extracted). */
export function tarError(message: string): AppError {
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
