/** The client's snapshot names (NAME.SNAP with @NODE after either part) and Multipass's comment cell. */
import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import { commentCell, parseSnapshotRef } from "../../lib/client/snapshots.ts";

describe("parseSnapshotRef", () => {
  test.each([
    ["web.base", { ref: "web", snapshot: "base" }],
    ["web.base@n1", { ref: "web@n1", snapshot: "base" }],
    ["web@n1.base", { ref: "web@n1", snapshot: "base" }],
    ["web@host.example.org.snapshot2", { ref: "web@host.example.org", snapshot: "snapshot2" }],
    ["web.snapshot2@host.example.org", { ref: "web@host.example.org", snapshot: "snapshot2" }],
  ])("%p", (text, expected) => {
    expect(parseSnapshotRef(text)).toEqual(expected);
  });

  test.each([
    ["web", "INSTANCE.SNAPSHOT"],
    ["web@n1", "INSTANCE.SNAPSHOT"],
    ["web.", 'Invalid snapshot name ""'],
    [".base", 'Invalid instance name ""'],
    ["web.a.b", 'Invalid snapshot name "a.b"'],
    ["web.1st", 'Invalid snapshot name "1st"'],
    ["we_b.base", 'Invalid instance name "we_b"'],
  ])("refuses %p", (text, message) => {
    let thrown: unknown;
    try {
      parseSnapshotRef(text);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).code).toBe("E_USAGE");
    expect((thrown as AppError).message).toContain(message);
  });
});

test.each([
  ["", "--"],
  ["A first snapshot", "A first snapshot"],
  ["A very long comment that should be truncated by the table formatter", "A very long comment that should be truncated by t…"],
  ["Before restoring snap1\nContains a newline that\r\nshould be truncated", "Before restoring snap1…"],
])("commentCell %p (upstream's table formatter's vectors)", (comment, cell) => {
  expect(commentCell(comment)).toBe(cell);
});
