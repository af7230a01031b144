import { describe, expect, test } from "bun:test";
import type { NodeView } from "../../lib/protocol/api.ts";
import type { AuditEvent } from "../../lib/protocol/audit.ts";
import { auditText, formatActionResult, formatAgo, formatAuditResult, formatLaunchEvent, formatPercent, fraction, instanceTone, nodeBars, nodeTone } from "../../lib/ui/format.ts";
import { launchBody, launchProgress } from "../../lib/ui/launch-form.ts";
import { mergeEvents, MAX_EVENTS } from "../../lib/ui/store.ts";

const GiB = 1024 ** 3;
const node: NodeView = {
  name: "n1",
  state: "Ready",
  address: "10.0.0.1:1339",
  lastSync: "2026-01-01T00:00:00.000Z",
  multipassVersion: "1.16.1",
  multipassError: null,
  staleSince: null,
  resources: { cpus: 4, load: [3.8, 1, 1], memory: { total: 16 * GiB, available: 4 * GiB }, disk: { total: 100 * GiB, available: 90 * GiB } },
  allocated: { cpus: 2, memory: 4 * GiB, disk: 20 * GiB, unknown: 0 },
  instanceCount: 2,
  labels: {},
  cordoned: null,
};

describe("the console's words", () => {
  test("node bars: load against CPUs, used memory and disk, what instances were given", () => {
    const bars = nodeBars(node);
    expect(bars.map((b) => `${b.kind} ${b.label}`)).toEqual(["usage CPU load", "usage Memory", "usage Disk", "allocation CPUs", "allocation Memory", "allocation Disk"]);
    expect(bars[0]).toMatchObject({ fraction: 0.95, level: "high", text: "3.80 of 4 CPUs" });
    expect(bars[1]).toMatchObject({ fraction: 0.75, level: "mid", text: "12.0GiB of 16.0GiB" });
    expect(bars[2]).toMatchObject({ fraction: 0.1, level: "low" });
    expect(bars[3]).toMatchObject({ fraction: 0.5, text: "2 of 4" });
  });

  test("fractions are clamped and unknown stays unknown", () => {
    expect(fraction(5, 4)).toBe(1);
    expect(fraction(1, 0)).toBeNull();
    expect(fraction(null, 4)).toBeNull();
    expect(formatPercent(null)).toBe("—");
    expect(formatPercent(0.456)).toBe("46%");
  });

  test("states have a tone", () => {
    expect(instanceTone("Running")).toBe("ok");
    expect(instanceTone("Starting")).toBe("busy");
    expect(instanceTone("Unknown")).toBe("warn");
    expect(nodeTone("NotReady")).toBe("warn");
    expect(nodeTone("Down")).toBe("bad");
  });

  test("how long ago", () => {
    const at = Date.parse("2026-01-01T00:00:00Z");
    expect(formatAgo("2026-01-01T00:00:00Z", at + 500)).toBe("just now");
    expect(formatAgo("2026-01-01T00:00:00Z", at + 42_000)).toBe("42 s ago");
    expect(formatAgo("2026-01-01T00:00:00Z", at + 5 * 60_000)).toBe("5 min ago");
    expect(formatAgo("2026-01-01T00:00:00Z", at + 3 * 3_600_000)).toBe("3 h ago");
    expect(formatAgo("not a time", at)).toBe("not a time");
  });

  test("launch events, action results and audit records as lines", () => {
    expect(formatLaunchEvent({ type: "placed", node: "n1", reason: "most free memory" })).toBe("Placed on n1: most free memory");
    expect(formatLaunchEvent({ type: "progress", node: "n1", phase: "Retrieving image", percent: 42.4, text: "" })).toBe("Retrieving image 42%");
    expect(formatLaunchEvent({ type: "launched", node: "n1", name: "web", state: "Running", ipv4: ["10.0.0.9"] })).toBe("Launched web@n1: Running, 10.0.0.9");
    expect(formatLaunchEvent({ type: "error", code: "E_CONFLICT", message: 'Instance "web" exists' })).toBe('Failed: Instance "web" exists');
    expect(formatActionResult("stop", { node: "n1", name: "web", ok: true, state: "Stopped", error: null })).toBe("web@n1: stop done (Stopped)");
    expect(formatActionResult("stop", { node: "n1", name: "web", ok: false, state: null, error: { code: "E_MULTIPASS", message: "boom" } })).toBe("web@n1: stop failed: boom");
    const done: AuditEvent = { id: 3, time: "2026-01-01T00:00:00Z", requestId: "r", phase: "done", token: "abc", action: "shell", node: "n1", instance: "web", result: "ok", exitCode: 0 };
    expect(formatAuditResult(done)).toBe("ok (exit 0)");
    expect(formatAuditResult({ ...done, result: "error", error: { code: "E_TIMEOUT", message: "slow" } })).toBe("error: slow");
    expect(auditText(done)).toContain("shell");
  });

  test("the launch body leaves empty fields to the master's defaults and passes the rest for it to judge", () => {
    const empty = { name: "", image: "", cpus: "", memory: "", disk: "", cloudInit: "  ", node: "" };
    expect(launchBody(empty, true)).toEqual({ dryRun: true });
    expect(launchBody({ ...empty, name: " web ", cpus: "2", memory: "2G", node: "n1", cloudInit: "#cloud-config\n" }, false)).toEqual({ dryRun: false, name: "web", cpus: 2, memory: "2G", node: "n1", cloudInit: "#cloud-config\n" });
    expect(launchBody({ ...empty, cpus: "two" }, true)).toEqual({ dryRun: true, cpus: "two" });
    expect(launchProgress("Retrieving image", 50)).toBeCloseTo(0.35);
    expect(launchProgress("Something new", null)).toBeNull();
  });

  test("the events kept are unique, newest first and bounded", () => {
    const ev = (id: number): AuditEvent => ({ id, time: "2026-01-01T00:00:00Z", requestId: "r", phase: "requested", token: "t", action: "start", node: null, instance: null });
    expect(mergeEvents([ev(2), ev(1)], [ev(3), ev(2)]).map((e) => e.id)).toEqual([3, 2, 1]);
    const many = mergeEvents([], Array.from({ length: MAX_EVENTS + 50 }, (_, i) => ev(i + 1)));
    expect(many).toHaveLength(MAX_EVENTS);
    expect(many[0]!.id).toBe(MAX_EVENTS + 50);
  });
});
