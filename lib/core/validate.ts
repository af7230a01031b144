/**
 * Pure validation of user input, run by the API before anything reaches
 * `multipass`. Every function either returns the checked (and, where useful,
 * canonicalised) value or throws `AppError("E_USAGE")` with a message that
 * quotes the offending value. Rules follow CONTRACT.md §2.1, §3.1 and §3.2.
 */
import { usageError } from "./errors.ts";

/** CONTRACT.md §2.1, `mp::utils::valid_hostname`. */
const INSTANCE_NAME = /^(?:[a-zA-Z]|[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const NODE_NAME = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9])$/;
/**
 * Multipass itself enforces no length, but the name becomes the guest's
 * hostname, and a DNS label longer than 63 octets breaks name resolution
 * (RFC 1035 §2.3.4); node names are host names too.
 */
const MAX_NAME_LENGTH = 63;

/** `memory_size.cpp`: integer, then either a decimal part with a K/M/G unit (optional B or iB), or a bare B. */
const SIZE = /^\s*(\d+)(?:(?:\.(\d+))?([KMG])(?:i?B)?|B)?\s*$/i;
const UNIT: Record<string, bigint> = { K: 1024n, M: 1024n ** 2n, G: 1024n ** 3n };
const MAX_SIZE_TEXT = 64;

/** The smallest memory and disk, in bytes, a Multipass daemon launches an instance with. */
export interface SizeMinimums {
  memory: number;
  disk: number;
}

/** 1.14–1.16 (CONTRACT.md §3.1): the lowest minimums, which every request must meet wherever it goes. */
export const MINIMUMS_1_16: SizeMinimums = { memory: 128 * 1024 ** 2, disk: 512 * 1024 ** 2 };
/** 1.17 and newer (main, CONTRACT.md §3.1 [main]). */
export const MINIMUMS_1_17: SizeMinimums = { memory: 512 * 1024 ** 2, disk: 1024 ** 3 };
/** The lowest minimums, which the API checks every launch against. */
export const MIN_MEMORY_BYTES = MINIMUMS_1_16.memory;
export const MIN_DISK_BYTES = MINIMUMS_1_16.disk;

/**
 * The minimums of a Multipass version as `multipass version` prints it
 * (`1.16.3`, `1.16.3+mac`, `1.17.0-dev.12+g3c2d…`): 1.17 and newer, dev
 * builds of 1.17 included, take {@link MINIMUMS_1_17}, older ones
 * {@link MINIMUMS_1_16}. An unknown or unreadable version gets the lowest:
 * the daemon still has the last word.
 */
export function minimumsFor(version: string | null): SizeMinimums {
  const match = version === null ? null : /^(\d+)\.(\d+)(?:\D|$)/.exec(version.trim());
  if (!match) return MINIMUMS_1_16;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > 1 || (major === 1 && minor >= 17) ? MINIMUMS_1_17 : MINIMUMS_1_16;
}
export const MAX_CPUS = 1024;
/** A day: long enough for any image download, short enough to catch a unit mistake (ms for s). */
export const MAX_TIMEOUT_SECONDS = 86_400;
export const MAX_IMAGE_LENGTH = 2048;

const IMAGE_WORD = "[a-z0-9][a-z0-9.-]*";
const IMAGE_ALIAS = new RegExp(`^(?:${IMAGE_WORD}:)?${IMAGE_WORD}$`);
const IMAGE_URL = /^(?:https?|file):\/\//;
const WHITESPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f-\u009f]/;

/** How many characters of a value an error message quotes: input of any length must not make an answer of that length. */
export const MAX_QUOTED_LENGTH = 64;

/**
 * A value as messages quote it: `"1foo"`, at most {@link MAX_QUOTED_LENGTH}
 * characters of a string followed by `…` when there were more, or a type
 * name for non-strings.
 */
export function quoteValue(value: unknown): string {
  if (typeof value === "string") {
    return value.length > MAX_QUOTED_LENGTH ? `${JSON.stringify(value.slice(0, MAX_QUOTED_LENGTH))}…` : JSON.stringify(value);
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return value === null ? "null" : typeof value;
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== "string") throw usageError(`Invalid ${what} ${quoteValue(value)}: expected a string`);
  return value;
}

/**
 * Checks a Multipass instance name.
 * @returns the name, unchanged.
 * @throws AppError E_USAGE when it breaks the rule of CONTRACT.md §2.1 or is longer than 63 characters.
 */
export function validateInstanceName(name: unknown): string {
  const text = requireString(name, "instance name");
  if (!INSTANCE_NAME.test(text)) {
    throw usageError(
      `Invalid instance name ${quoteValue(text)}: names must consist of letters, numbers, or hyphens, ` +
        "must start with a letter, and must end with an alphanumeric character",
    );
  }
  if (text.length > MAX_NAME_LENGTH) {
    throw usageError(`Invalid instance name ${quoteValue(text)}: names must be at most ${MAX_NAME_LENGTH} characters long`);
  }
  return text;
}

/**
 * Checks a node (Multipass host) name: letters, digits, `-`, `_` and `.`,
 * starting and ending with a letter or digit, at most 63 characters.
 * @throws AppError E_USAGE
 */
export function validateNodeName(name: unknown): string {
  const text = requireString(name, "node name");
  if (!NODE_NAME.test(text)) {
    throw usageError(
      `Invalid node name ${quoteValue(text)}: names must consist of letters, numbers, hyphens, underscores, or dots, ` +
        "and must start and end with a letter or number",
    );
  }
  if (text.length > MAX_NAME_LENGTH) {
    throw usageError(`Invalid node name ${quoteValue(text)}: names must be at most ${MAX_NAME_LENGTH} characters long`);
  }
  return text;
}

/** An instance, optionally pinned to a node: `web` or `web@node1`. */
export interface InstanceRef {
  name: string;
  node?: string;
}

/**
 * Splits `"web"` or `"web@node1"` and validates both parts.
 * @throws AppError E_USAGE on more than one `@`, an empty part, or an invalid name.
 */
export function parseInstanceRef(text: unknown): InstanceRef {
  const ref = requireString(text, "instance reference");
  const parts = ref.split("@");
  if (parts.length > 2) {
    throw usageError(`Invalid instance reference ${quoteValue(ref)}: use NAME or NAME@NODE, with at most one "@"`);
  }
  const [name = "", node] = parts;
  if (node === undefined) return { name: validateInstanceName(name) };
  if (name === "" || node === "") {
    throw usageError(`Invalid instance reference ${quoteValue(ref)}: both NAME and NODE are needed around "@"`);
  }
  return { name: validateInstanceName(name), node: validateNodeName(node) };
}

/**
 * Parses a Multipass size string exactly as `memory_size.cpp` does: binary
 * units, a fraction only before a K/M/G unit, truncated to whole bytes.
 * @returns the size in bytes.
 * @throws AppError E_USAGE on a malformed size or one beyond 2^53 bytes.
 */
export function parseSize(text: unknown): number {
  return sizeInBytes(text, "size");
}

function sizeInBytes(text: unknown, what: string): number {
  const raw = requireString(text, what);
  const match = raw.length <= MAX_SIZE_TEXT ? SIZE.exec(raw) : null;
  if (!match) {
    throw usageError(
      `Invalid ${what} ${quoteValue(raw)}: need a non-negative integer (in base 10) or a decimal followed by K, M, or G ` +
        "(e.g. 1234B, 42MiB, 0.5G)",
    );
  }
  const [, whole = "0", fraction = "", unit] = match;
  const factor = unit === undefined ? 1n : (UNIT[unit.toUpperCase()] ?? 1n);
  let bytes = BigInt(whole) * factor;
  if (fraction !== "") bytes += (BigInt(fraction) * factor) / 10n ** BigInt(fraction.length);
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw usageError(`Invalid ${what} ${quoteValue(raw)}: too large`);
  return Number(bytes);
}

/** The shortest exact Multipass spelling of a byte count: `1G`, `1536M`, `3215`. */
export function formatSize(bytes: number): string {
  for (const [suffix, factor] of [["G", 1024 ** 3], ["M", 1024 ** 2], ["K", 1024]] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${suffix}`;
  }
  return String(bytes);
}

/**
 * Validates launch sizes against the minimums of a Multipass version: by
 * default the lowest (1.16: memory ≥ 128M, disk ≥ 512M), which is what the
 * API checks before it knows the node; a worker passes its own version.
 * @returns canonical size strings (see {@link formatSize}) for the sizes given.
 * @throws AppError E_USAGE on a malformed size or one below its minimum; the
 *   message names the minimum, and the version when one was given.
 */
export function validateLaunchSizes(
  sizes: { memory?: unknown; disk?: unknown },
  version: string | null = null,
): { memory?: string; disk?: string } {
  const result: { memory?: string; disk?: string } = {};
  const minimums = minimumsFor(version);
  const limits = [
    ["memory", sizes.memory, minimums.memory],
    ["disk", sizes.disk, minimums.disk],
  ] as const;
  for (const [what, value, minimum] of limits) {
    if (value === undefined) continue;
    const bytes = sizeInBytes(value, `${what} size`);
    if (bytes < minimum) {
      const on = version === null ? "" : ` on Multipass ${version.slice(0, 40)}`;
      throw usageError(`Invalid ${what} size ${quoteValue(value)}: the minimum is ${formatSize(minimum)}${on}`);
    }
    result[what] = formatSize(bytes);
  }
  return result;
}

/** A positive integer from a number or a plain decimal string, up to `max`. */
function positiveInteger(value: unknown, max: number, what: string): number {
  let number: number | undefined;
  if (typeof value === "number") number = value;
  else if (typeof value === "string" && /^\d{1,15}$/.test(value)) number = Number(value);
  if (number === undefined || !Number.isSafeInteger(number) || number < 1) {
    throw usageError(`Invalid ${what} ${quoteValue(value)}: need a positive integer`);
  }
  if (number > max) throw usageError(`Invalid ${what} ${quoteValue(value)}: the maximum is ${max}`);
  return number;
}

/**
 * Checks a CPU count: a positive base-10 integer, as a number or a string such as `"2"`.
 * @throws AppError E_USAGE on anything else, or above {@link MAX_CPUS}.
 */
export function validateCpus(value: unknown): number {
  return positiveInteger(value, MAX_CPUS, "CPU count");
}

/**
 * Checks a timeout in whole seconds, as a number or a plain decimal string.
 * @throws AppError E_USAGE unless 1 ≤ value ≤ {@link MAX_TIMEOUT_SECONDS}.
 */
export function validateTimeoutSeconds(value: unknown): number {
  return positiveInteger(value, MAX_TIMEOUT_SECONDS, "timeout");
}

/**
 * Checks an image: an alias or release with at most one `remote:` prefix
 * (`24.04`, `noble`, `lts`, `daily:25.10`), or an `http://`, `https://` or
 * `file://` URL.
 * @throws AppError E_USAGE on anything else, whitespace or control characters, or more than 2048 characters.
 */
export function validateImage(text: unknown): string {
  const image = requireString(text, "image");
  if (image.length > MAX_IMAGE_LENGTH) {
    throw usageError(`Invalid image ${quoteValue(image)}: at most ${MAX_IMAGE_LENGTH} characters`);
  }
  if (WHITESPACE_OR_CONTROL.test(image)) {
    throw usageError(`Invalid image ${quoteValue(image)}: must not contain whitespace or control characters`);
  }
  if (IMAGE_URL.test(image)) {
    if (!URL.canParse(image) || image.length <= image.indexOf("://") + 3) {
      throw usageError(`Invalid image ${quoteValue(image)}: not a valid URL`);
    }
    return image;
  }
  if (!IMAGE_ALIAS.test(image)) {
    throw usageError(
      `Invalid image ${quoteValue(image)}: need a release or alias such as "24.04", "noble" or "daily:25.10" ` +
        "(lowercase letters, digits, dots and hyphens, at most one remote prefix), or an http://, https:// or file:// URL",
    );
  }
  return image;
}

/** Longer than any `name=…,mode=manual,mac=…` a host needs; bounds what reaches argv. */
export const MAX_NETWORK_SPEC_LENGTH = 256;
/** `mpu::valid_mac_address`: six colon-separated hex pairs. */
const MAC_ADDRESS = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Multipass's own complaint about a spec (`net_digest` in `launch.cpp`), or null when it passes. */
function networkSpecProblem(spec: string): string | null {
  const fields = spec.split(",").filter((part) => part !== "");
  let name = "";
  for (const field of fields) {
    const pair = field.split("=").filter((part) => part !== "");
    const [key = "", value = ""] = pair;
    if (pair.length === 2) {
      const lower = key.toLowerCase();
      if (lower === "name") name = value;
      else if (lower === "mode") {
        if (!["auto", "manual"].includes(value.toLowerCase())) return `Bad network mode '${value}', need 'auto' or 'manual'`;
      } else if (lower === "mac") {
        if (!MAC_ADDRESS.test(value)) return `Invalid MAC address: ${value}`;
      } else return `Bad network field: ${lower}`;
    } else if (pair.length === 1 && fields.length === 1) {
      // The `<name>` shortcut: one field with no usable `=` is the name (so `name=` names "name", as in Multipass).
      name = key;
    } else {
      return `Bad network field definition: ${field}`;
    }
  }
  return name === "" ? "Bad network definition, need at least a 'name' field" : null;
}

/**
 * Checks a `launch --network` spec with the client-side checks of Multipass
 * (CONTRACT.md §4.3): comma-separated `name=`, `mode=auto|manual` and `mac=`
 * fields, or the `<name>` shortcut (`bridged`, `eth1`). Whether the network
 * exists is the daemon's call.
 * @returns the spec, unchanged.
 * @throws AppError E_USAGE quoting the spec and Multipass's message (`Bad network
 *   mode 'X', need 'auto' or 'manual'`, `Invalid MAC address: X`, `Bad network
 *   field: X`, `Bad network definition, need at least a 'name' field`), or on
 *   control characters or more than {@link MAX_NETWORK_SPEC_LENGTH} characters.
 */
export function validateNetworkSpec(spec: unknown): string {
  const text = requireString(spec, "network spec");
  if (text.length > MAX_NETWORK_SPEC_LENGTH) {
    throw usageError(`Invalid network spec ${quoteValue(text)}: at most ${MAX_NETWORK_SPEC_LENGTH} characters`);
  }
  if (CONTROL.test(text)) throw usageError(`Invalid network spec ${quoteValue(text)}: must not contain control characters`);
  const problem = networkSpecProblem(text);
  if (problem !== null) throw usageError(`Invalid network spec ${quoteValue(text)}: ${problem.slice(0, 2 * MAX_QUOTED_LENGTH)}`);
  return text;
}
