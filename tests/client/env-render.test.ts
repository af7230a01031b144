/**
 * How an environment's plan and the account of its apply or delete read:
 * the counts, what exists (even after its own step failed), what was
 * deleted or is gone, and text from the master stripped of control characters.
 */
import { describe, expect, test } from "bun:test";
import { formatAccount, formatPlan, planSummary, removals } from "../../lib/client/env-render.ts";
import { colors } from "../../lib/client/tables.ts";
import type { EnvironmentPlan, PlanStep, StepResult } from "../../lib/protocol/environments.ts";

const c = colors(false);
const step = (name: string, action: PlanStep["action"], extra: Partial<PlanStep> = {}): PlanStep => ({ name, key: name, action, node: "n1", reason: "r", state: null, after: [], drift: [], ...extra });
const plan = (steps: PlanStep[]): EnvironmentPlan => ({ environment: "lab", steps, notes: [] });
const result = (name: string, extra: Partial<StepResult> = {}): StepResult => ({ name, node: "n1", action: "launch", ok: true, skipped: false, state: "Running", ipv4: [], error: null, ...extra });

describe("the plan", () => {
  test("counts what changes; nothing to launch when every instance is kept", () => {
    expect(planSummary(plan([step("a", "launch"), step("b", "start"), step("c", "remove"), step("d", "keep")]))).toBe("1 to launch, 1 to start, 1 to remove, 1 unchanged.");
    expect(planSummary(plan([step("a", "keep", { drift: ["cpus: 2 in the file, launched with 1"] })]))).toBe(
      'Nothing to launch: environment "lab" is as the file says (1 with drift, not changed in place: recreate it to apply the file\'s sizes).',
    );
  });

  test("removals are named NAME@NODE; the master's text loses its control characters", () => {
    expect(removals(plan([step("a", "remove", { node: "n2" }), step("b", "keep")]))).toEqual(["a@n2"]);
    const text = formatPlan(plan([step("a", "launch", { reason: "most room\u001b[2J\r" })]), c);
    expect(text).toContain("launch   a          n1     --      --      most room\n");
    expect(text).not.toContain("\u001b");
  });
});

describe("the account", () => {
  test("an instance whose start failed still exists; a delete's instances are Deleted, purged ones Gone", () => {
    const failedStart = result("web", { action: "start", ok: false, state: "Stopped", error: { code: "E_MULTIPASS", message: "start failed" } });
    expect(formatAccount([result("db", { ipv4: ["10.0.0.2"] }), failedStart], c, "multiverse apply -f lab.yaml")).toBe(
      [
        "Not done: 1 failed, 0 skipped, 1 succeeded.",
        "Exists:",
        "  db    n1, Running, 10.0.0.2",
        "  web   n1, Stopped",
        "Failed:",
        "  web   on n1: start failed",
        'Fix what failed and run "multiverse apply -f lab.yaml" again: it goes on from here.',
        "",
      ].join("\n"),
    );
    const deleted = [result("a", { action: "delete", state: "Deleted" }), result("b", { action: "delete", state: null })];
    expect(formatAccount(deleted, c, "multiverse delete -f lab.yaml")).toBe("Done: 2 steps succeeded.\nDeleted:\n  a   n1, recoverable until purged\nGone:\n  b   was on n1\n");
  });
});
