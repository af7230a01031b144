/**
 * The local side of `multiverse cp`: local files as a tar stream (read from
 * disk as it is sent: constant memory whatever their size), and a tar
 * stream extracted into a temporary directory beside the target, renamed
 * into place only once all of it has arrived intact, removed otherwise.
 *
 * Placement follows cp(1): a target that is a directory takes the sources
 * inside it; one source and a target that does not exist is copied as the
 * target; several sources need a directory ("Not a directory"). With `-p`,
 * missing parents (or, for several sources, the target directory) are made.
 */
import { constants } from "node:fs";
import { chmod, lstat, mkdir, mkdtemp, open, readdir, readlink, rename, rm, stat, symlink, utimes } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { AppError, errnoOf } from "../core/errors.ts";
import { encodeTarHeader, TAR_END, tarPadding, type TarEntry } from "../core/tar.ts";
import { TarDecoder } from "../core/tar-decode.ts";

/** The bytes read from a local file at a time. */
const READ_BYTES = 256 * 1024;
/** Directories and links whose modes and targets wait for the end of an extraction, at most. */
const MAX_DEFERRED = 1_000_000;

function notFound(path: string): AppError {
  return new AppError("E_NOT_FOUND", `${path}: No such file or directory`);
}

/** The name a source has in the stream: its basename (`.` and `..` resolved first). */
export function memberName(path: string): string {
  const trimmed = path.replace(/\/+$/, "") || "/";
  const base = basename(trimmed);
  return base === "." || base === ".." || base === "" ? basename(resolve(trimmed)) : base;
}

/**
 * Checks the local sources and sums their bytes (for the progress bar).
 * @throws AppError E_NOT_FOUND, E_CONFLICT (a directory without -r, a special file)
 */
export async function checkSources(paths: string[], recursive: boolean): Promise<number> {
  let total = 0;
  const names = new Set<string>();
  for (const path of paths) {
    const info = await lstat(path).catch((e: unknown) => {
      throw errnoOf(e) === "ENOENT" ? notFound(path) : new AppError("E_CONFLICT", `${path}: ${errnoOf(e) ?? "cannot be read"}`);
    });
    if (info.isDirectory() && !recursive) throw new AppError("E_CONFLICT", `${path}: is a directory (use -r to copy it)`);
    if (!info.isDirectory() && !info.isFile() && !info.isSymbolicLink()) throw new AppError("E_CONFLICT", `${path}: not a regular file, directory or symlink`);
    const name = memberName(path);
    if (names.has(name)) throw new AppError("E_USAGE", `Two sources are named "${name}": they would land on the same target`);
    names.add(name);
    total += info.isDirectory() ? await treeBytes(path) : info.isFile() ? info.size : 0;
  }
  return total;
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const child of await readdir(dir, { withFileTypes: true })) {
    if (child.isDirectory()) total += await treeBytes(join(dir, child.name));
    else if (child.isFile()) total += (await stat(join(dir, child.name))).size;
  }
  return total;
}

/** The tar stream of `paths`, each under its {@link memberName}, read from disk as it is taken. */
export async function* tarOf(paths: string[]): AsyncGenerator<Uint8Array> {
  for (const path of paths) yield* member(path, memberName(path));
  yield TAR_END;
}

async function* member(path: string, name: string): AsyncGenerator<Uint8Array> {
  const info = await lstat(path).catch((e: unknown) => {
    throw errnoOf(e) === "ENOENT" ? new AppError("E_CONFLICT", `${path}: vanished while being copied`) : e;
  });
  const base = { name, mode: info.mode & 0o7777, mtime: Math.floor(info.mtimeMs / 1000), size: 0, linkname: "" };
  if (info.isSymbolicLink()) {
    yield encodeTarHeader({ ...base, type: "symlink", linkname: await readlink(path) });
  } else if (info.isDirectory()) {
    yield encodeTarHeader({ ...base, type: "directory" });
    const children = (await readdir(path)).sort();
    for (const child of children) yield* member(join(path, child), `${name}/${child}`);
  } else if (info.isFile()) {
    yield encodeTarHeader({ ...base, type: "file", size: info.size });
    yield* fileData(path, info.size);
    yield tarPadding(info.size);
  }
  // Sockets and devices inside a directory are left out, as they cannot be copied.
}

/** Exactly `size` bytes of the file: one that shrank while being read is an error, not a short member. */
async function* fileData(path: string, size: number): AsyncGenerator<Uint8Array> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    let left = size;
    while (left > 0) {
      const buffer = new Uint8Array(Math.min(READ_BYTES, left));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) throw new AppError("E_CONFLICT", `${path}: changed while being copied (shorter than its ${size} bytes)`);
      left -= bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Where extracted sources go: inside `dir`, or (one source) as `path`
 * itself; `make` is the directory -p creates once the whole stream is here
 * (so a failed copy leaves none behind), null when nothing is missing.
 */
export type Placement = ({ into: true; dir: string } | { into: false; path: string }) & { make: string | null };

/**
 * Decides where the sources go, as cp(1) would, before anything is copied; creates nothing.
 * @throws AppError E_CONFLICT "Not a directory", E_NOT_FOUND for a missing parent without -p
 */
export async function placeLocal(target: string, several: boolean, parents: boolean): Promise<Placement> {
  const mustBeDir = several || target.endsWith("/");
  const info = await stat(target).catch(() => null);
  if (info?.isDirectory()) return { into: true, dir: target, make: null };
  if (info && mustBeDir) throw new AppError("E_CONFLICT", `${target}: Not a directory`);
  if (mustBeDir) {
    if (!parents) throw new AppError("E_NOT_FOUND", `${target}: No such directory (use -p to create it)`);
    await existingAncestor(target);
    return { into: true, dir: target, make: target };
  }
  const parent = dirname(target);
  const parentInfo = await stat(parent).catch(() => null);
  if (parentInfo && !parentInfo.isDirectory()) throw new AppError("E_CONFLICT", `${parent}: Not a directory`);
  if (parentInfo) return { into: false, path: target, make: null };
  if (!parents) throw new AppError("E_NOT_FOUND", `${parent}: No such directory (use -p to create it)`);
  await existingAncestor(parent);
  return { into: false, path: target, make: parent };
}

/** The nearest directory that exists at or above `path`. @throws AppError E_CONFLICT when a file is in the way */
async function existingAncestor(path: string): Promise<string> {
  for (let at = path; ; at = dirname(at)) {
    const info = await lstat(at).catch(() => null);
    if (info?.isDirectory()) return at;
    if (info) throw new AppError("E_CONFLICT", `${at}: Not a directory`);
    if (dirname(at) === at) return at;
  }
}

/**
 * A tar stream extracted beside its target. Feed it with `push`, then
 * `commit` (everything arrived: rename into place) or `abort` (remove it all).
 */
export class LocalExtract {
  readonly #decoder = new TarDecoder();
  readonly #tmp: string;
  readonly #placement: Placement;
  #file: Awaited<ReturnType<typeof open>> | null = null;
  #entry: TarEntry | null = null;
  /** Directories get their modes last (a read-only one must still take its files); links too (never written through). */
  readonly #dirs: TarEntry[] = [];
  readonly #links: TarEntry[] = [];

  private constructor(tmp: string, placement: Placement) {
    this.#tmp = tmp;
    this.#placement = placement;
  }

  static async create(placement: Placement): Promise<LocalExtract> {
    const beside = await existingAncestor(placement.into ? placement.dir : dirname(placement.path));
    return new LocalExtract(await mkdtemp(join(beside, ".multiverse-cp.")), placement);
  }

  async push(chunk: Uint8Array): Promise<void> {
    for (const event of this.#decoder.push(chunk)) {
      if (event.kind === "entry") await this.#begin(event.entry);
      else if (event.kind === "data") await this.#file!.write(event.bytes);
      else if (event.kind === "entry-end") await this.#endEntry();
    }
  }

  async #begin(entry: TarEntry): Promise<void> {
    this.#entry = entry;
    const path = join(this.#tmp, entry.name);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    if (entry.type !== "file" && this.#dirs.length + this.#links.length >= MAX_DEFERRED) {
      throw new AppError("E_TOO_LARGE", `More than ${MAX_DEFERRED} directories and links in one copy; copy the tree in parts`);
    }
    if (entry.type === "directory") {
      await mkdir(path, { recursive: true, mode: 0o700 });
      this.#dirs.push(entry);
    } else if (entry.type === "symlink") this.#links.push(entry);
    else this.#file = await open(path, "wx", 0o600);
  }

  async #endEntry(): Promise<void> {
    const entry = this.#entry;
    if (entry?.type !== "file" || this.#file === null) return;
    await this.#file.close();
    this.#file = null;
    const path = join(this.#tmp, entry.name);
    await chmod(path, entry.mode);
    await utimes(path, entry.mtime, entry.mtime);
  }

  /** Everything arrived: links, directory modes, then each top-level member renamed into place. @throws AppError */
  async commit(): Promise<void> {
    this.#decoder.finish();
    for (const link of this.#links) await symlink(link.linkname, join(this.#tmp, link.name));
    for (const dir of [...this.#dirs].reverse()) {
      const path = join(this.#tmp, dir.name);
      await chmod(path, dir.mode);
      await utimes(path, dir.mtime, dir.mtime);
    }
    const top = await readdir(this.#tmp);
    const moves = top.map((name) => ({ from: join(this.#tmp, name), to: this.#placement.into ? join(this.#placement.dir, name) : this.#placement.path }));
    if (!this.#placement.into && moves.length !== 1) throw new AppError("E_CONFLICT", `${this.#placement.path}: Not a directory`);
    // Every check first: a refusal leaves the target as it was.
    for (const move of moves) await checkMove(move.from, move.to);
    if (this.#placement.make !== null) await mkdir(this.#placement.make, { recursive: true });
    for (const move of moves) await moveInto(move.from, move.to);
    await this.abort();
  }

  /** Removes the temporary directory and whatever it holds; idempotent. */
  async abort(): Promise<void> {
    await this.#file?.close().catch(() => {});
    this.#file = null;
    await rm(this.#tmp, { recursive: true, force: true });
  }
}

async function checkMove(from: string, to: string): Promise<void> {
  const source = await lstat(from);
  const target = await lstat(to).catch(() => null);
  if (target === null) return;
  if (source.isDirectory() && !target.isDirectory()) throw new AppError("E_CONFLICT", `${to}: cannot overwrite a non-directory with a directory`);
  if (!source.isDirectory() && target.isDirectory()) throw new AppError("E_CONFLICT", `${to}: cannot overwrite a directory with a non-directory`);
}

/** One rename, or (a directory onto a directory) each member moved in, as cp -r merges. */
async function moveInto(from: string, to: string): Promise<void> {
  const target = await lstat(to).catch(() => null);
  if (target === null || !target.isDirectory()) return rename(from, to);
  for (const name of await readdir(from)) await moveInto(join(from, name), join(to, name));
}
