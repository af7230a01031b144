/**
 * The wire of `multiverse cp` (issue 14): what runs in the guest, what the
 * routes take, and what they answer.
 *
 * A copy is an exec session (kind "exec", no terminal, `autoStart: false`:
 * like `multipass transfer`, cp never starts a stopped instance) whose
 * command is a fixed `sh -c` script given the paths as arguments — never a
 * shell string built from them:
 * - copy-out ({@link copyOutCommand}) checks each path, prints the total size
 *   as a sentinel line on stderr, then writes `tar --format=pax` of the paths
 *   (each member named by its basename) on stdout;
 * - copy-in ({@link copyInCommand}) checks the target, extracts the tar on
 *   its stdin (or, raw, takes its bytes as one file) into a temporary
 *   directory beside the target, and only once all of it has arrived intact
 *   renames it into place; the temporary directory is removed on any failure.
 * A refusal is a sentinel line `multiverse-cp:error:REASON:PATH` on stderr
 * and a status of its own ({@link COPY_STATUS}; never 4, CONTRACT.md §1.4).
 */
import { AppError } from "../core/errors.ts";
import { boolean, field, integer, nullable, object, optional, parseJson, string, arrayOf, type JsonObject } from "../core/parse.ts";
import { parseInstanceRef, type InstanceRef } from "../core/validate.ts";

/** At most this many sources in one copy. */
export const MAX_COPY_PATHS = 256;
/** The longest guest path taken (Linux's PATH_MAX). */
export const MAX_PATH_BYTES = 4096;

/** Why the guest script refused, and its exit status for it. */
export const COPY_STATUS = {
  "not-found": 20,
  "is-directory": 21,
  permission: 22,
  "not-a-directory": 23,
  "no-such-directory": 24,
  "overwrite-directory": 25,
  "overwrite-file": 26,
  "cannot-create": 27,
} as const;

export type CopyRefusal = keyof typeof COPY_STATUS;

const SENTINEL = "multiverse-cp:";

/**
 * A guest path as the script takes it: `~` and `~/…` are the instance
 * user's home, where exec runs, so they become relative paths; an empty
 * path is the home itself. @throws AppError E_USAGE for a NUL byte or a path past {@link MAX_PATH_BYTES}
 */
export function guestPath(path: string): string {
  if (path.includes("\u0000")) throw new AppError("E_USAGE", "A path contains a NUL byte, which no file name can hold");
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw new AppError("E_USAGE", `A path is too long (${Buffer.byteLength(path)} bytes; at most ${MAX_PATH_BYTES})`);
  if (path === "" || path === "~") return ".";
  if (path.startsWith("~/")) return path.slice(2).replace(/^\/+/, "") || ".";
  return path;
}

const FAIL = `fail() { printf '${SENTINEL}error:%s:%s\\n' "$1" "$2" >&2; exit "$3"; }`;
const status = (reason: CopyRefusal) => String(COPY_STATUS[reason]);
/** Strips trailing slashes of $1 into $p (but keeps `/`). */
const TRIM = `trim() { p=$1; while [ "\${p%/}" != "$p" ] && [ "$p" != / ]; do p=\${p%/}; done; }`;

const COPY_OUT_SCRIPT = [
  FAIL,
  TRIM,
  'r=$1; shift',
  'for a in "$@"; do',
  `  if [ ! -e "$a" ] && [ ! -L "$a" ]; then fail not-found "$a" ${status("not-found")}; fi`,
  `  if [ -d "$a" ] && [ "$r" != 1 ]; then fail is-directory "$a" ${status("is-directory")}; fi`,
  `  if [ ! -r "$a" ]; then fail permission "$a" ${status("permission")}; fi`,
  'done',
  `printf '${SENTINEL}size:%s\\n' "$(du -sbc -- "$@" 2>/dev/null | tail -n 1 | cut -f1)" >&2`,
  'n=$#',
  'while [ "$n" -gt 0 ]; do',
  '  trim "$1"; shift; n=$((n - 1))',
  '  b=$(basename -- "$p")',
  '  if [ "$b" = . ] || [ "$b" = .. ]; then p=$(cd -- "$p" && pwd) || exit 1; b=$(basename -- "$p"); fi',
  '  d=$(cd -- "$(dirname -- "$p")" && pwd) || exit 1',
  // Absolute, since GNU tar takes a relative -C from the one before; ./ so a name cannot read as an option.
  '  set -- "$@" -C "$d" "./$b"',
  'done',
  'exec tar --format=pax --hard-dereference --blocking-factor=128 -cf - "$@"',
].join("\n");

const COPY_IN_SCRIPT = [
  FAIL,
  TRIM,
  'mode=$1; parents=$2; several=$3; trim "$4"; t=$p',
  'slash=0; [ "$t" != "$4" ] && slash=1',
  // What -p will make, once the whole stream is here: a failed copy leaves no directory behind either.
  'make=',
  'if [ "$several" = 1 ] || [ "$slash" = 1 ]; then',
  '  if [ ! -d "$t" ]; then',
  `    if [ -e "$t" ]; then fail not-a-directory "$t" ${status("not-a-directory")}; fi`,
  `    if [ "$parents" = 1 ]; then make=$t; else fail no-such-directory "$t" ${status("no-such-directory")}; fi`,
  '  fi',
  'fi',
  'if [ -d "$t" ] || [ -n "$make" ]; then into=1; dir=$t; else',
  '  into=0; dir=$(dirname -- "$t")',
  '  if [ ! -d "$dir" ]; then',
  `    if [ -e "$dir" ]; then fail not-a-directory "$dir" ${status("not-a-directory")}; fi`,
  `    if [ "$parents" = 1 ]; then make=$dir; else fail no-such-directory "$dir" ${status("no-such-directory")}; fi`,
  '  fi',
  'fi',
  // The temporary directory goes in the nearest directory that exists: the target's, or an ancestor of what -p makes.
  'anc=$dir',
  'while [ ! -d "$anc" ]; do',
  `  if [ -e "$anc" ] || [ -L "$anc" ]; then fail not-a-directory "$anc" ${status("not-a-directory")}; fi`,
  '  anc=$(dirname -- "$anc")',
  'done',
  `if [ ! -w "$anc" ]; then fail permission "$anc" ${status("permission")}; fi`,
  `tmp=$(mktemp -d "$anc/.multiverse-cp.XXXXXX") || fail cannot-create "$anc" ${status("cannot-create")}`,
  "trap 'rm -rf -- \"$tmp\"' EXIT",
  "trap 'exit 1' HUP INT TERM PIPE",
  `made() { if [ -n "$make" ]; then mkdir -p -- "$make" || fail cannot-create "$make" ${status("cannot-create")}; fi; }`,
  'if [ "$mode" = raw ]; then',
  `  if [ "$into" = 1 ]; then fail is-directory "$t" ${status("is-directory")}; fi`,
  '  cat > "$tmp/f" || exit 1',
  '  if [ -e "$t" ]; then chmod --reference="$t" "$tmp/f"; else chmod "$(printf %o $((0666 & ~0$(umask))))" "$tmp/f"; fi || exit 1',
  '  made',
  '  mv -fT -- "$tmp/f" "$t" || exit 1',
  '  exit 0',
  'fi',
  'tar -xpf - --no-same-owner --blocking-factor=128 --read-full-records -C "$tmp" || exit 1',
  // Checks first, renames after: a refusal leaves the target as it was.
  'count=0',
  'for e in "$tmp"/* "$tmp"/.[!.]* "$tmp"/..?*; do',
  '  [ -e "$e" ] || [ -L "$e" ] || continue',
  '  count=$((count + 1))',
  '  if [ "$into" = 1 ]; then d=$t/${e##*/}; else d=$t; fi',
  `  if [ -d "$e" ] && [ ! -L "$e" ] && { [ -e "$d" ] || [ -L "$d" ]; } && { [ ! -d "$d" ] || [ -L "$d" ]; }; then fail overwrite-file "$d" ${status("overwrite-file")}; fi`,
  `  if { [ ! -d "$e" ] || [ -L "$e" ]; } && [ -d "$d" ] && [ ! -L "$d" ]; then fail overwrite-directory "$d" ${status("overwrite-directory")}; fi`,
  'done',
  `if [ "$into" = 0 ] && [ "$count" -ne 1 ]; then fail not-a-directory "$t" ${status("not-a-directory")}; fi`,
  'made',
  'for e in "$tmp"/* "$tmp"/.[!.]* "$tmp"/..?*; do',
  '  [ -e "$e" ] || [ -L "$e" ] || continue',
  '  if [ "$into" = 1 ]; then d=$t/${e##*/}; else d=$t; fi',
  // A directory onto a directory merges into it, as cp -r does; anything else is one rename.
  '  if [ -d "$d" ] && [ ! -L "$d" ]; then cp -a -- "$e/." "$d/" || exit 1; else mv -fT -- "$e" "$d" || exit 1; fi',
  'done',
].join("\n");

/** The guest argv that writes a tar of `paths` on stdout. */
export function copyOutCommand(paths: string[], recursive: boolean): string[] {
  return ["sh", "-c", COPY_OUT_SCRIPT, "multiverse-cp-out", recursive ? "1" : "0", ...paths.map(guestPath)];
}

export interface CopyInOptions {
  /** Create missing parents (of the target, or the target directory itself for several sources). */
  parents: boolean;
  /** Several sources: the target must be (or, with `parents`, become) a directory. */
  several: boolean;
  /** The input is one file's bytes (a `-` source), not a tar. */
  raw: boolean;
}

/** The guest argv that puts the tar (or raw bytes) on its stdin at `target`. */
export function copyInCommand(target: string, options: CopyInOptions): string[] {
  return ["sh", "-c", COPY_IN_SCRIPT, "multiverse-cp-in", options.raw ? "raw" : "tar", options.parents ? "1" : "0", options.several ? "1" : "0", guestPath(target)];
}

/** A sentinel line of the guest script's stderr. */
export type CopySentinel = { kind: "size"; bytes: number | null } | { kind: "error"; reason: CopyRefusal | null; path: string };

/** The sentinel in one stderr line, or null for any other line (tar's own messages). */
export function parseCopySentinel(line: string): CopySentinel | null {
  if (!line.startsWith(SENTINEL)) return null;
  const rest = line.slice(SENTINEL.length);
  if (rest.startsWith("size:")) {
    const text = rest.slice(5).trim();
    return { kind: "size", bytes: /^\d{1,18}$/.test(text) ? Number(text) : null };
  }
  const m = /^error:([a-z-]+):(.*)$/.exec(rest);
  if (m === null) return null;
  const reason = Object.hasOwn(COPY_STATUS, m[1]!) ? (m[1] as CopyRefusal) : null;
  return { kind: "error", reason, path: m[2]! };
}

const REFUSAL_TEXT: Record<CopyRefusal, string> = {
  "not-found": "No such file or directory",
  "is-directory": "is a directory (use -r to copy it)",
  permission: "Permission denied",
  "not-a-directory": "Not a directory",
  "no-such-directory": "No such directory (use -p to create it)",
  "overwrite-directory": "cannot overwrite a directory with a non-directory",
  "overwrite-file": "cannot overwrite a non-directory with a directory",
  "cannot-create": "cannot create the directory",
};

/** The user's message for a refusal at `where` (e.g. `web@n1:logs`). */
export function copyRefusalMessage(reason: CopyRefusal, where: string): string {
  return `${where}: ${REFUSAL_TEXT[reason]}`;
}

/** The refusal a status says, when it is one of {@link COPY_STATUS}. */
export function refusalOfStatus(code: number | null): CopyRefusal | null {
  for (const [reason, value] of Object.entries(COPY_STATUS)) if (value === code) return reason as CopyRefusal;
  return null;
}

/** The longest stderr line kept from either side; more of a line is dropped. */
export const MAX_LINE_CHARS = 4096;
/** Tar's own messages kept for an error, at most. */
const MAX_MESSAGES = 5;

/**
 * One side's stderr, split into lines as it comes: the sentinels, and a few
 * of tar's own messages for an error; bounded whatever the side sends.
 */
export class CopyStderr {
  #partial = "";
  readonly sentinels: CopySentinel[] = [];
  readonly messages: string[] = [];
  readonly #decoder = new TextDecoder();

  push(bytes: Uint8Array): void {
    const lines = (this.#partial + this.#decoder.decode(bytes, { stream: true })).split("\n");
    this.#partial = (lines.pop() ?? "").slice(0, MAX_LINE_CHARS);
    for (const line of lines) this.#line(line);
  }

  #line(line: string): void {
    const sentinel = parseCopySentinel(line);
    if (sentinel !== null) {
      if (this.sentinels.length < MAX_MESSAGES) this.sentinels.push(sentinel);
    } else if (line.trim() !== "" && this.messages.length < MAX_MESSAGES) this.messages.push(line.slice(0, MAX_LINE_CHARS));
  }

  /** The total size the copy-out script announced, when it did. */
  get size(): number | null {
    const size = this.sentinels.find((s) => s.kind === "size");
    return size?.kind === "size" ? size.bytes : null;
  }

  /** Why this side (`ref`, NAME@NODE) failed with status `code` or the session's `error`, in the user's words. */
  explain(ref: string, code: number | null, error: { code: string; message: string } | null): AppError {
    if (this.#partial !== "") this.#line(this.#partial);
    this.#partial = "";
    const refusal = this.sentinels.find((s) => s.kind === "error");
    const reason = refusal?.kind === "error" ? (refusal.reason ?? refusalOfStatus(code)) : refusalOfStatus(code);
    if (refusal?.kind === "error" && reason !== null) {
      return new AppError(reason === "not-found" ? "E_NOT_FOUND" : "E_CONFLICT", copyRefusalMessage(reason, `${ref}:${refusal.path}`));
    }
    if (error !== null) return new AppError(error.code === "E_CONFLICT" || error.code === "E_NOT_FOUND" ? error.code : "E_UNREACHABLE", `${ref}: ${error.message}`);
    const said = this.messages.length > 0 ? `: ${this.messages.join("; ")}` : "";
    return new AppError("E_MULTIPASS", `${ref}: the copy failed with status ${code ?? "unknown"}${said}`);
  }
}

// ---------------------------------------------------------------- routes

function flag(query: URLSearchParams, key: string): boolean {
  const text = query.get(key);
  if (text === null || text === "0" || text === "false") return false;
  if (text === "1" || text === "true") return true;
  throw new AppError("E_USAGE", `Invalid ${key} "${text.slice(0, 20)}": expected 1 or 0`);
}

function checkPaths(paths: string[]): string[] {
  if (paths.length === 0) throw new AppError("E_USAGE", "No path given: name at least one path in the instance");
  if (paths.length > MAX_COPY_PATHS) throw new AppError("E_USAGE", `Too many paths (${paths.length}; at most ${MAX_COPY_PATHS})`);
  for (const path of paths) {
    if (path === "") throw new AppError("E_USAGE", "An empty path: name the file (~ is the instance user's home)");
    guestPath(path);
  }
  return paths;
}

/** `GET …/copy-out?path=P&path=Q&recursive=1`. @throws AppError E_USAGE */
export function copyOutFromQuery(query: URLSearchParams): { paths: string[]; recursive: boolean } {
  return { paths: checkPaths(query.getAll("path")), recursive: flag(query, "recursive") };
}

/** `GET …/copy-in?path=T&parents=1&several=1&raw=1`. @throws AppError E_USAGE */
export function copyInFromQuery(query: URLSearchParams): { path: string } & CopyInOptions {
  const paths = query.getAll("path");
  if (paths.length !== 1) throw new AppError("E_USAGE", `Expected one target path, got ${paths.length}`);
  const [path] = checkPaths(paths);
  const options = { parents: flag(query, "parents"), several: flag(query, "several"), raw: flag(query, "raw") };
  if (options.raw && options.several) throw new AppError("E_USAGE", "A raw copy carries one file, not several");
  return { path: path!, ...options };
}

/** The body of `POST /api/v1/copy`: instance to instance. */
export interface CopyBody {
  from: { instance: InstanceRef; paths: string[]; recursive: boolean };
  to: { instance: InstanceRef; path: string; parents: boolean };
}

/** @throws ParseError / AppError E_USAGE */
export function parseCopyBody(value: unknown): CopyBody {
  const body = object(value, "body");
  const from = field(body, "from", "body", object);
  const to = field(body, "to", "body", object);
  const ref = (o: JsonObject, path: string) => parseInstanceRef(field(o, "instance", path, string));
  const paths = checkPaths(field(from, "paths", "body.from", arrayOf(string)));
  const [target] = checkPaths([field(to, "path", "body.to", string)]);
  return {
    from: { instance: ref(from, "body.from"), paths, recursive: field(from, "recursive", "body.from", optional(boolean)) ?? false },
    to: { instance: ref(to, "body.to"), path: target!, parents: field(to, "parents", "body.to", optional(boolean)) ?? false },
  };
}

/**
 * One line of the streamed `POST /api/v1/copy` answer: `progress` now and
 * then (bytes of tar carried so far, and the total the source announced),
 * then one `done`, or an `error` (which side, and why).
 */
export type CopyLine =
  | { type: "progress"; bytes: number; total: number | null }
  | { type: "done"; bytes: number }
  | { type: "error"; code: string; message: string };

/** @throws ParseError */
export function parseCopyLine(line: string): CopyLine {
  const o = object(parseJson(line, "copy line"), "copy line");
  const type = field(o, "type", "copy line", string);
  if (type === "progress") return { type, bytes: field(o, "bytes", "progress", integer), total: field(o, "total", "progress", nullable(integer)) };
  if (type === "done") return { type, bytes: field(o, "bytes", "done", integer) };
  if (type === "error") return { type, code: field(o, "code", "error", string), message: field(o, "message", "error", string) };
  throw new AppError("E_PROTOCOL", `Unknown copy line ${JSON.stringify(type).slice(0, 40)}`);
}
