/**
 * Small checked readers for untrusted JSON. Every parser of bytes that arrive
 * from a socket or a request is built from these, so a wrong type is reported
 * with the path of the offending field instead of surfacing later as a crash.
 */
import { AppError, isErrorCode, messageOf, type ErrorCode } from "./errors.ts";
import { quoteValue } from "./validate.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Thrown by the readers; carries the dotted path of the bad field. */
export class ParseError extends AppError {
  constructor(
    readonly path: string,
    message: string,
    code: ErrorCode = "E_PROTOCOL",
  ) {
    super(code, `${path}: ${message}`);
  }
}

/** `JSON.parse` that throws {@link ParseError} instead of SyntaxError. */
export function parseJson(text: string, what: string, code: ErrorCode = "E_PROTOCOL"): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new ParseError(what, `not valid JSON (${messageOf(error)})`, code);
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  // A bounded prefix: the value may be megabytes off the wire.
  return typeof value === "string" ? `string ${quoteValue(value)}` : `${typeof value} ${String(value).slice(0, 60)}`;
}

export function object(value: unknown, path: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ParseError(path, `expected an object, got ${describe(value)}`);
  }
  return value as JsonObject;
}

export function array(value: unknown, path: string): Json[] {
  if (!Array.isArray(value)) throw new ParseError(path, `expected an array, got ${describe(value)}`);
  return value as Json[];
}

export function string(value: unknown, path: string): string {
  if (typeof value !== "string") throw new ParseError(path, `expected a string, got ${describe(value)}`);
  return value;
}

export function number(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new ParseError(path, `expected a number, got ${describe(value)}`);
  }
  return value;
}

export function integer(value: unknown, path: string): number {
  const n = number(value, path);
  if (!Number.isSafeInteger(n)) throw new ParseError(path, `expected an integer, got ${n}`);
  return n;
}

export function boolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") throw new ParseError(path, `expected a boolean, got ${describe(value)}`);
  return value;
}

export function nullable<T>(read: (value: unknown, path: string) => T) {
  return (value: unknown, path: string): T | null => (value === null || value === undefined ? null : read(value, path));
}

export function optional<T>(read: (value: unknown, path: string) => T) {
  return (value: unknown, path: string): T | undefined => (value === undefined ? undefined : read(value, path));
}

export function arrayOf<T>(read: (value: unknown, path: string) => T) {
  return (value: unknown, path: string): T[] => array(value, path).map((item, i) => read(item, `${path}[${i}]`));
}

export function oneOf<const T extends readonly string[]>(options: T) {
  return (value: unknown, path: string): T[number] => {
    const s = string(value, path);
    if (!options.includes(s)) throw new ParseError(path, `expected one of ${options.join(", ")}, got ${quoteValue(s)}`);
    return s as T[number];
  };
}

/** A field of an object, read with `read`; `path` names the object. */
export function field<T>(obj: JsonObject, key: string, path: string, read: (value: unknown, path: string) => T): T {
  return read(obj[key], `${path}.${key}`);
}

export function nonNegative(value: unknown, path: string): number {
  const n = number(value, path);
  if (n < 0) throw new ParseError(path, `expected a non-negative number, got ${n}`);
  return n;
}

/** An error code off the wire; one this version does not know reads as E_INTERNAL. */
export function parseErrorCode(value: unknown, path: string): ErrorCode {
  const s = string(value, path);
  return isErrorCode(s) ? s : "E_INTERNAL";
}
