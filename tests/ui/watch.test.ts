/**
 * The page's live feed against a stand-in for the browser's EventSource
 * (Bun has none): snapshots replace the store whole, audit records join the
 * events, the indicator follows the stream, and a stream the master refuses
 * sends the page to the login or tries again.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createStore } from "../../lib/ui/store.ts";
import { openWatch } from "../../lib/ui/watch.ts";

class FakeEventSource extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  static made: FakeEventSource[] = [];
  readyState = FakeEventSource.CONNECTING;
  constructor(readonly url: string) {
    super();
    FakeEventSource.made.push(this);
  }
  close(): void {
    this.readyState = FakeEventSource.CLOSED;
  }
  send(type: string, data: string): void {
    this.dispatchEvent(new MessageEvent(type, { data }));
  }
  fail(state: number): void {
    this.readyState = state;
    this.dispatchEvent(new Event("error"));
  }
}

const node = { name: "n1", state: "Ready", address: "a:1", lastSync: "2026-01-01T00:00:00Z", multipassVersion: null, multipassError: null, staleSince: null, resources: { cpus: 2, load: [0, 0, 0], memory: { total: 10, available: 5 }, disk: { total: 10, available: 5 } }, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instanceCount: 1 };
const instance = (state: string) => ({ node: "n1", name: "web", state, ipv4: [], release: null });
const audit = (id: number) => ({ id, time: "2026-01-01T00:00:00Z", requestId: "r", phase: "requested", token: "abc", action: "stop", node: "n1", instance: "web" });

beforeEach(() => {
  FakeEventSource.made = [];
  Object.assign(globalThis, { EventSource: FakeEventSource });
});
afterEach(() => {
  Reflect.deleteProperty(globalThis, "EventSource");
});

describe("the watch stream", () => {
  test("a snapshot replaces what the page knew, audit records join the events, the indicator follows", () => {
    const store = createStore();
    const reports: string[] = [];
    const close = openWatch({ store, checkSession: async () => true, onLoggedOut: () => {}, report: (m) => reports.push(m) });
    const source = FakeEventSource.made[0]!;
    expect(source.url).toBe("/api/v1/watch");
    source.send("snapshot", JSON.stringify({ nodes: [node], instances: [instance("Running")] }));
    expect(store.state.live).toBe("live");
    expect(store.state.instances.map((i) => i.state)).toEqual(["Running"]);
    source.send("audit", JSON.stringify(audit(7)));
    expect(store.state.events.map((e) => e.id)).toEqual([7]);
    source.fail(FakeEventSource.CONNECTING);
    expect(store.state.live).toBe("reconnecting");
    source.send("snapshot", JSON.stringify({ nodes: [], instances: [] }));
    expect(store.state.live).toBe("live");
    expect(store.state.nodes).toEqual([]);
    source.send("snapshot", JSON.stringify({ nodes: [{ ...node, state: "Sideways" }], instances: [] }));
    source.send("snapshot", "not json");
    expect(reports).toHaveLength(1);
    expect(reports[0]).toContain("snapshot.nodes[0].state");
    expect(store.state.nodes).toEqual([]);
    close();
    expect(source.readyState).toBe(FakeEventSource.CLOSED);
  });

  test("a refused stream goes to the login when the session has ended, and is opened again when it has not", async () => {
    const store = createStore();
    let loggedOut = 0;
    let good = false;
    const close = openWatch({ store, checkSession: async () => good, onLoggedOut: () => loggedOut++, report: () => {} });
    FakeEventSource.made[0]!.fail(FakeEventSource.CLOSED);
    await Bun.sleep(10);
    expect(loggedOut).toBe(1);
    good = true;
    const again = openWatch({ store, checkSession: async () => good, onLoggedOut: () => loggedOut++, report: () => {} });
    FakeEventSource.made[1]!.fail(FakeEventSource.CLOSED);
    const end = Date.now() + 3_000;
    while (FakeEventSource.made.length < 3 && Date.now() < end) await Bun.sleep(20);
    expect(FakeEventSource.made).toHaveLength(3);
    expect(loggedOut).toBe(1);
    close();
    again();
  });
});
