/**
 * The output of a fleet exec (issue 15): prefixed lines, partial lines and
 * their bound, groups and their bound, NDJSON records, the summary, and the
 * terminal a session sees (notes, stdin, hang-ups).
 */
import { describe, expect, test } from "bun:test";
import { FleetOutput, type FleetOutputOptions, type FleetResult } from "../../lib/client/fleet-output.ts";
import { FleetIo } from "../../lib/client/fleet-io.ts";
import { formatSummary, summarize } from "../../lib/client/fleet-summary.ts";
import { parseParallel } from "../../lib/client/fleet-exec.ts";
import { colors } from "../../lib/client/tables.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

function capture(options: Partial<FleetOutputOptions> = {}, labels = ["web@n1", "db-long@n2"]) {
  const out: string[] = [];
  const err: string[] = [];
  const output = new FleetOutput(labels, {
    mode: "lines",
    sink: { stdout: (t) => (out.push(t), true), stderr: (t) => (err.push(t), true) },
    colors: colors(false),
    strip: false,
    ...options,
  });
  return { output, out, err };
}

const result = (over: Partial<FleetResult> = {}): FleetResult => ({ instance: "web", node: "n1", outcome: "ok", exitCode: 0, error: null, durationMs: 1234, ...over });

describe("lines", () => {
  test("each whole line prefixed with its instance, padded to the longest; stderr to stderr", () => {
    const { output, out, err } = capture();
    output.data(0, "stdout", bytes("one\ntwo\n"));
    output.data(1, "stderr", bytes("oops\n"));
    expect(out).toEqual(["web@n1     | one\n", "web@n1     | two\n"]);
    expect(err).toEqual(["db-long@n2 | oops\n"]);
  });

  test("a partial line waits for its end, per instance and stream, and the rest comes out at the end", () => {
    const { output, out, err } = capture();
    output.data(0, "stdout", bytes("hel"));
    output.data(1, "stdout", bytes("other"));
    output.data(0, "stderr", bytes("e"));
    expect(out).toEqual([]);
    output.data(0, "stdout", bytes("lo\nwor"));
    expect(out).toEqual(["web@n1     | hello\n"]);
    output.end(0, result());
    expect(out).toEqual(["web@n1     | hello\n", "web@n1     | wor\n"]);
    expect(err).toEqual(["web@n1     | e\n"]);
  });

  test("a character split between chunks is put back together", () => {
    const { output, out } = capture();
    const euro = bytes("€\n");
    output.data(0, "stdout", euro.subarray(0, 1));
    output.data(0, "stdout", euro.subarray(1));
    expect(out).toEqual(["web@n1     | €\n"]);
  });

  test("a line longer than the bound is written as it is, the rest continuing on a new prefixed line", () => {
    const { output, out } = capture({ lineLimit: 4 });
    output.data(0, "stdout", bytes("abcdefghij"));
    expect(out).toEqual(["web@n1     | abcd\n", "web@n1     | efgh\n"]);
    output.end(0, result());
    expect(out.at(-1)).toBe("web@n1     | ij\n");
  });

  test("the bound holds for a long line whose end came in the same chunk, and many lines of one chunk keep their order", () => {
    const { output, out } = capture({ lineLimit: 4 });
    output.data(0, "stdout", bytes("abcdefghij\n1\n2\nxy"));
    expect(out).toEqual(["web@n1     | abcd\n", "web@n1     | efgh\n", "web@n1     | ij\n", "web@n1     | 1\n", "web@n1     | 2\n"]);
    const many = Array.from({ length: 5000 }, (_, i) => `${i}`);
    const { output: big, out: bigOut } = capture();
    big.data(0, "stdout", bytes(many.join("\n") + "\n"));
    expect(bigOut).toEqual(many.map((l) => `web@n1     | ${l}\n`));
  });

  test("on a terminal, control characters are stripped and prefixes coloured", () => {
    const { output, out } = capture({ strip: true, colors: colors(true) });
    output.data(0, "stdout", bytes("a\x1b]0;title\x07b\x1b[2Jc\n"));
    expect(out).toEqual([`\x1b[36mweb@n1    \x1b[39m | abc\n`]);
  });

  test("backpressure from the sink is passed on", () => {
    const output = new FleetOutput(["a@n"], { mode: "lines", sink: { stdout: () => false, stderr: () => true }, colors: colors(false), strip: false });
    expect(output.data(0, "stdout", bytes("x\n"))).toBe(false);
    expect(output.data(0, "stderr", bytes("x\n"))).toBe(true);
    expect(output.data(0, "stdout", bytes("partial"))).toBe(true);
  });
});

describe("group", () => {
  test("nothing until the instance ends; then a header, its stdout, its stderr on stderr", () => {
    const { output, out, err } = capture({ mode: "group" });
    output.data(0, "stdout", bytes("one\n"));
    output.data(0, "stderr", bytes("warn"));
    output.data(0, "stdout", bytes("two"));
    expect(out).toEqual([]);
    output.end(0, result({ exitCode: 3, outcome: "failed" }));
    expect(out).toEqual(["=== web@n1 (exit 3, 1.2s)\n", "one\ntwo\n"]);
    expect(err).toEqual(["warn\n"]);
  });

  test("past the bound the rest is dropped and counted", () => {
    const { output, out, err } = capture({ mode: "group", keptLimit: 5 });
    output.data(0, "stdout", bytes("abc"));
    output.data(0, "stdout", bytes("defgh"));
    output.data(0, "stderr", bytes("ij"));
    output.end(0, result());
    expect(out).toEqual(["=== web@n1 (exit 0, 1.2s)\n", "abcde\n"]);
    expect(err).toEqual(["multiverse: web@n1: 5 more bytes of output were not kept (the first 5 were)\n"]);
  });

  test("an instance without a status says why in its header", () => {
    const { output, out } = capture({ mode: "group" });
    output.end(1, result({ instance: "db-long", node: "n2", outcome: "unreachable", exitCode: null, error: 'Node "n2" is Down' }));
    expect(out).toEqual(['=== db-long@n2 (unreachable: Node "n2" is Down, 1.2s)\n']);
  });
});

describe("json", () => {
  test("one record per instance when it ends, with both streams, bounded and flagged", () => {
    const { output, out } = capture({ mode: "json", keptLimit: 6 });
    output.data(0, "stdout", bytes("out\n"));
    output.data(0, "stderr", bytes("err\n"));
    output.data(1, "stdout", bytes("ok"));
    output.end(0, result({ durationMs: 7 }));
    output.end(1, result({ instance: "db-long", node: "n2", outcome: "unreachable", exitCode: null, error: "gone", durationMs: 1 }));
    expect(out.map((l) => JSON.parse(l))).toEqual([
      { instance: "web", node: "n1", exitCode: 0, stdout: "out\n", stderr: "er", durationMs: 7, truncated: true },
      { instance: "db-long", node: "n2", exitCode: null, stdout: "ok", stderr: "", error: "gone", durationMs: 1, truncated: false },
    ]);
    expect(out.every((l) => l.endsWith("\n") && !l.slice(0, -1).includes("\n"))).toBe(true);
  });
});

describe("summary", () => {
  const results: FleetResult[] = [
    result({ instance: "a" }),
    result({ instance: "b", outcome: "failed", exitCode: 2 }),
    result({ instance: "c", outcome: "timeout", exitCode: null, error: "no end within 2s" }),
    result({ instance: "d", node: "n3", outcome: "unreachable", exitCode: null, error: 'Node "n3" is Down' }),
    result({ instance: "e" }),
  ];

  test("grouped, with exit codes and reasons; empty groups left out", () => {
    const text = formatSummary(summarize(results, [{ instance: "s", node: "n1", state: "Stopped" }]), colors(false));
    expect(text).toBe(
      [
        "ok 2: a@n1, e@n1",
        "failed 1: b@n1 (exit 2)",
        "timed out 1: c@n1",
        'unreachable 1: d@n3 (Node "n3" is Down)',
        "skipped 1: s@n1 (Stopped)",
        "",
      ].join("\n"),
    );
  });

  test("as JSON", () => {
    expect(summarize(results, [])).toEqual({
      summary: {
        ok: ["a@n1", "e@n1"],
        failed: [{ instance: "b@n1", exitCode: 2 }],
        timedOut: ["c@n1"],
        unreachable: [{ instance: "d@n3", error: 'Node "n3" is Down' }],
        interrupted: [],
        skipped: [],
      },
    });
  });
});

test("--parallel: 1..256, anything else refused quoting it", () => {
  expect(parseParallel(undefined)).toBe(16);
  expect(parseParallel("1")).toBe(1);
  expect(parseParallel("256")).toBe(256);
  for (const bad of ["0", "257", "-1", "2.5", "x", ""]) expect(() => parseParallel(bad)).toThrow(`Invalid --parallel "${bad}"`);
});

describe("the terminal a session sees", () => {
  function fleetIo(stdin: string) {
    const { output, out, err } = capture();
    return { io: new FleetIo({ index: 0, output, term: "xterm", stdin: bytes(stdin) }), out, err };
  }

  test("bytes are output; text is the session's own note, kept as the reason and not printed", () => {
    const { io, out, err } = fleetIo("");
    io.writeStdout(bytes("hi\n"));
    io.writeStderr("\r\nmultiverse: the master stopped answering\n");
    expect(out).toEqual(["web@n1     | hi\n"]);
    expect(err).toEqual([]);
    expect(io.note).toBe("the master stopped answering");
  });

  test("stdin in pieces, held while paused, then its end; reading it means the session opened", async () => {
    const { io } = fleetIo("x".repeat(200 * 1024));
    expect(io.opened).toBe(false);
    const got: number[] = [];
    let ended = false;
    io.readStdin(
      (chunk) => {
        got.push(chunk.length);
        if (got.length === 1) io.pauseStdin();
      },
      () => (ended = true),
    );
    expect(io.opened).toBe(true);
    await Promise.resolve();
    expect(got).toEqual([65536]);
    expect(ended).toBe(false);
    io.resumeStdin();
    await Promise.resolve();
    expect(got).toEqual([65536, 65536, 65536, 8192]);
    expect(ended).toBe(true);
  });

  test("the real terminal's drain, passed on, reaches the session's listener until it unsubscribes", () => {
    const { io } = fleetIo("");
    let drained = 0;
    const off = io.onWritable(() => drained++);
    io.writable();
    off();
    io.writable();
    expect(drained).toBe(1);
  });

  test("a hang-up reaches the session's signal listener", () => {
    const { io } = fleetIo("");
    const signals: string[] = [];
    const off = io.onSignal((s) => signals.push(s));
    io.hangUp("SIGINT");
    off();
    io.hangUp("SIGTERM");
    expect(signals).toEqual(["SIGINT"]);
  });
});
