/**
 * The pure parts of the simulated transfer: argument splitting and the plan
 * (lib/sim/transfer-args.ts), and std::filesystem::path / fmt behaviour
 * (lib/sim/fspath.ts) that its messages depend on.
 */

import { describe, expect, test } from "bun:test";
import { fileName, joinPath, parentPath, pathElements, quotePath, trimSlashes } from "../../lib/sim/fspath.ts";
import { parseTransferArgs, splitArgument } from "../../lib/sim/transfer-args.ts";

describe("splitArgument", () => {
  test.each([
    ["web:a/b", { instance: "web", path: "a/b" }],
    ["web:", { instance: "web", path: "." }],
    ["web:a:b", { instance: "web", path: "a:b" }],
    [":a", { instance: "", path: "a" }],
    ["plain", { instance: "", path: "plain" }],
    ["", { instance: "", path: "." }],
    ["-", { instance: "", path: "-" }],
    ["C:\\Users\\x", { instance: "", path: "C:\\Users\\x" }],
  ])("%p", (entry, expected) => {
    expect(splitArgument(entry)).toEqual(expected);
  });
});

describe("parseTransferArgs plans", () => {
  test("pull from several instances into a local target", () => {
    expect(parseTransferArgs(["web:a", "db:b", "out"])).toEqual({
      plan: { kind: "pull", sources: [{ instance: "web", path: "a" }, { instance: "db", path: "b" }], target: "out" },
      instances: ["web", "db"],
    });
  });

  test("push of several local sources", () => {
    expect(parseTransferArgs(["a", "b", "web:dir"])).toEqual({
      plan: { kind: "push", sources: ["a", "b"], instance: "web", target: "dir" },
      instances: ["web"],
    });
  });

  test("streams", () => {
    expect(parseTransferArgs(["-", "web:f"])).toEqual({ plan: { kind: "fromStdin", instance: "web", target: "f" }, instances: ["web"] });
    expect(parseTransferArgs(["web:f", "-"])).toEqual({ plan: { kind: "toStdout", instance: "web", source: "f" }, instances: ["web"] });
    expect(parseTransferArgs(["-", "web:-"])).toEqual({ plan: { kind: "fromStdin", instance: "web", target: "-" }, instances: ["web"] });
  });
});

describe("path operations as std::filesystem::path does them", () => {
  test.each([
    [".", "x", "./x"],
    ["dir/", "x", "dir/x"],
    ["dir", "/abs", "/abs"],
    ["", "x", "x"],
  ])("%p / %p", (left, right, expected) => {
    expect(joinPath(left, right)).toBe(expected);
  });

  test.each([
    ["a/b/c", "a/b", "c"],
    ["c", "", "c"],
    ["/c", "/", "c"],
    ["a/b/", "a/b", ""],
    ["a//b", "a", "b"],
    ["/", "/", ""],
  ])("%p: parent %p, filename %p", (path, parent, name) => {
    expect([parentPath(path), fileName(path)]).toEqual([parent, name]);
  });

  test("elements, trimming and quoting", () => {
    expect(pathElements("/x/y")).toEqual(["/", "x", "y"]);
    expect(pathElements("a//b/")).toEqual(["a", "b", ""]);
    expect(trimSlashes("dir//")).toBe("dir");
    expect(quotePath('a "b"\\c\n\u0001')).toBe('"a \\"b\\"\\\\c\\n\\x01"');
  });
});
