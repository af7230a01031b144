/**
 * The JSONPath subset of `-o jsonpath=EXPR` (core/jsonpath.ts): each form
 * against the listings' shapes, and bad expressions refused with what is
 * wrong.
 */
import { describe, expect, test } from "bun:test";
import { evaluateJsonPath, fieldValue, parseJsonPath } from "../../lib/core/jsonpath.ts";

const instances = [
  { node: "n1", name: "web", state: "Running", ipv4: ["10.0.0.2", "10.0.0.3"], labels: { tier: "front" } },
  { node: "n2", name: "db", state: "Stopped", ipv4: [], labels: {} },
];
const info = { instances: [{ name: "web", node: "n1", cpus: 2 }], errors: [] };

const run = (expr: string, data: unknown = instances) => evaluateJsonPath(parseJsonPath(expr), data);

describe("jsonpath", () => {
  const cases: [string, unknown, string][] = [
    ["{[*].name}", instances, "web db"],
    ["{$[*].name}", instances, "web db"],
    ["{.[*].name}", instances, "web db"],
    ["[*].name", instances, "web db"],
    ["{[0].ipv4[1]}", instances, "10.0.0.3"],
    ["{[-1].name}", instances, "db"],
    ["{[5].name}", instances, ""],
    ["{[0].labels}", instances, '{"tier":"front"}'],
    ["{[0]['labels']['tier']}", instances, "front"],
    ["{[0].labels.*}", instances, "front"],
    ["{..tier}", instances, "front"],
    ["{.instances[*].cpus}", info, "2"],
    ["{.instances[0].name}@{.instances[0].node}", info, "web@n1"],
    ['{range [*]}{.name}@{.node}{"\\n"}{end}', instances, "web@n1\ndb@n2\n"],
    ['{range .instances[*]}{.name}{"\\t"}{$.errors}{end}', info, "web\t[]"],
    ["{range [*]}{range .ipv4[*]}<{@}>{end}{end}", instances, "<10.0.0.2><10.0.0.3>"],
    ["{range[*]}{.name};{end}", instances, "web;db;"],
    ["names: {[*].name}.", instances, "names: web db."],
    ["{.missing}", instances, ""],
  ];
  for (const [expr, data, want] of cases) {
    test(`${expr} → ${JSON.stringify(want)}`, () => expect(run(expr, data)).toBe(want));
  }

  const bad: [string, RegExp][] = [
    ["", /it is empty/],
    ["{.name", /a \{ is not closed/],
    [".name}", /a \} has no \{/],
    ["{}", /\{\} holds no path/],
    ["{range [*]}{.name}", /a \{range\} has no \{end\}/],
    ["{.name}{end}", /\{end\} has no \{range\}/],
    ["{[?(@.state=='Running')].name}", /filters, slices and unions are not/],
    ["{[0:2]}", /not supported/],
    ["{[0}", /a \[ is not closed/],
    ["{.a b}", /unexpected/],
    ["{.!}", /a key is expected/],
    ['{"abc}', /is not closed/],
    ["x".repeat(5000), /longer than 4096/],
  ];
  for (const [expr, message] of bad) {
    test(`refused: ${JSON.stringify(expr.slice(0, 30))}`, () => {
      expect(() => parseJsonPath(expr)).toThrow(message);
      try {
        parseJsonPath(expr);
      } catch (error) {
        expect((error as { code?: string }).code).toBe("E_USAGE");
      }
    });
  }

  test("a sort field: with or without the leading dot, nested, missing", () => {
    const node = { name: "n1", resources: { cpus: 4 } };
    expect(fieldValue("name", node)).toBe("n1");
    expect(fieldValue(".name", node)).toBe("n1");
    expect(fieldValue("{.resources.cpus}", node)).toBe(4);
    expect(fieldValue(".nope", node)).toBeUndefined();
    expect(() => fieldValue(".a[?x]", node)).toThrow(/not supported/);
  });
});
