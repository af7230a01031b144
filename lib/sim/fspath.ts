/**
 * What the 1.16 client's file code prints and how it composes paths: the POSIX
 * `std::filesystem::path` operations transfer uses (`/`, `filename()`,
 * `parent_path()`), fmt 11's `{}` (as is) and `{:?}` (quoted, escaped) of a
 * path, `strerror` / `std::error_code::message()` texts, and libstdc++'s
 * `exists` / `is_directory` with an error code (a missing path sets it for
 * `is_directory`, and not for `exists`).
 */

import { statSync } from "node:fs";

/** `std::filesystem::path::operator/` on POSIX. */
export function joinPath(left: string, right: string): string {
  if (right.startsWith("/") || left === "") return right;
  return left.endsWith("/") ? left + right : `${left}/${right}`;
}

/** `path::filename()`: the last element; empty after a trailing slash. */
export function fileName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** `path::parent_path()`: everything before the last element, without trailing slashes but the root. */
export function parentPath(path: string): string {
  if (path === "" || /^\/+$/.test(path)) return path;
  const slash = path.lastIndexOf("/");
  if (slash < 0) return "";
  const head = path.slice(0, slash).replace(/\/+$/, "");
  return head === "" ? "/" : head;
}

/** utils::trim_end of the trailing separators. */
export function trimSlashes(path: string): string {
  return path.replace(/\/+$/, "");
}

/** The elements `path`'s iterator yields: the root `/`, each name, and `""` after a trailing slash. */
export function pathElements(path: string): string[] {
  const names = path.split("/").filter((name) => name !== "");
  const elements = path.startsWith("/") ? ["/", ...names] : names;
  return path.endsWith("/") && names.length > 0 ? [...elements, ""] : elements;
}

/** fmt 11's `{:?}` of a path: double quotes, with `"` `\` and control characters escaped. */
export function quotePath(path: string): string {
  let out = '"';
  for (const ch of path) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

const STRERROR: Record<string, string> = {
  EACCES: "Permission denied",
  EBUSY: "Device or resource busy",
  EEXIST: "File exists",
  EINVAL: "Invalid argument",
  EIO: "Input/output error",
  EISDIR: "Is a directory",
  ELOOP: "Too many levels of symbolic links",
  EMFILE: "Too many open files",
  ENAMETOOLONG: "File name too long",
  ENOENT: "No such file or directory",
  ENOSPC: "No space left on device",
  ENOTDIR: "Not a directory",
  ENOTEMPTY: "Directory not empty",
  EPERM: "Operation not permitted",
  EROFS: "Read-only file system",
  ETXTBSY: "Text file busy",
};

/** glibc's strerror text for an errno name. */
export function strerror(code: string | undefined): string {
  return (code !== undefined ? STRERROR[code] : undefined) ?? `Unknown error ${code ?? ""}`.trim();
}

/** The errno name of a failed fs call. */
export function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** What `status(path, ec)` found: a type, or the errno that stat(2) gave. */
export type LocalStatus =
  | { readonly kind: "dir" | "file" | "other"; readonly mode: number }
  | { readonly kind: "missing" | "error"; readonly code: string | undefined };

/** stat(2) following symlinks, as libstdc++'s `status(p, ec)` classifies it (ENOENT and ENOTDIR: not found). */
export function localStatus(path: string): LocalStatus {
  try {
    const stat = statSync(path);
    return { kind: stat.isDirectory() ? "dir" : stat.isFile() ? "file" : "other", mode: stat.mode };
  } catch (error) {
    const code = errnoOf(error);
    return { kind: code === "ENOENT" || code === "ENOTDIR" ? "missing" : "error", code };
  }
}

/** `exists(p, ec)`: the error is set only when stat failed for another reason than "not found". */
export function localExists(path: string): { exists: boolean; error: string | null } {
  const status = localStatus(path);
  if (status.kind === "missing") return { exists: false, error: null };
  if (status.kind === "error") return { exists: false, error: strerror(status.code) };
  return { exists: true, error: null };
}

/** `is_directory(p, ec)`: any stat(2) failure, "not found" included, sets the error. */
export function localIsDirectory(path: string): { dir: boolean; error: string | null } {
  const status = localStatus(path);
  if (status.kind === "missing" || status.kind === "error") return { dir: false, error: strerror(status.code) };
  return { dir: status.kind === "dir", error: null };
}
