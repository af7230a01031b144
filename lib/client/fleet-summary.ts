/**
 * The summary of a fleet exec (issue 15): who succeeded, who failed with
 * which status, who timed out, who could not be reached, who was skipped
 * (not Running) — as lines on stderr, or as the last object of `--json`.
 */
import { stripControl } from "../core/format.ts";
import type { FleetResult } from "./fleet-output.ts";
import type { Colors } from "./tables.ts";

/** An instance that was not run, and its state. */
export interface Skipped {
  instance: string;
  node: string;
  state: string;
}

/** The last line of `--json`. */
export interface FleetSummary {
  summary: {
    ok: string[];
    failed: { instance: string; exitCode: number | null; error?: string }[];
    timedOut: string[];
    unreachable: { instance: string; error: string }[];
    interrupted: string[];
    skipped: { instance: string; state: string }[];
  };
}

const label = (r: { instance: string; node: string }) => `${r.instance}@${r.node}`;

/** The results sorted into the summary's groups, each in the order of `results`. */
export function summarize(results: readonly FleetResult[], skipped: readonly Skipped[]): FleetSummary {
  const of = (outcome: FleetResult["outcome"]) => results.filter((r) => r.outcome === outcome);
  return {
    summary: {
      ok: of("ok").map(label),
      failed: of("failed").map((r) => ({ instance: label(r), exitCode: r.exitCode, ...(r.error === null ? {} : { error: r.error }) })),
      timedOut: of("timeout").map(label),
      unreachable: of("unreachable").map((r) => ({ instance: label(r), error: r.error ?? "unknown" })),
      interrupted: of("interrupted").map(label),
      skipped: skipped.map((s) => ({ instance: label(s), state: s.state })),
    },
  };
}

/** The summary as lines for stderr; a group with nobody in it is left out. */
export function formatSummary({ summary: s }: FleetSummary, c: Colors): string {
  const lines: string[] = [];
  const add = (title: string, paint: (t: string) => string, items: string[]) => {
    if (items.length > 0) lines.push(`${paint(`${title} ${items.length}`)}: ${stripControl(items.join(", "))}`);
  };
  add("ok", c.green, s.ok);
  add("failed", c.red, s.failed.map((f) => `${f.instance} (${f.exitCode === null ? (f.error ?? "no status") : `exit ${f.exitCode}`})`));
  add("timed out", c.red, s.timedOut);
  add("unreachable", c.red, s.unreachable.map((u) => `${u.instance} (${u.error})`));
  add("interrupted", c.yellow, s.interrupted);
  add("skipped", c.yellow, s.skipped.map((k) => `${k.instance} (${k.state})`));
  return lines.map((l) => l + "\n").join("");
}

/** Whether every instance that was run succeeded. */
export function allSucceeded(results: readonly FleetResult[]): boolean {
  return results.every((r) => r.outcome === "ok");
}
