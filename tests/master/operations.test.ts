/**
 * Launch placement through an in-process master and workers: what is being
 * launched right now counts against its node, so launches close together
 * spread over the cluster instead of piling onto one node.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { parseJson } from "../../lib/core/parse.ts";
import { parseLaunchEvent } from "../../lib/protocol/operations.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { waitFor } from "../e2e/harness.ts";
import { API, readyCount, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

afterEach(runCleanups);

const GiB = 1024 ** 3;
const host = { cpus: 4, load: [0, 0, 0] as [number, number, number], memory: { total: 16 * GiB, available: 16 * GiB }, disk: { total: 100 * GiB, available: 100 * GiB } };

/** Starts a launch and resolves with the node it was placed on, leaving the launch running. */
async function placed(apiPort: number, body: Record<string, unknown>, abort: AbortSignal): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${apiPort}/api/v1/instances`, {
    method: "POST",
    headers: { authorization: `Bearer ${API}`, "content-type": "application/json", accept: "application/x-ndjson" },
    body: JSON.stringify(body),
    signal: abort,
  });
  const reader = response.body!.getReader();
  const { value } = await reader.read();
  const first = parseLaunchEvent(parseJson(new TextDecoder().decode(value).split("\n")[0]!, "event"));
  expect(first.type).toBe("placed");
  if (first.type !== "placed") throw new Error(`the first event is ${first.type}`);
  return first.node;
}

describe("placement of launches in flight", () => {
  test("a launch still running counts against its node: the next one goes elsewhere", async () => {
    const m = startMaster();
    const fakes = { a: createFakeMultipass(), b: createFakeMultipass() };
    for (const [name, fake] of Object.entries(fakes)) {
      // Launches that take minutes, as real ones do.
      fake.failNext("launch", "hang", 3);
      startWorker(m.cluster.port!, name, fake, undefined, undefined, host);
    }
    await waitFor("both nodes ready", () => readyCount(m.master) === 2);
    const abort = new AbortController();
    try {
      const first = await placed(m.api.port!, { name: "one", memory: "4G" }, abort.signal);
      const second = await placed(m.api.port!, { name: "two", memory: "4G" }, abort.signal);
      expect(first).toBe("a");
      expect(second).toBe("b");
      // Both nodes now carry one 4G launch each: the third goes by name again.
      expect(await placed(m.api.port!, { name: "three", memory: "4G" }, abort.signal)).toBe("a");
    } finally {
      abort.abort();
    }
  });
});
