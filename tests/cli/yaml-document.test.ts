/**
 * The YAML reader people's files go through: errors that name the file and
 * the line, the bounds, and the way from a path back to its line.
 */
import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import { MAX_YAML_BYTES, readYamlDocument } from "../../lib/cli/yaml-document.ts";

function errorOf(f: () => unknown): AppError {
  try {
    f();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("no error");
}

describe("readYamlDocument", () => {
  test("reads a document into plain data, aliases resolved", () => {
    const doc = readYamlDocument("name: lab\nbase: &b { cpus: 2 }\nother: *b\nlist: [1, two]\n", "lab.yaml");
    expect(doc.value).toEqual({ name: "lab", base: { cpus: 2 }, other: { cpus: 2 }, list: [1, "two"] });
  });

  test("an empty document is null", () => {
    expect(readYamlDocument("", "x.yaml").value).toBeNull();
    expect(readYamlDocument("# nothing\n", "x.yaml").value).toBeNull();
  });

  test.each([
    ["a syntax error", "a: 1\nb: [x\n", "lab.yaml:3: Flow sequence in block collection must be sufficiently indented and end with a ]", 3],
    ["a duplicate key", "name: lab\ninstances: []\nname: other\n", "lab.yaml:3: Map keys must be unique", 3],
    ["a tab as indentation", "a:\n\tb: 1\n", "lab.yaml:2: Tabs are not allowed as indentation", 2],
    ["two documents", "--- a\n--- b\n", "lab.yaml:2: Source contains multiple documents", 2],
  ])("%s is refused with the file and the line", (_what, text, message, line) => {
    const error = errorOf(() => readYamlDocument(text, "lab.yaml"));
    expect(error.code).toBe("E_USAGE");
    expect(error.message).toStartWith(message);
    expect(error.message).not.toContain("\n");
    expect(error.details?.["line"]).toBe(line);
  });

  test("an alias without its anchor is refused", () => {
    expect(() => readYamlDocument("a: *nope\n", "lab.yaml")).toThrow("lab.yaml: Unresolved alias");
  });

  test("a document that expands aliases without bound is refused", () => {
    const lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]`);
    const error = errorOf(() => readYamlDocument(lines.join("\n") + "\n", "bomb.yaml"));
    expect(error.code).toBe("E_USAGE");
    expect(error.message).toStartWith("bomb.yaml: ");
  });

  test(`a text over ${MAX_YAML_BYTES} bytes is refused before it is parsed`, () => {
    expect(() => readYamlDocument(`a: "${"x".repeat(MAX_YAML_BYTES)}"\n`, "big.yaml")).toThrow(`big.yaml: the file is over ${MAX_YAML_BYTES} bytes`);
    // Counted in bytes, not characters.
    expect(() => readYamlDocument(`a: "${"é".repeat(MAX_YAML_BYTES / 2 + 1)}"\n`, "big.yaml")).toThrow("over");
  });
});

describe("lineOf", () => {
  const text = [
    "name: lab", // 1
    "defaults:", // 2
    "  image: '24.04'", // 3
    "instances:", // 4
    "  - name: server", // 5
    "    labels:", // 6
    "      role: server", // 7
    "  - name: agent", // 8
    "    count: 2", // 9
    "    cloudInit: |", // 10
    "      #cloud-config", // 11
    "    after: [server]", // 12
    "",
  ].join("\n");
  const doc = readYamlDocument(text, "lab.yaml");

  test.each([
    [[], 1],
    [["name"], 1],
    [["defaults"], 2],
    [["defaults", "image"], 3],
    [["instances"], 4],
    [["instances", 0], 5],
    [["instances", 0, "labels"], 6],
    [["instances", 0, "labels", "role"], 7],
    [["instances", 1], 8],
    [["instances", 1, "count"], 9],
    [["instances", 1, "cloudInit"], 10],
    [["instances", 1, "after", 0], 12],
    // Paths that do not exist fall back to their nearest parent.
    [["instances", 1, "cpus"], 8],
    [["instances", 7, "name"], 4],
    [["defaults", "image", "x"], 3],
    [["nothing"], null],
  ] as [(string | number)[], number | null][])("%j is on line %p", (path, line) => {
    expect(doc.lineOf(path)).toBe(line);
  });

  test("a path through an alias gives the line of the anchored node", () => {
    const d = readYamlDocument("base: &b\n  cpus: 2\nother: *b\n", "a.yaml");
    expect(d.lineOf(["other", "cpus"])).toBe(2);
  });
});
