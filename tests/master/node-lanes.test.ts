/**
 * The lanes of a verb on many instances: one per node, a first call alone
 * until the node answers, nothing more sent to a node that did not answer,
 * and no node waiting for another.
 */
import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import { runInLanes, type Lane } from "../../lib/master/node-lanes.ts";

interface T {
  node: { name: string };
  name: string;
}

const t = (node: string, name: string): T => ({ node: { name: node }, name });

/** A call held until the test settles it, seen by the test as it starts. */
interface Held {
  target: T;
  lane: Lane;
  end: () => void;
}

/** Work that records each call and holds it until `end()`; a lane found silent records "not sent". */
function heldWork() {
  const started: Held[] = [];
  const log: string[] = [];
  const work = (target: T, lane: Lane) => {
    if (lane.silent) {
      log.push(`not sent ${target.name}`);
      return Promise.resolve();
    }
    log.push(`sent ${target.name}`);
    return new Promise<void>((resolve) => started.push({ target, lane, end: () => (log.push(`ended ${target.name}`), resolve()) }));
  };
  const call = (name: string): Held => {
    const found = started.find((h) => h.target.name === name);
    if (!found) throw new Error(`"${name}" was not sent (sent: ${started.map((h) => h.target.name).join(", ")})`);
    return found;
  };
  return { work, started, log, call };
}

const turn = () => Bun.sleep(0);

describe("runInLanes", () => {
  test("a node that never answers: one call is sent, the rest are not; the other node's calls all go meanwhile", async () => {
    const { work, log, call } = heldWork();
    const done = runInLanes([t("hung", "x"), t("ok", "a"), t("hung", "y"), t("ok", "b"), t("hung", "z")], work);
    await turn();
    // The healthy node answers its first call; its lane opens while the hung node's first call waits.
    call("a").lane.answered();
    await turn();
    expect(log).toEqual(["sent x", "sent a", "sent b"]);
    call("a").end();
    call("b").end();
    await turn();
    call("x").lane.unanswered(new AppError("E_UNREACHABLE", 'Node "hung" did not answer'));
    call("x").end();
    await done;
    expect(log).toEqual(["sent x", "sent a", "sent b", "ended a", "ended b", "ended x", "not sent y", "not sent z"]);
  });

  test("once its node answers, a lane has up to its limit in flight", async () => {
    const { work, started, call } = heldWork();
    const targets = ["a", "b", "c", "d", "e"].map((n) => t("n1", n));
    const done = runInLanes(targets, work, 3);
    await turn();
    expect(started.map((h) => h.target.name)).toEqual(["a"]);
    call("a").lane.answered();
    await turn();
    expect(started.map((h) => h.target.name)).toEqual(["a", "b", "c"]);
    call("b").end();
    await turn();
    expect(started.map((h) => h.target.name)).toEqual(["a", "b", "c", "d"]);
    for (const name of ["a", "c", "d"]) call(name).end();
    await turn();
    call("e").end();
    await done;
    expect(started).toHaveLength(5);
  });

  test("a first call that ends without an answer (refused, a node that is Down) lets the rest go", async () => {
    const { work, log, call } = heldWork();
    const done = runInLanes([t("n1", "a"), t("n1", "b")], work);
    await turn();
    call("a").end();
    await turn();
    call("b").end();
    await done;
    expect(log).toEqual(["sent a", "ended a", "sent b", "ended b"]);
  });

  test("a node found silent by a later call: what is still queued is not sent", async () => {
    const { work, log, call } = heldWork();
    const done = runInLanes(["a", "b", "c", "d"].map((n) => t("n1", n)), work, 2);
    await turn();
    call("a").lane.answered();
    await turn();
    call("b").lane.unanswered(new AppError("E_UNREACHABLE", "stopped answering"));
    call("b").end();
    await turn();
    call("a").end();
    await done;
    expect(log).toEqual(["sent a", "sent b", "ended b", "not sent c", "not sent d", "ended a"]);
  });
});
