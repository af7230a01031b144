/**
 * Pure parsers of `multipass list|info|version --format json` (CONTRACT.md §5),
 * of `list --snapshots` (§4.1) and of `snapshot`'s `Snapshot taken:` line,
 * into the normalised shapes of `protocol/instances.ts`. Both the 1.16 layout (sorted
 * keys, `"N/A"` in ipv4) and the main layout (insertion order, `zone`) are
 * accepted; key order is never relied on. Every field that is used is
 * checked, so a malformed document yields a `bad-output` error that says
 * which field is wrong, never a crash or a half-typed value.
 */
import { INSTANCE_STATES, type InstanceInfo, type InstanceState, type InstanceSummary, type Usage } from "../protocol/instances.ts";
import type { SnapshotSummary } from "../protocol/snapshots.ts";
import { messageOf } from "../core/errors.ts";
import { MultipassError, type MultipassVersion } from "./driver.ts";

/** Internal: a field-level complaint, wrapped into a MultipassError at the top. */
class Malformed extends Error {}

type JsonObject = Record<string, unknown>;

const NO_IP = "N/A";
const NO_RELEASE = "Not Available";

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "number") return `the number ${value}`;
  if (typeof value !== "string") return `a ${typeof value}`;
  return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
}

function child(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** A non-array, non-null object from JSON.parse is a plain string-keyed record. */
function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asObject(value: unknown, path: string): JsonObject {
  if (!isObject(value)) throw new Malformed(`${path} is ${kindOf(value)}, expected an object`);
  return value;
}

function asArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new Malformed(`${path} is ${kindOf(value)}, expected an array`);
  return value;
}

function asString(value: unknown, path: string): string {
  if (typeof value !== "string") throw new Malformed(`${path} is ${kindOf(value)}, expected a string`);
  return value;
}

function required(object: JsonObject, key: string, path: string): unknown {
  if (!Object.hasOwn(object, key)) throw new Malformed(`${child(path, key)} is missing`);
  return object[key];
}

function optional(object: JsonObject, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function nonEmptyString(value: unknown, path: string): string {
  const text = asString(value, path);
  if (text === "") throw new Malformed(`${path} is empty`);
  return text;
}

/** `""` (and the given placeholders) → null. */
function optionalText(value: unknown, path: string, ...placeholders: string[]): string | null {
  const text = asString(value, path);
  return text === "" || placeholders.includes(text) ? null : text;
}

/** A count or byte figure: a decimal string (`"2"`), an integer, or `""`/absent for none. */
function count(value: unknown, path: string): number | null {
  if (value === undefined || value === "") return null;
  const number = typeof value === "string" && /^\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof number !== "number" || !Number.isSafeInteger(number) || number < 0) {
    throw new Malformed(`${path} is ${kindOf(value)}, expected a non-negative integer`);
  }
  return number;
}

function state(value: unknown, path: string): InstanceState {
  const text = asString(value, path);
  return INSTANCE_STATES.find((known) => known === text) ?? "Unknown";
}

function ipv4(value: unknown, path: string): string[] {
  return asArray(value, path)
    .map((ip, index) => asString(ip, child(path, index)))
    .filter((ip) => ip !== "" && ip !== NO_IP);
}

function usage(value: unknown, path: string): Usage {
  const object = asObject(value, path);
  return {
    used: count(optional(object, "used"), child(path, "used")),
    total: count(optional(object, "total"), child(path, "total")),
  };
}

function sum(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : a + b;
}

/** Multipass reports one disk, `sda1`; should it ever report more, they add up. */
function disks(value: unknown, path: string): Usage {
  let total: Usage = { used: null, total: null };
  for (const [name, disk] of Object.entries(asObject(value, path))) {
    const one = usage(disk, child(path, name));
    total = { used: sum(total.used, one.used), total: sum(total.total, one.total) };
  }
  return total;
}

function load(value: unknown, path: string): [number, number, number] | null {
  const values = asArray(value, path);
  if (values.length === 0) return null;
  if (values.length !== 3) throw new Malformed(`${path} has ${values.length} values, expected 3 or none`);
  const figure = (index: number): number => {
    const value = values[index];
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new Malformed(`${child(path, index)} is ${kindOf(value)}, expected a non-negative number`);
    }
    return value;
  };
  return [figure(0), figure(1), figure(2)];
}

function mounts(value: unknown, path: string): InstanceInfo["mounts"] {
  return Object.entries(asObject(value, path)).map(([target, mount]) => {
    const where = child(path, target);
    const source = nonEmptyString(required(asObject(mount, where), "source_path", where), child(where, "source_path"));
    return { target, source };
  });
}

function summary(value: unknown, path: string): InstanceSummary {
  const item = asObject(value, path);
  return {
    name: nonEmptyString(required(item, "name", path), child(path, "name")),
    state: state(required(item, "state", path), child(path, "state")),
    ipv4: ipv4(required(item, "ipv4", path), child(path, "ipv4")),
    release: optionalText(required(item, "release", path), child(path, "release"), NO_RELEASE),
  };
}

function info(name: string, value: unknown, path: string): InstanceInfo {
  const item = asObject(value, path);
  const field = (key: string): [unknown, string] => [required(item, key, path), child(path, key)];
  return {
    name,
    state: state(...field("state")),
    cpus: count(...field("cpu_count")),
    load: load(...field("load")),
    memory: usage(...field("memory")),
    disk: disks(...field("disks")),
    release: optionalText(...field("release")),
    imageRelease: optionalText(...field("image_release"), NO_RELEASE),
    imageHash: optionalText(...field("image_hash")),
    ipv4: ipv4(...field("ipv4")),
    mounts: mounts(...field("mounts")),
    // Absent on backends without snapshots (CONTRACT.md §5.2).
    snapshots: count(optional(item, "snapshot_count"), child(path, "snapshot_count")),
  };
}

function parseDocument<T>(command: string, stdout: string, argv: string[], read: (doc: JsonObject) => T): T {
  const fail = (what: string, cause?: unknown): MultipassError =>
    new MultipassError({ kind: "bad-output", message: `multipass ${command} printed unexpected output: ${what}`, argv, exitCode: 0, stderr: "", cause });
  if (stdout.trim() === "") throw fail("nothing on stdout");
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch (error) {
    const preview = stdout.length > 80 ? `${stdout.slice(0, 80)}…` : stdout;
    throw fail(`not JSON (${messageOf(error)}): ${JSON.stringify(preview)}`, error);
  }
  try {
    return read(asObject(doc, "$"));
  } catch (error) {
    if (error instanceof Malformed) throw fail(error.message, error);
    throw error;
  }
}

/**
 * Parses `multipass list --format json`, keeping multipass's order.
 * @param argv the command that printed it, carried by the error.
 * @throws MultipassError kind "bad-output" when the document is not the §5.1 shape.
 */
export function parseList(stdout: string, argv: string[] = []): InstanceSummary[] {
  return parseDocument("list", stdout, argv, (doc) =>
    asArray(required(doc, "list", "$"), "$.list").map((item, index) => summary(item, `$.list[${index}]`)),
  );
}

/**
 * Parses `multipass info --format json`, keeping multipass's order.
 * @param argv the command that printed it, carried by the error.
 * @throws MultipassError kind "bad-output" when the document is not the §5.2 shape.
 */
export function parseInfo(stdout: string, argv: string[] = []): InstanceInfo[] {
  return parseDocument("info", stdout, argv, (doc) => {
    const errors = optional(doc, "errors");
    if (errors !== undefined) asArray(errors, "$.errors");
    return Object.entries(asObject(required(doc, "info", "$"), "$.info")).map(([name, item]) => {
      const path = child("$.info", name);
      if (name === "") throw new Malformed(`${path} has an empty instance name`);
      return info(name, item, path);
    });
  });
}

/**
 * Parses `multipass version --format json`; `daemon` is null when multipassd is absent.
 * @param argv the command that printed it, carried by the error.
 * @throws MultipassError kind "bad-output" when the document is not the §5.4 shape.
 */
export function parseVersion(stdout: string, argv: string[] = []): MultipassVersion {
  return parseDocument("version", stdout, argv, (doc) => {
    const daemon = optional(doc, "multipassd");
    return {
      client: nonEmptyString(required(doc, "multipass", "$"), "$.multipass"),
      daemon: daemon === undefined ? null : optionalText(daemon, "$.multipassd"),
    };
  });
}

/**
 * Parses `multipass list --snapshots --format json` (`{"errors": [], "info":
 * {INSTANCE: {SNAPSHOT: {"parent", "comment"}}}}`, either layout), instance
 * by instance in multipass's order; an empty parent becomes null.
 * @throws MultipassError kind "bad-output" when the document is not that shape.
 */
export function parseSnapshotList(stdout: string, argv: string[] = []): SnapshotSummary[] {
  return parseDocument("list", stdout, argv, (doc) => {
    const errors = optional(doc, "errors");
    if (errors !== undefined) asArray(errors, "$.errors");
    return Object.entries(asObject(required(doc, "info", "$"), "$.info")).flatMap(([instance, snapshots]) => {
      const path = child("$.info", instance);
      if (instance === "") throw new Malformed(`${path} has an empty instance name`);
      return Object.entries(asObject(snapshots, path)).map(([name, item]) => {
        const at = child(path, name);
        if (name === "") throw new Malformed(`${at} has an empty snapshot name`);
        const o = asObject(item, at);
        const parent = asString(required(o, "parent", at), child(at, "parent"));
        return { instance, name, parent: parent === "" ? null : parent, comment: asString(required(o, "comment", at), child(at, "comment")) };
      });
    });
  });
}

/**
 * The snapshot's name from `multipass snapshot`'s stdout (`Snapshot taken:
 * INSTANCE.SNAPSHOT`, after the spinner's noise), or null when the line is not there.
 */
export function parseSnapshotTaken(stdout: string, instance: string): string | null {
  for (const match of stdout.matchAll(/Snapshot taken: ([A-Za-z0-9-]+)\.([A-Za-z0-9-]+)/g)) {
    if (match[1] === instance && match[2] !== undefined) return match[2];
  }
  return null;
}
