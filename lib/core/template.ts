/**
 * The template language of an environment's cloud-init (issue 17). A
 * template is plain text in which `{{ … }}` holds one of:
 *
 * - `instances.KEY.ipv4`, `instances.KEY.node`: the address, or the node, of
 *   another member of the environment (KEY as the member's key: `server`,
 *   `agent-1`). The address is the one other hosts can reach: its first on
 *   an extra network (`network: bridged`) when it has one, else its first
 *   (`reachableAddress` in lib/master/environment-apply.ts);
 * - `env.NAME`: a value of the client's environment, sent with the request;
 * - `secrets.NAME`: a secret stored with the environment on the master.
 *
 * Whitespace inside the braces is optional (`{{env.X}}`). An expression lies
 * on one line. Anything else between `{{` and `}}` is an error: cloud-init's
 * own Jinja templates cannot be mixed with these.
 *
 * Pure: no I/O. Errors are AppError E_USAGE whose message starts with the
 * 1-based line within the template (`line 3: …`) and whose details carry it.
 */
import { usageError } from "./errors.ts";
import { quoteValue } from "./validate.ts";

/** What an instance reference asks for. */
export const INSTANCE_FIELDS = ["ipv4", "node"] as const;
export type InstanceField = (typeof INSTANCE_FIELDS)[number];

/** One `{{ … }}` of a template. `text` is the expression as written, braces included; `line` is 1-based. */
export type TemplateRef =
  | { kind: "instance"; key: string; field: InstanceField; line: number; text: string }
  | { kind: "env"; name: string; line: number; text: string }
  | { kind: "secret"; name: string; line: number; text: string };

/** An expression's text and where it lies in the template. */
interface Span {
  ref: TemplateRef;
  start: number;
  end: number;
}

const INSTANCE = /^instances\.([A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?)\.([A-Za-z0-9_]+)$/;
const VARIABLE = /^(env|secrets)\.([A-Za-z_][A-Za-z0-9_]*)$/;
const FORMS = "{{ instances.NAME.ipv4 }}, {{ instances.NAME.node }}, {{ env.NAME }} or {{ secrets.NAME }}";

function fail(line: number, message: string): never {
  throw usageError(`line ${line}: ${message}`, { details: { line } });
}

/** The reference one expression makes; `inner` is the text between the braces. */
function parseExpression(inner: string, text: string, line: number): TemplateRef {
  const expression = inner.trim();
  const instance = INSTANCE.exec(expression);
  if (instance) {
    const [, key = "", field = ""] = instance;
    if (!(INSTANCE_FIELDS as readonly string[]).includes(field)) {
      fail(line, `unknown field "${field}" in ${quoteValue(text)}: an instance gives ${INSTANCE_FIELDS.join(" or ")}`);
    }
    return { kind: "instance", key, field: field as InstanceField, line, text };
  }
  const variable = VARIABLE.exec(expression);
  if (variable) {
    const [, scope, name = ""] = variable;
    return scope === "env" ? { kind: "env", name, line, text } : { kind: "secret", name, line, text };
  }
  if (expression === "") return fail(line, `empty expression ${quoteValue(text)}: expected ${FORMS}`);
  return fail(line, `unknown reference ${quoteValue(text)}: expected ${FORMS}`);
}

/** Every expression of a template, in order. @throws AppError E_USAGE */
function scan(template: string): Span[] {
  const spans: Span[] = [];
  let line = 1;
  let at = 0;
  for (;;) {
    const open = template.indexOf("{{", at);
    if (open < 0) return spans;
    line += countNewlines(template, at, open);
    const lineEnd = template.indexOf("\n", open);
    const close = template.indexOf("}}", open + 2);
    if (close < 0 || (lineEnd >= 0 && close > lineEnd)) {
      const rest = template.slice(open, lineEnd < 0 ? undefined : lineEnd);
      fail(line, `${quoteValue(rest)}: "{{" is not closed by "}}" on the same line`);
    }
    const text = template.slice(open, close + 2);
    spans.push({ ref: parseExpression(template.slice(open + 2, close), text, line), start: open, end: close + 2 });
    at = close + 2;
  }
}

function countNewlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf("\n", from); i >= 0 && i < to; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/**
 * The references a template makes, in order of appearance.
 * @throws AppError E_USAGE on an unclosed `{{`, an empty or unknown
 *   expression, or an unknown instance field; the message starts with
 *   `line N: ` and `details.line` is N.
 */
export function templateRefs(template: string): TemplateRef[] {
  return scan(template).map((span) => span.ref);
}

/**
 * Replaces every expression with what `resolve` gives for it. Values are
 * inserted as they are, without quoting or escaping: the caller supplies
 * values that are safe where the template puts them (addresses and node
 * names are; env and secret values are the user's own).
 * @throws AppError E_USAGE as {@link templateRefs}, and whatever `resolve` throws.
 */
export function renderTemplate(template: string, resolve: (ref: TemplateRef) => string): string {
  const parts: string[] = [];
  let at = 0;
  for (const span of scan(template)) {
    parts.push(template.slice(at, span.start), resolve(span.ref));
    at = span.end;
  }
  parts.push(template.slice(at));
  return parts.join("");
}
