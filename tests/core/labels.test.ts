import { describe, expect, test } from "bun:test";
import {
  applyLabelChange,
  formatSelector,
  matchesSelector,
  MAX_LABELS,
  parseLabelChange,
  parseSelector,
  validateLabelKey,
  validateLabelValue,
} from "../../lib/core/labels.ts";
import { AppError } from "../../lib/core/errors.ts";

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe("E_USAGE");
    return (error as AppError).message;
  }
  throw new Error("expected an E_USAGE error");
}

describe("label keys and values (Kubernetes grammar)", () => {
  test.each(["role", "a", "app.kubernetes.io/name", "example.com/tier", "A_b-c.9", "x".repeat(63)])("key %p is accepted", (key) => {
    expect(validateLabelKey(key)).toBe(key);
  });

  test.each([
    ["", "a name is 1 to 63"],
    ["-role", "starting and ending"],
    ["role-", "starting and ending"],
    ["x".repeat(64), "1 to 63"],
    ["Example.com/name", "DNS subdomain"],
    ["/name", "DNS subdomain"],
    ["a/b/c", "a name is"],
    ["ro le", "a name is"],
    [`${"a".repeat(254)}/n`, "DNS subdomain"],
  ])("key %p is refused (%s)", (key, why) => {
    expect(usage(() => validateLabelKey(key))).toContain(why);
  });

  test("values: empty or the name alphabet, at most 63", () => {
    expect(validateLabelValue("")).toBe("");
    expect(validateLabelValue("v1.2_x-y")).toBe("v1.2_x-y");
    expect(usage(() => validateLabelValue("a b", "k"))).toContain('"a b" of label "k"');
    expect(usage(() => validateLabelValue("x".repeat(64), "k"))).toContain("up to 63");
    expect(usage(() => validateLabelValue("ok/not"))).toContain("Invalid value");
  });

  test("a long offending value is quoted bounded", () => {
    const message = usage(() => validateLabelKey("!".repeat(10_000)));
    expect(message.length).toBeLessThan(400);
  });
});

describe("label changes", () => {
  test("key=value sets, key- removes, key= sets an empty value", () => {
    expect(parseLabelChange(["role=web", "env-", "tier="])).toEqual({ set: { role: "web", tier: "" }, remove: ["env"] });
  });

  test("applied in one step, removal of an absent key is a no-op", () => {
    const change = parseLabelChange(["role=db", "env-", "gone-"]);
    expect(applyLabelChange({ role: "web", env: "prod", keep: "1" }, change)).toEqual({ role: "db", keep: "1" });
  });

  test.each([
    [[], "No labels given"],
    [["role"], "expected key=value"],
    [["role=web", "role-"], "named twice"],
    [["=web"], "Invalid label key"],
    [["role=bad value"], "Invalid value"],
  ])("%p is refused", (words, why) => {
    expect(usage(() => parseLabelChange(words))).toContain(why);
  });

  test("at most MAX_LABELS labels", () => {
    const many = Object.fromEntries(Array.from({ length: MAX_LABELS }, (_, i) => [`k${i}`, "v"]));
    expect(usage(() => applyLabelChange(many, parseLabelChange(["one-more=v"])))).toContain("Too many labels");
  });
});

describe("selectors", () => {
  const web = { role: "web", env: "staging", tier: "a", legacy: "", replicas: "3" };
  const db = { role: "db", env: "prod" };
  const bare = {};

  test.each([
    ["", [true, true, true]],
    ["role=web", [true, false, false]],
    ["role==web", [true, false, false]],
    ["role!=web", [false, true, true]],
    ["env!=prod", [true, false, true]],
    ["tier in (a,b)", [true, false, false]],
    ["tier notin (a,b)", [false, true, true]],
    ["role", [true, true, false]],
    ["!legacy", [false, true, true]],
    ["legacy", [true, false, false]],
    ["legacy=", [true, false, false]],
    ["replicas>2", [true, false, false]],
    ["replicas<3", [false, false, false]],
    ["role=web,env!=prod,tier in (a,b),!missing", [true, false, false]],
    [" role = web , env in ( staging , prod ) ", [true, false, false]],
    ["example.com/owner", [false, false, false]],
  ])("%p selects %p of [web, db, bare]", (text, expected) => {
    const selector = parseSelector(text);
    expect([web, db, bare].map((labels) => matchesSelector(selector, labels))).toEqual(expected);
  });

  test.each([
    ["role=", "role="],
    ["a=b,c!=d", "a=b,c!=d"],
    ["t in (x, y),!z,k", "t in (x,y),!z,k"],
    ["n>5,m<-2", "n>5,m<-2"],
  ])("%p formats as %p and reads back the same", (text, formatted) => {
    const selector = parseSelector(text);
    expect(formatSelector(selector)).toBe(formatted);
    expect(parseSelector(formatted)).toEqual(selector);
  });

  test.each([
    ["role=web,", "expected a label key at the end"],
    [",role", "expected a label key before \",\""],
    ["role web", "expected an operator after \"role\""],
    ["role in a,b", "expected \"(\""],
    ["role in (a,b", "expected \",\" or \")\""],
    ["role in ()", "cannot be empty"],
    ["role=a=b", "expected \",\" before \"=\""],
    ["n>x", "is not an integer"],
    ["!", "a label key after"],
    ["role=bad!value", "expected \",\" before \"!\""],
    ["bad key=x", "expected an operator"],
    ["ro\u001b[31mle", "control character"],
  ])("%p is refused: %s", (text, why) => {
    expect(usage(() => parseSelector(text))).toContain(why);
  });

  test("bounded: very long or very many requirements are refused", () => {
    expect(usage(() => parseSelector("a".repeat(5000)))).toContain("too long");
    expect(usage(() => parseSelector(Array.from({ length: 65 }, (_, i) => `k${i}`).join(",")))).toContain("more than 64");
  });
});
