import { describe, expect, test } from "bun:test";
import { paint } from "../../lib/client/context.ts";
import { formatBytes, formatLoad, formatTime, formatUsage } from "../../lib/core/format.ts";
import { colors, renderTable, stateCell } from "../../lib/client/tables.ts";

describe("format", () => {
  test("bytes in binary units with one decimal, like Multipass", () => {
    expect(formatBytes(2.5 * 1024 ** 3)).toBe("2.5GiB");
    expect(formatBytes(4 * 1024 ** 3)).toBe("4.0GiB");
    expect(formatBytes(512 * 1024 ** 2)).toBe("512.0MiB");
    expect(formatBytes(1023)).toBe("1023B");
    expect(formatBytes(null)).toBe("--");
  });
  test("usage and load", () => {
    expect(formatUsage({ used: 2.5 * 1024 ** 3, total: 4 * 1024 ** 3 })).toBe("2.5GiB out of 4.0GiB");
    expect(formatUsage({ used: null, total: 4 })).toBe("--");
    expect(formatLoad([0.07, 0.02, 0])).toBe("0.07 0.02 0.00");
    expect(formatLoad(null)).toBe("--");
    expect(formatTime("2024-01-01T00:00:00.000Z")).toBe("2024-01-01 00:00:00 UTC");
  });
  test("tables align by visible width, colour or not", () => {
    const rows = [["n1", stateCell("Running", colors(true)), "x"], ["node-two", stateCell("Stopped", colors(true)), "yy"]];
    const coloured = renderTable(["Node", "State", "Z"], rows, colors(true));
    const plain = renderTable(["Node", "State", "Z"], rows.map((r) => r.map((c) => (typeof c === "string" ? c : c.text))), colors(false));
    expect(plain).toBe("Node       State     Z\nn1         Running   x\nnode-two   Stopped   yy\n");
    expect(coloured.replace(/\u001b\[[0-9;]*m/g, "")).toBe(plain);
    expect(coloured).toContain("\u001b[32mRunning\u001b[39m");
  });
});

describe("paint", () => {
  const ctx = (isTTY: boolean, stderrIsTTY: boolean, env: Record<string, string> = {}) => ({ isTTY, stderrIsTTY, env });

  test("each stream is coloured by its own terminal-ness: a redirected stderr gets no escapes", () => {
    expect(paint(ctx(true, false), "stdout").red("x")).toBe("\u001b[31mx\u001b[39m");
    expect(paint(ctx(true, false), "stderr").red("x")).toBe("x");
    expect(paint(ctx(false, true), "stderr").red("x")).toBe("\u001b[31mx\u001b[39m");
    expect(paint(ctx(false, true), "stdout").red("x")).toBe("x");
  });

  test("NO_COLOR set to anything but the empty string turns colour off", () => {
    expect(paint(ctx(true, true, { NO_COLOR: "1" }), "stdout").red("x")).toBe("x");
    expect(paint(ctx(true, true, { NO_COLOR: "1" }), "stderr").red("x")).toBe("x");
    expect(paint(ctx(true, true, { NO_COLOR: "" }), "stdout").red("x")).toBe("\u001b[31mx\u001b[39m");
  });
});
