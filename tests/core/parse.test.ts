import { describe, expect, test } from "bun:test";
import { MAX_QUOTED_LENGTH } from "../../lib/core/validate.ts";
import { ParseError, field, number, object, oneOf, string } from "../../lib/core/parse.ts";

const MEGABYTE = "x".repeat(1024 * 1024);

function errorOf(read: () => unknown): ParseError {
  try {
    read();
  } catch (error) {
    if (error instanceof ParseError) return error;
    throw error;
  }
  throw new Error("expected a ParseError");
}

describe("parse errors quote a bounded prefix of the value", () => {
  test("oneOf with a 1 MB value names the choices and quotes a prefix", () => {
    const error = errorOf(() => oneOf(["requested", "done"] as const)(MEGABYTE, "event.phase"));
    expect(error.message.length).toBeLessThan(200);
    expect(error.message).toBe(`event.phase: expected one of requested, done, got "${"x".repeat(MAX_QUOTED_LENGTH)}"…`);
  });

  test("a 1 MB string where another type was expected", () => {
    const error = errorOf(() => number(MEGABYTE, "info.cpus"));
    expect(error.message).toBe(`info.cpus: expected a number, got string "${"x".repeat(MAX_QUOTED_LENGTH)}"…`);
  });

  test("a short value is quoted whole, escapes included", () => {
    expect(errorOf(() => oneOf(["a", "b"] as const)('c"\n', "p")).message).toBe('p: expected one of a, b, got "c\\"\\n"');
    expect(errorOf(() => object("s", "o")).message).toBe('o: expected an object, got string "s"');
    expect(errorOf(() => string(12, "s")).message).toBe("s: expected a string, got number 12");
  });

  test("field paths name the offending field", () => {
    expect(errorOf(() => field({ k: 1 }, "k", "obj", string)).message).toBe("obj.k: expected a string, got number 1");
  });
});
