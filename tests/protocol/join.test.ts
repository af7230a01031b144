import { describe, expect, test } from "bun:test";
import { parseErrorBody, parseInfoResponse, parseNodeView } from "../../lib/protocol/api.ts";
import { parseMasterMessage, parseWorkerMessage, PROTOCOL_VERSION } from "../../lib/protocol/join.ts";

const resources = { cpus: 2, load: [0.5, 0.25, 0], memory: { total: 100, available: 50 }, disk: { total: 1000, available: 10 } };
const hello = {
  type: "hello",
  protocolVersion: PROTOCOL_VERSION,
  name: "n1",
  publicKey: "R-S7_t2LRiBKhAovKpVgevRVOUCZVOSOrWs98LihOxs",
  agentPort: 4000,
  advertiseAddr: null,
  agentCert: null,
  version: "0.1.0",
  multipassVersion: "1.16.3",
  multipassError: null,
  resources,
  allocated: { cpus: 2, memory: 2147483648, disk: 10737418240, unknown: 0 },
  instances: [{ name: "web", state: "Running", ipv4: ["10.0.0.2"], release: "Ubuntu 24.04 LTS" }],
};

describe("join socket messages", () => {
  test("round trip of every worker message", () => {
    expect(parseWorkerMessage(JSON.stringify(hello))).toEqual(hello as never);
    const state = { type: "state", multipassVersion: null, multipassError: "down", resources, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 1 }, instances: [] };
    expect(parseWorkerMessage(JSON.stringify(state))).toEqual(state as never);
    expect(parseWorkerMessage(JSON.stringify({ type: "heartbeat", resources }))).toEqual({ type: "heartbeat", resources } as never);
  });

  test("a stale snapshot says since when multipass has not answered; a current one says nothing", () => {
    const stale = { type: "state", multipassVersion: "1.16.3", multipassError: null, staleSince: "2026-01-02T03:04:05.678Z", resources, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instances: hello.instances };
    expect(parseWorkerMessage(JSON.stringify(stale))).toEqual(stale as never);
    const current = parseWorkerMessage(JSON.stringify({ ...stale, staleSince: undefined }));
    expect("staleSince" in current).toBe(false);
    expect(() => parseWorkerMessage(JSON.stringify({ ...stale, staleSince: "yesterday" }))).toThrow(/state\.staleSince: expected an ISO 8601 time/);
    expect(() => parseWorkerMessage(JSON.stringify({ ...stale, staleSince: 5 }))).toThrow(/state\.staleSince: expected a string/);
  });

  test("round trip of every master message", () => {
    const welcome = { type: "welcome", id: "x", heartbeatMs: 5000, agentToken: "s" };
    expect(parseMasterMessage(JSON.stringify(welcome))).toEqual(welcome as never);
    expect(parseMasterMessage('{"type":"error","code":"E_PROTOCOL","message":"m"}')).toEqual({ type: "error", code: "E_PROTOCOL", message: "m" });
    expect(parseMasterMessage('{"type":"error","code":"E_WHATEVER","message":"m"}')).toMatchObject({ code: "E_INTERNAL" });
  });

  const bad: [string, string, RegExp][] = [
    ["not JSON", "{", /not valid JSON/],
    ["not an object", "[]", /expected an object/],
    ["unknown type", '{"type":"launch"}', /unknown message type/],
    ["missing field", JSON.stringify({ ...hello, name: undefined }), /hello\.name: expected a string/],
    ["string where a number is due", JSON.stringify({ ...hello, agentPort: "4000" }), /hello\.agentPort/],
    ["load of two values", JSON.stringify({ ...hello, resources: { ...resources, load: [1, 2] } }), /expected 3 load averages/],
    ["negative memory", JSON.stringify({ ...hello, resources: { ...resources, memory: { total: -1, available: 0 } } }), /memory\.total: expected an integer from 0/],
    ["unknown instance state", JSON.stringify({ ...hello, instances: [{ name: "a", state: "Exploded", ipv4: [], release: null }] }), /hello\.instances\[0\]\.state: expected one of/],
    ["ipv4 not strings", JSON.stringify({ ...hello, instances: [{ name: "a", state: "Running", ipv4: [1], release: null }] }), /ipv4\[0\]/],
  ];
  for (const [what, text, message] of bad) {
    test(`refuses ${what}`, () => {
      expect(() => parseWorkerMessage(text)).toThrow(message);
      try {
        parseWorkerMessage(text);
      } catch (error) {
        expect(error).toMatchObject({ code: "E_PROTOCOL" });
      }
    });
  }
});

describe("the end of a kept shell", () => {
  const ended = { type: "sessionEnded", id: "3f2a9c1e-7b4d-4e8a-9c2f-0a1b2c3d4e5f", instance: "web", owner: "a1b2c3d4e5f6", exitCode: null, reason: "nobody attached within 10m" };

  test("parses, its reason cleaned and bounded", () => {
    expect(parseWorkerMessage(JSON.stringify(ended))).toEqual(ended as never);
    const noisy = parseWorkerMessage(JSON.stringify({ ...ended, exitCode: 0, reason: `\u001b]52;c;AAAA\u0007exited ${"x".repeat(1000)}` }));
    expect(noisy).toMatchObject({ exitCode: 0 });
    const reason = (noisy as { reason: string }).reason;
    expect(reason).toStartWith("exited x");
    expect(reason.length).toBe(300);
  });

  test("an id, owner or instance that breaks its rule refuses the message", () => {
    for (const bad of [{ id: "../x" }, { owner: "not-hex" }, { instance: "-bad-" }, { exitCode: "0" }]) {
      expect(() => parseWorkerMessage(JSON.stringify({ ...ended, ...bad }))).toThrow();
    }
  });
});

describe("what a worker reports is checked before it reaches the API", () => {
  const state = (instances: unknown[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({ type: "state", multipassVersion: "1.16.3", multipassError: null, resources, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instances, ...extra });
  const instance = (fields: Record<string, unknown>) => ({ name: "web", state: "Running", ipv4: ["10.0.0.2"], release: "Ubuntu 24.04 LTS", ...fields });

  const refused: [string, string, RegExp][] = [
    ["an instance name with a screen clear", state([instance({ name: "web\u001b[2J" })]), /state\.instances\[0\]\.name: Invalid instance name/],
    ["an instance name with an OSC 52 clipboard write", state([instance({ name: "a\u001b]52;c;ZXZpbA==\u0007" })]), /instances\[0\]\.name/],
    ["an instance name of 1 MB", state([instance({ name: "a".repeat(1024 * 1024) })]), /at most 63 characters/],
    ["an address with an escape", state([instance({ ipv4: ["10.0.0.2\u001b]0;owned\u0007"] })]), /instances\[0\]\.ipv4\[0\]: expected an IPv4 address/],
    ["an address that is not one", state([instance({ ipv4: ["10.0.0.256"] })]), /expected an IPv4 address/],
    ["a node name with an escape", JSON.stringify({ ...hello, name: "n1\u001b[2J" }), /hello\.name: Invalid node name/],
  ];
  for (const [what, text, message] of refused) {
    test(`refuses ${what}, as a protocol error with a bounded message`, () => {
      let caught: unknown;
      try {
        parseWorkerMessage(text);
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({ code: "E_PROTOCOL" });
      expect((caught as Error).message).toMatch(message);
      expect((caught as Error).message.length).toBeLessThan(400);
      expect((caught as Error).message).not.toContain("\u001b");
    });
  }

  test("free text is cleaned and bounded, not refused: release, versions, multipass error", () => {
    const parsed = parseWorkerMessage(
      state([instance({ release: "Ubuntu\u001b]0;owned\u0007 24.04\u001b[2J" })], {
        multipassVersion: "1.16.3\u001b[31m",
        multipassError: "daemon \u001b]52;c;ZXZpbA==\u0007down\n" + "x".repeat(100_000),
      }),
    );
    if (parsed.type !== "state") throw new Error("expected a state");
    // stripControl drops the escapes; an OSC's payload stays behind as inert text.
    expect(parsed.instances[0]!.release).toMatch(/^Ubuntu[^\u0000-\u001f\u007f-\u009f]* 24\.04$/);
    expect(parsed.multipassVersion).toBe("1.16.3");
    expect(parsed.multipassError).toMatch(/^daemon [^\u001b\u0007]*down\nxxx/);
    expect(parsed.multipassError!.length).toBeLessThanOrEqual(4096);
    expect(parsed.multipassError!.endsWith("…")).toBe(true);
    const greeted = parseWorkerMessage(JSON.stringify({ ...hello, version: "0.1.0\u001b[2J" }));
    expect(greeted).toMatchObject({ type: "hello", version: "0.1.0" });
  });

  const absurd: [string, unknown, RegExp][] = [
    ["no CPUs", { ...resources, cpus: 0 }, /resources\.cpus: expected an integer from 1 to 1024/],
    ["a million CPUs", { ...resources, cpus: 1_000_000 }, /resources\.cpus/],
    ["fractional CPUs", { ...resources, cpus: 1.5 }, /resources\.cpus: expected an integer/],
    ["128 TiB of memory", { ...resources, memory: { total: 128 * 1024 ** 4, available: 0 } }, /resources\.memory\.total/],
    ["more memory available than there is", { ...resources, memory: { total: 100, available: 101 } }, /memory\.available: 101 is more than the total 100/],
    ["an exabyte of disk", { ...resources, disk: { total: 1024 ** 6, available: 1024 ** 6 } }, /resources\.disk\.total/],
    ["more disk available than there is", { ...resources, disk: { total: 10, available: 11 } }, /disk\.available/],
  ];
  for (const [what, figures, message] of absurd) {
    test(`a node reporting ${what} is refused at join and in heartbeats`, () => {
      expect(() => parseWorkerMessage(JSON.stringify({ ...hello, resources: figures }))).toThrow(message);
      expect(() => parseWorkerMessage(JSON.stringify({ type: "heartbeat", resources: figures }))).toThrow(message);
    });
  }
});

describe("API shapes", () => {
  test("node view and info response parse, null where Multipass gives nothing", () => {
    const node = { name: "n1", state: "Down", address: "h:1", lastSync: "2024-01-01T00:00:00.000Z", multipassVersion: null, workerVersion: "0.1.0", multipassError: null, staleSince: null, resources, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instanceCount: 0, labels: { role: "web" }, cordoned: null };
    expect(parseNodeView(node, "n")).toEqual(node as never);
    // A master before issue 16 sends no workerVersion: unknown, not an error; a wrong type is one.
    const { workerVersion: _, ...older } = node;
    expect(parseNodeView(older, "n").workerVersion).toBeNull();
    expect(() => parseNodeView({ ...node, workerVersion: 1 }, "n")).toThrow(/n\.workerVersion/);
    const cordoned = { ...node, cordoned: { since: "2024-01-01T00:00:01.000Z", reason: "disk swap" } };
    expect(parseNodeView(cordoned, "n")).toEqual(cordoned as never);
    expect(() => parseNodeView({ ...node, cordoned: { since: 1, reason: null } }, "n")).toThrow(/n\.cordoned\.since/);
    const busy = { ...node, state: "Ready", staleSince: "2024-01-01T00:00:05.000Z" };
    expect(parseNodeView(busy, "n")).toEqual(busy as never);
    const info = {
      instances: [{ node: "n1", name: "db", state: "Stopped", cpus: null, load: null, memory: { used: null, total: null }, disk: { used: null, total: null }, release: null, imageRelease: "22.04 LTS", ipv4: [] }],
      errors: [{ node: "n2", message: "timeout" }],
    };
    // An older master's answer has no imageHash: it reads as null.
    expect(parseInfoResponse(info)).toEqual({ ...info, instances: info.instances.map((i) => ({ ...i, imageHash: null })) } as never);
    const hashed = { ...info, instances: info.instances.map((i) => ({ ...i, imageHash: "ab".repeat(32) })) };
    expect(parseInfoResponse(hashed)).toEqual(hashed as never);
    expect(() => parseInfoResponse({ instances: [{ ...info.instances[0], cpus: "2" }], errors: [] })).toThrow(/cpus/);
  });

  test("error bodies", () => {
    expect(parseErrorBody({ error: { code: "E_AMBIGUOUS", message: "m", candidates: ["a@b"] } })).toEqual({ error: { code: "E_AMBIGUOUS", message: "m", candidates: ["a@b"] } });
    expect(parseErrorBody({ nope: 1 })).toBeNull();
    expect(parseErrorBody("text")).toBeNull();
  });
});
