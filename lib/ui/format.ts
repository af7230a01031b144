/**
 * How the console words and colours what the cluster reports. Pure: every
 * function takes values and returns text or a tone, never markup.
 */
import { formatBytes } from "../core/format.ts";
import type { NodeView } from "../protocol/api.ts";
import type { AuditEvent } from "../protocol/audit.ts";
import type { InstanceState } from "../protocol/instances.ts";
import type { NodeState } from "../protocol/join.ts";
import type { ActionResult, LaunchEvent } from "../protocol/operations.ts";

/** A badge's colour family; the badge always carries the state's words too. */
export type Tone = "ok" | "busy" | "off" | "warn" | "bad";

export function instanceTone(state: InstanceState): Tone {
  switch (state) {
    case "Running":
      return "ok";
    case "Starting":
    case "Restarting":
    case "Suspending":
    case "Delayed Shutdown":
      return "busy";
    case "Stopped":
    case "Suspended":
    case "Deleted":
      return "off";
    case "Unavailable":
      return "bad";
    case "Unknown":
      return "warn";
  }
}

export function nodeTone(state: NodeState): Tone {
  return state === "Ready" ? "ok" : state === "NotReady" ? "warn" : "bad";
}

/** used/total clamped to 0..1; null when it cannot be known. */
export function fraction(used: number | null, total: number | null): number | null {
  if (used === null || total === null || !Number.isFinite(used) || !Number.isFinite(total) || total <= 0) return null;
  return Math.min(1, Math.max(0, used / total));
}

export function formatPercent(f: number | null): string {
  return f === null ? "—" : `${Math.round(f * 100)}%`;
}

/** A resource bar: how full (0..1, null when unknown), its words, and whether it is high. */
export interface Bar {
  label: string;
  /** usage: what the host uses now (colours warn when high); allocation: what instances were given. */
  kind: "usage" | "allocation";
  fraction: number | null;
  text: string;
  level: "low" | "mid" | "high";
}

function bar(label: string, f: number | null, text: string, kind: Bar["kind"] = "usage"): Bar {
  return { label, kind, fraction: f, text, level: f === null || f < 0.7 ? "low" : f < 0.9 ? "mid" : "high" };
}

/** The bars of a node card: CPU load, memory and disk in use, and what its instances were given. */
export function nodeBars(node: NodeView): Bar[] {
  const { cpus, load, memory, disk } = node.resources;
  const memUsed = memory.total - memory.available;
  const diskUsed = disk.total - disk.available;
  const a = node.allocated;
  return [
    bar("CPU load", fraction(load[0], cpus), `${load[0].toFixed(2)} of ${cpus} CPU${cpus === 1 ? "" : "s"}`),
    bar("Memory", fraction(memUsed, memory.total), `${formatBytes(memUsed)} of ${formatBytes(memory.total)}`),
    bar("Disk", fraction(diskUsed, disk.total), `${formatBytes(diskUsed)} of ${formatBytes(disk.total)}`),
    bar("CPUs", fraction(a.cpus, cpus), `${a.cpus} of ${cpus}`, "allocation"),
    bar("Memory", fraction(a.memory, memory.total), `${formatBytes(a.memory)} of ${formatBytes(memory.total)}`, "allocation"),
    bar("Disk", fraction(a.disk, disk.total), `${formatBytes(a.disk)} of ${formatBytes(disk.total)}`, "allocation"),
  ];
}

/** `just now`, `12 s ago`, `3 min ago`, `2 h ago`, `4 d ago`; the time itself when it cannot be read. */
export function formatAgo(iso: string, nowMs: number): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso.slice(0, 40);
  const s = Math.round((nowMs - at) / 1000);
  if (s < 2) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** A local date and time for tables: `2026-12-02 14:03:07`. */
export function formatLocalTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso.slice(0, 40);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** One line of a launch's progress log. */
export function formatLaunchEvent(event: LaunchEvent): string {
  switch (event.type) {
    case "placed":
      return `Placed on ${event.node}: ${event.reason}`;
    case "progress":
      return event.percent === null ? `${event.phase}` : `${event.phase} ${Math.round(event.percent)}%`;
    case "launched":
      return `Launched ${event.name}@${event.node}: ${event.state}${event.ipv4.length > 0 ? `, ${event.ipv4.join(", ")}` : ""}`;
    case "error":
      return `Failed: ${event.message}`;
  }
}

/** One instance's outcome of an action, as a line. */
export function formatActionResult(action: string, result: ActionResult): string {
  const ref = `${result.name}@${result.node}`;
  if (!result.ok) return `${ref}: ${action} failed: ${result.error?.message ?? "no reason given"}`;
  return `${ref}: ${action} done${result.state === null ? "" : ` (${result.state})`}`;
}

/** The result column of an audit record. */
export function formatAuditResult(event: AuditEvent): string {
  if (event.phase === "requested") return "requested";
  if (event.result === "error") return `error: ${event.error?.message ?? "unknown"}`;
  return event.exitCode === undefined ? "ok" : `ok (exit ${event.exitCode})`;
}

/** The outcome of a request: its "done" record's result, or "pending" until there is one. */
export function formatRequestOutcome(done: AuditEvent | null): string {
  return done === null ? "pending" : formatAuditResult(done);
}

export function requestTone(done: AuditEvent | null): Tone {
  return done === null ? "busy" : done.result === "error" ? "bad" : "ok";
}

/** The text an events filter searches in a request: its record's who, what and when, and its outcome so far. */
export function auditText(record: AuditEvent, done: AuditEvent | null = record.phase === "done" ? record : null): string {
  return [record.action, record.node ?? "", record.instance ?? "", record.token, formatRequestOutcome(done), record.time].join("\n").toLowerCase();
}
