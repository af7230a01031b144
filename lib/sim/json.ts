/**
 * Byte-exact JSON text as printed by `multipass … --format json`, written after
 * the layout of Multipass's own JSON formatters and checked against the
 * fixtures in tests/fixtures.
 *
 * Layout shared by both upstream serialisers: 4-space indentation, `"key": value`,
 * every object or array (empty ones too) opens with its bracket and a newline and
 * closes on its own line at the parent's indentation, one trailing newline.
 * Integers print as digits; other numbers in shortest round-trip form (JS and
 * Python agree on that for the values Multipass prints). Only `"`, backslash and
 * control characters are escaped.
 */

/** A JSON value as the simulated client builds it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * `qt` = released 1.14–1.16 (object keys sorted by UTF-16 code unit, which is
 * JavaScript's default string order); `boost` = main (insertion order).
 */
export type JsonStyle = "qt" | "boost";

const INDENT = "    ";

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

function formatString(text: string): string {
  let out = '"';
  for (const ch of text) {
    const short = SHORT_ESCAPES[ch];
    if (short !== undefined) {
      out += short;
    } else if (ch.charCodeAt(0) < 0x20) {
      out += "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0");
    } else {
      out += ch;
    }
  }
  return out + '"';
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "null";
  if (Number.isSafeInteger(value)) return value.toFixed(0);
  return String(value);
}

function render(value: JsonValue, level: number, sortKeys: boolean): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "string") return formatString(value);
  const pad = INDENT.repeat(level);
  const inner = INDENT.repeat(level + 1);
  if (Array.isArray(value)) {
    return "[\n" + joinLines(value.map((item) => inner + render(item, level + 1, sortKeys))) + pad + "]";
  }
  const keys = Object.keys(value);
  if (sortKeys) keys.sort();
  const lines = keys.map((key) => {
    const child = value[key] as JsonValue;
    return inner + formatString(key) + ": " + render(child, level + 1, sortKeys);
  });
  return "{\n" + joinLines(lines) + pad + "}";
}

function joinLines(lines: string[]): string {
  return lines.map((line, i) => line + (i + 1 < lines.length ? ",\n" : "\n")).join("");
}

/** The exact stdout text of `multipass … --format json` for `value`, trailing newline included. */
export function formatJson(value: JsonValue, style: JsonStyle = "qt"): string {
  return render(value, 0, style === "qt") + "\n";
}
