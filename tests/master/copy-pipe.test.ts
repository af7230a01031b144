/**
 * Instance → instance copies on the master (copy-pipe.ts) against fake relay
 * handles: the source's stdout reaches the target in order, a full target
 * holds the source until it drains, and a failure on either side hangs both
 * up with the side's own words.
 */
import { describe, expect, test } from "bun:test";
import { CopyPipe, type CopyResult } from "../../lib/master/copy-pipe.ts";
import type { ClientEnd, Delivery, RelayHandle, SessionOutcome } from "../../lib/master/session-ends.ts";
import { channelFrame, CHANNEL_STDERR, CHANNEL_STDOUT, type SessionControl } from "../../lib/protocol/session.ts";

/** A relay handle that records what it is fed; the test plays the node through `end` and `ended`. */
class FakeSide implements RelayHandle {
  inputs: Uint8Array[] = [];
  controls: SessionControl[] = [];
  gone = 0;
  drains = 0;
  end!: ClientEnd;
  ended!: (outcome: SessionOutcome) => void;
  input(bytes: Uint8Array): void {
    this.inputs.push(Uint8Array.from(bytes));
  }
  control(message: SessionControl): void {
    this.controls.push(message);
  }
  clientGone(): void {
    this.gone += 1;
  }
  heard(): void {}
  drained(): void {
    this.drains += 1;
  }
}

function start(): { source: FakeSide; target: FakeSide; results: CopyResult[]; pipe: CopyPipe; progress: [number, number | null][] } {
  const source = new FakeSide();
  const target = new FakeSide();
  const results: CopyResult[] = [];
  const progress: [number, number | null][] = [];
  const open = (side: FakeSide) => (end: ClientEnd, ended: (outcome: SessionOutcome) => void) => {
    side.end = end;
    side.ended = ended;
    return side;
  };
  const pipe = new CopyPipe({
    fromRef: "web@n1",
    toRef: "db@n2",
    openSource: open(source),
    openTarget: open(target),
    onProgress: (bytes, total) => progress.push([bytes, total]),
    onDone: (result) => results.push(result),
  });
  return { source, target, results, pipe, progress };
}

const text = (s: string) => new TextEncoder().encode(s);
const out = (s: string) => channelFrame(CHANNEL_STDOUT, text(s));
const err = (s: string) => channelFrame(CHANNEL_STDERR, text(s));

describe("CopyPipe", () => {
  test("the source's stdout goes to the target in order; its end is the target's eof; the target's success is the copy's", () => {
    const { source, target, results, progress } = start();
    expect(source.controls).toEqual([{ type: "eof" }]);
    expect(source.end.binary(err("multiverse-cp:size:12\n"))).toBe("more");
    for (const part of ["abc", "defg", "hijkl"]) expect(source.end.binary(out(part))).toBe("more");
    expect(new TextDecoder().decode(Buffer.concat(target.inputs))).toBe("abcdefghijkl");
    expect(progress.at(-1)).toEqual([12, 12]);
    source.ended({ exitCode: 0, error: null });
    expect(target.controls).toEqual([{ type: "eof" }]);
    expect(results).toEqual([]);
    target.ended({ exitCode: 0, error: null });
    expect(results).toEqual([{ bytes: 12, error: null }]);
    expect(source.gone + target.gone).toBe(0);
  });

  test("a target with a full backlog holds the source until it drains", () => {
    const { source, target } = start();
    expect(source.end.binary(out("a"))).toBe("more");
    target.end.pauseInput();
    const delivery: Delivery = source.end.binary(out("b"));
    expect(delivery).toBe("full");
    expect(source.drains).toBe(0);
    target.end.resumeInput();
    expect(source.drains).toBe(1);
    expect(source.end.binary(out("c"))).toBe("more");
    expect(target.inputs.map((b) => new TextDecoder().decode(b))).toEqual(["a", "b", "c"]);
  });

  test("a source refusal hangs the target up (its temporary directory goes) and says what the source said", () => {
    const { source, target, results } = start();
    source.end.binary(err("multiverse-cp:error:not-found:logs/x\n"));
    source.ended({ exitCode: 20, error: null });
    expect(target.gone).toBe(1);
    expect(target.controls).toEqual([]);
    expect(results[0]?.error).toMatchObject({ code: "E_NOT_FOUND", message: "web@n1:logs/x: No such file or directory" });
  });

  test("a target that refuses, or ends before the source, fails the copy and hangs the source up", () => {
    const refused = start();
    refused.target.end.binary(err("multiverse-cp:error:not-a-directory:notes.txt\n"));
    refused.target.ended({ exitCode: 23, error: null });
    expect(refused.source.gone).toBe(1);
    expect(refused.results[0]?.error?.message).toBe("db@n2:notes.txt: Not a directory");

    const stopped = start();
    stopped.target.end.control({ type: "error", code: "E_CONFLICT", message: 'instance "db" is not running' });
    stopped.target.ended({ exitCode: null, error: { code: "E_CONFLICT", message: 'instance "db" is not running' } });
    expect(stopped.results[0]?.error).toMatchObject({ code: "E_CONFLICT", message: 'db@n2: instance "db" is not running' });

    const lost = start();
    lost.target.ended({ exitCode: null, error: { code: "E_UNREACHABLE", message: 'Lost the connection to node "n2"' } });
    expect(lost.results[0]?.error?.message).toBe('db@n2: Lost the connection to node "n2"');
  });

  test("a target that read the archive's end before the source's session ended: done once the source ends well, failed if it does not", () => {
    const ok = start();
    ok.target.ended({ exitCode: 0, error: null });
    expect(ok.results).toEqual([]);
    ok.source.ended({ exitCode: 0, error: null });
    expect(ok.results).toEqual([{ bytes: 0, error: null }]);

    const late = start();
    late.target.ended({ exitCode: 0, error: null });
    late.source.end.binary(err("tar: logs/app.log: file changed as we read it\n"));
    late.source.ended({ exitCode: 1, error: null });
    expect(late.results[0]?.error?.message).toBe("web@n1: the copy failed with status 1: tar: logs/app.log: file changed as we read it");
  });

  test("a caller gone hangs both sides up once, and reports the copy cancelled", () => {
    const { source, target, results, pipe } = start();
    pipe.cancel();
    pipe.cancel();
    source.ended({ exitCode: null, error: null });
    expect([source.gone, target.gone]).toEqual([1, 1]);
    expect(results).toHaveLength(1);
    expect(results[0]?.error?.code).toBe("E_CANCELLED");
  });
});
