/**
 * Value rules of Multipass 1.16: size strings (src/utils/memory_size.cpp), the
 * instance-name rule (utils::valid_hostname), CPU counts, timeouts, and the
 * daemon's random "adjective-animal" names.
 */

const KIB = 1024;
const MIB = KIB * 1024;
const GIB = MIB * 1024;

/** 1.16 daemon minimums (main raised them to 512M / 1G). */
export const MIN_MEMORY = 128 * MIB;
export const MIN_DISK = 512 * MIB;
export const DEFAULT_MEMORY = GIB;
export const DEFAULT_DISK = 5 * GIB;

const SIZE_PATTERN = /^\s*(\d+)(?:(?:\.(\d+))?([kmg])(?:i?b)?|(b))?\s*$/i;

/** Bytes for a valid size string, or null when Multipass would reject its syntax. */
export function parseSize(text: string): number | null {
  const match = SIZE_PATTERN.exec(text);
  if (match === null) return null;
  const [, whole = "0", fraction, unit] = match;
  const factor = unit === undefined ? 1 : { k: KIB, m: MIB, g: GIB }[unit.toLowerCase() as "k" | "m" | "g"];
  const fractionBytes = fraction === undefined ? 0 : Math.floor(Number(`0.${fraction}`) * factor);
  return Number(whole) * factor + fractionBytes;
}

/** The text of the exception the 1.16 client lets escape for a malformed size. */
export function invalidSizeMessage(text: string): string {
  return (
    `${text} is not a valid memory size - need a non-negative integer (in base 10) or a decimal ` +
    "followed by K, M, or G (e.g. 1234B, 42MiB, 0.5G)"
  );
}

/**
 * MemorySize::human_readable(): one decimal, binary units. Upstream divides in
 * single-precision float, so the quotient goes through Math.fround.
 */
export function humanSize(bytes: number): string {
  for (const [unit, suffix] of [
    [GIB, "GiB"],
    [MIB, "MiB"],
    [KIB, "KiB"],
  ] as const) {
    const quotient = Math.fround(bytes / unit);
    if (quotient >= 1) return `${oneDecimal(quotient)}${suffix}`;
  }
  return `${bytes}B`;
}

/**
 * `{:.1f}` as fmt prints it: exact decimal value, ties to even. (toFixed would
 * round 274.625 up; fmt gives 274.6.)
 */
function oneDecimal(value: number): string {
  const exact = value.toFixed(40);
  const point = exact.indexOf(".");
  const kept = exact.slice(0, point + 2);
  const rest = exact.slice(point + 2);
  const lastDigit = Number(kept.charAt(kept.length - 1));
  const half = rest.replace(/0+$/, "");
  const roundUp = half > "5" || (half === "5" && lastDigit % 2 === 1);
  if (!roundUp) return kept;
  const tenths = Math.round(Number(kept) * 10) + 1;
  return `${Math.floor(tenths / 10)}.${tenths % 10}`;
}

const NAME_PATTERN = /^([a-zA-Z]|[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9])$/;

/** utils::valid_hostname: letters, digits, hyphens; starts with a letter; ends alphanumeric. */
export function isValidInstanceName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** QString::toInt as the client uses it for --cpus: base 10, surrounding blanks allowed. */
export function parseQtInt(text: string): number | null {
  if (!/^\s*[+-]?\d+\s*$/.test(text)) return null;
  const value = Number(text.trim());
  return Number.isSafeInteger(value) && Math.abs(value) <= 2147483647 ? value : null;
}

/** `--timeout` as cmd::parse_timeout accepts it: a positive integer number of seconds. */
export function parseTimeout(text: string): number | null {
  const value = parseQtInt(text);
  return value !== null && value > 0 ? value : null;
}

const ADJECTIVES = [
  "relishing", "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "kind", "lively",
  "merry", "nimble", "proud", "quick", "rosy", "sunny", "tidy", "upbeat", "vivid", "witty",
  "zesty", "amiable", "bubbly", "cheery", "dapper", "elated", "festive", "glowing", "hearty", "plucky",
];
const ANIMALS = [
  "lionfish", "aardvark", "badger", "caribou", "dingo", "egret", "ferret", "gecko", "heron", "ibex",
  "jackal", "koala", "lemur", "marmot", "narwhal", "ocelot", "puffin", "quail", "raccoon", "salmon",
  "tapir", "urchin", "vulture", "walrus", "yak", "zebu", "bison", "cicada", "dugong", "kestrel",
];

function pick(list: readonly string[]): string {
  return list[Math.floor(Math.random() * list.length)] ?? "x";
}

/** A random "adjective-animal" name not in `taken`. */
export function randomInstanceName(taken: ReadonlySet<string>): string {
  for (;;) {
    const name = `${pick(ADJECTIVES)}-${pick(ANIMALS)}`;
    if (!taken.has(name)) return name;
  }
}

/** `[2026-08-21T10:15:30.123]`: ISO local time with milliseconds and no zone. */
export function logTimestamp(date: Date = new Date()): string {
  const two = (n: number): string => String(n).padStart(2, "0");
  const day = `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}`;
  const time = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  return `[${day}T${time}.${String(date.getMilliseconds()).padStart(3, "0")}]`;
}
