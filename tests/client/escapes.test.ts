import { describe, expect, test } from "bun:test";
import { EscapeReader, type EscapeAction } from "../../lib/client/escapes.ts";

/** The actions as text: sends as their bytes, escapes as <key>. */
function run(reader: EscapeReader, ...chunks: string[]): string[] {
  const shown = (a: EscapeAction) => (a.type === "send" ? new TextDecoder().decode(a.bytes) : `<${a.key}>`);
  return chunks.flatMap((c) => reader.feed(new TextEncoder().encode(c)).map(shown));
}

describe("escapes", () => {
  test("at the very start and after Enter (CR or LF), ~ and . d ? are escapes; the keys before them are sent first", () => {
    expect(run(new EscapeReader(), "~.")).toEqual(["<.>"]);
    expect(run(new EscapeReader(), "ls\r~d")).toEqual(["ls\r", "<d>"]);
    expect(run(new EscapeReader(), "ls\n~?pwd")).toEqual(["ls\n", "<?>", "pwd"]);
  });

  test("~~ sends one ~; another key after ~ sends both; a ~ mid-line is a ~", () => {
    expect(run(new EscapeReader(), "~~")).toEqual(["~"]);
    expect(run(new EscapeReader(), "~x")).toEqual(["~x"]);
    expect(run(new EscapeReader(), "a~.")).toEqual(["a~."]);
    // After ~~ the line has started: a second ~ is a plain one.
    expect(run(new EscapeReader(), "~~~.")).toEqual(["~~."]);
    expect(run(new EscapeReader(), "~\r~.")).toEqual(["~\r", "<.>"]);
  });

  test("a ~ that ends a chunk is held until the next key says what it is", () => {
    const reader = new EscapeReader();
    expect(run(reader, "\r~")).toEqual(["\r"]);
    expect(reader.state).toBe("tilde");
    expect(run(reader, ".")).toEqual(["<.>"]);
    const other = new EscapeReader();
    expect(run(other, "~", "ab")).toEqual(["~ab"]);
  });

  test("after ~? a new escape may follow at once", () => {
    expect(run(new EscapeReader(), "~?~.")).toEqual(["<?>", "<.>"]);
  });
});
