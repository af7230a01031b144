/**
 * How an environment's plan and the outcome of its apply or delete read on
 * a terminal (issue 17): the plan as a table (action, instance, node, why)
 * with each instance's drift under it, what an apply or delete is doing to
 * each instance while it runs, and the closing account of what exists, what
 * failed and why, and what was skipped. Every text from the master is
 * stripped of control characters here, before it is painted.
 */
import { stripControl } from "../core/format.ts";
import type { EnvironmentPlan, PlanAction, StepResult } from "../protocol/environments.ts";
import { renderTable, stateCell, type Cell, type Colors } from "./tables.ts";

const clean = (text: string) => stripControl(text).replace(/\s+/g, " ").trim();

/** The colour of an action in the plan: what adds is green, what removes red, what stays plain. */
function actionCell(action: PlanAction, c: Colors): Cell {
  const paint = action === "launch" ? c.green : action === "remove" ? c.red : action === "start" ? c.cyan : undefined;
  return paint === undefined ? action : { text: action, paint };
}

/**
 * The plan as a table (Action, Instance, Node, State, After, Reason), each
 * instance's drift on lines under its reason, the plan's notes, and a
 * closing count. Never cut to the terminal's width: the reasons are what a
 * plan is read for, so a long one wraps rather than lose its end.
 */
export function formatPlan(plan: EnvironmentPlan, c: Colors): string {
  const rows: Cell[][] = [];
  for (const step of plan.steps) {
    const after = step.after.length === 0 ? "--" : clean(step.after.join(","));
    rows.push([actionCell(step.action, c), clean(step.name), clean(step.node ?? "--"), step.state === null ? "--" : stateCell(clean(step.state), c), after, clean(step.reason)]);
    // Under its reason: the last column is not padded, so a long drift does not widen the others.
    for (const drift of step.drift) rows.push(["", "", "", "", "", { text: `drift: ${clean(drift)}`, paint: c.yellow }]);
  }
  const header = `Plan of environment "${clean(plan.environment)}":\n`;
  const table = rows.length === 0 ? "  (no instances)\n" : renderTable(["Action", "Instance", "Node", "State", "After", "Reason"], rows, c);
  const notes = plan.notes.map((n) => `${c.yellow("note")}: ${clean(n)}\n`).join("");
  return header + table + notes + planSummary(plan) + "\n";
}

/** What a plan changes, counted: `2 to launch, 1 to remove, 3 unchanged`; or that nothing is to be done. */
export function planSummary(plan: EnvironmentPlan): string {
  const count = (action: PlanAction) => plan.steps.filter((s) => s.action === action).length;
  const drifted = plan.steps.filter((s) => s.drift.length > 0).length;
  const drift = drifted > 0 ? ` (${drifted} with drift, not changed in place: recreate ${drifted === 1 ? "it" : "them"} to apply the file's sizes)` : "";
  if (!hasChanges(plan)) return `Nothing to launch: environment "${clean(plan.environment)}" is as the file says${drift}.`;
  const parts = [
    [count("launch"), "to launch"],
    [count("start"), "to start"],
    [count("wait"), "to wait for"],
    [count("remove"), "to remove"],
    [count("keep"), "unchanged"],
  ] as const;
  return (
    parts
      .filter(([n]) => n > 0)
      .map(([n, what]) => `${n} ${what}`)
      .join(", ") + `${drift}.`
  );
}

/** Whether an apply of the plan would change anything: launch, start, wait for or remove an instance. */
export function hasChanges(plan: EnvironmentPlan): boolean {
  return plan.steps.some((s) => s.action !== "keep");
}

/** The instances an apply of the plan would remove (a lowered count): what is asked before. */
export function removals(plan: EnvironmentPlan): string[] {
  return plan.steps.filter((s) => s.action === "remove").map((s) => `${clean(s.name)}${s.node === null ? "" : `@${clean(s.node)}`}`);
}

/** What an instance's step is doing, for the progress line: `lab-web: Retrieving image 40%`. */
export function stepText(step: { name: string; phase?: string; percent?: number | null; message?: string }, live: boolean): string {
  const what = step.phase ?? step.message ?? "started";
  const percent = live && step.percent !== undefined && step.percent !== null ? ` ${step.percent}%` : "";
  return clean(`${step.name}: ${what}${percent}`);
}

/** One instance's outcome as a line that stays: `launched lab-web on n1 (10.0.0.5)`, `failed …: why`, `skipped …`. */
export function resultLine(r: StepResult, c: Colors): string {
  const where = r.node === null ? "" : ` on ${clean(r.node)}`;
  const name = clean(r.name);
  if (r.skipped) return `${c.yellow("skipped")} ${name}${where}: ${clean(r.error?.message ?? "a step it waits for failed")}`;
  if (!r.ok) return `${c.red("failed")} ${name}${where}: ${clean(r.error?.message ?? "unknown error")}`;
  const address = r.ipv4.length > 0 ? ` (${clean(r.ipv4.join(", "))})` : "";
  return `${c.green(DONE[r.action])} ${name}${where}${address}`;
}

const DONE: Record<StepResult["action"], string> = {
  launch: "launched",
  keep: "kept",
  start: "started",
  wait: "ready",
  remove: "removed",
  delete: "deleted",
};

/**
 * The account an apply or delete ends with: what exists now (name, node,
 * state, address), what was deleted (recoverable) or is gone, what failed
 * and why, what was skipped; then what to do next when something went wrong.
 */
export function formatAccount(results: StepResult[], c: Colors, rerun: string): string {
  // Whatever has a state exists, whether its own step went well or not (a failed start leaves it Stopped).
  const exists = results.filter((r) => r.state !== null && r.state !== "Deleted");
  const failed = results.filter((r) => !r.ok && !r.skipped);
  const skipped = results.filter((r) => r.skipped);
  const why = (r: StepResult, otherwise: string) => clean(r.error?.message ?? otherwise);
  const sections: [string, [StepResult, string][]][] = [
    ["Exists", exists.map((r) => [r, [r.node, r.state, r.ipv4[0]].filter((x): x is string => typeof x === "string").map(clean).join(", ")])],
    [c.yellow("Deleted"), results.filter((r) => r.state === "Deleted").map((r) => [r, `${r.node === null ? "" : `${clean(r.node)}, `}recoverable until purged`])],
    ["Gone", results.filter((r) => r.ok && r.state === null).map((r) => [r, r.node === null ? "" : `was on ${clean(r.node)}`])],
    [c.red("Failed"), failed.map((r) => [r, `${r.node === null ? "" : `on ${clean(r.node)}: `}${why(r, "unknown error")}`])],
    [c.yellow("Skipped"), skipped.map((r) => [r, why(r, "a step it waits for failed")])],
  ];
  const width = Math.max(0, ...results.map((r) => clean(r.name).length));
  const lines = sections.filter(([, rows]) => rows.length > 0).flatMap(([title, rows]) => [`${title}:`, ...rows.map(([r, text]) => `  ${clean(r.name).padEnd(width)}   ${text}`.trimEnd())]);
  const ok = failed.length === 0 && skipped.length === 0;
  const steps = (n: number) => `${n} ${n === 1 ? "step" : "steps"}`;
  const head = ok ? `${c.green("Done")}: ${steps(results.length)} succeeded.` : `${c.red("Not done")}: ${failed.length} failed, ${skipped.length} skipped, ${results.length - failed.length - skipped.length} succeeded.`;
  if (!ok) lines.push(`Fix what failed and run "${rerun}" again: it goes on from here.`);
  return [head, ...lines].join("\n") + "\n";
}
