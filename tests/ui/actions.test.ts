import { describe, expect, test } from "bun:test";
import { actionsFor, anyAccepts, confirmationFor, PAGE_ACTIONS } from "../../lib/ui/actions.ts";
import { INSTANCE_STATES } from "../../lib/protocol/instances.ts";

describe("the lifecycle verbs offered", () => {
  test("by state: what Multipass would do, not refuse or ignore", () => {
    const offered = (state: (typeof INSTANCE_STATES)[number]) => PAGE_ACTIONS.filter((a) => actionsFor(state).has(a));
    expect(offered("Running")).toEqual(["stop", "restart", "suspend", "delete"]);
    expect(offered("Stopped")).toEqual(["start", "delete"]);
    expect(offered("Suspended")).toEqual(["start", "delete"]);
    expect(offered("Starting")).toEqual(["delete"]);
    expect(offered("Unknown")).toEqual(["stop", "delete"]);
    // Delete is always there: a deleted instance can still be purged.
    for (const state of INSTANCE_STATES) expect(actionsFor(state).has("delete")).toBe(true);
  });

  test("for a selection: a verb any selected instance takes; none for an empty selection", () => {
    expect(anyAccepts("start", ["Running", "Stopped"])).toBe(true);
    expect(anyAccepts("start", ["Running", "Running"])).toBe(false);
    expect(anyAccepts("stop", ["Stopped", "Suspended"])).toBe(false);
    expect(PAGE_ACTIONS.filter((a) => anyAccepts(a, []))).toEqual([]);
  });

  test("a delete's confirmation says a purge cannot be undone, the plain one that it can", () => {
    const one = confirmationFor("delete", ["web@n1"])!;
    expect(one).toMatchObject({ purge: true, danger: true, message: "It can be recovered until it is purged." });
    expect(one.purgeMessage).toBe("It is removed for good and cannot be recovered.");
    const two = confirmationFor("delete", ["web@n1", "db@n1"])!;
    expect(two.purgeMessage).toBe("web@n1, db@n1. They are removed for good and cannot be recovered.");
    expect(confirmationFor("stop", ["web@n1"])?.purgeMessage).toBeUndefined();
    expect(confirmationFor("start", ["web@n1"])).toBeNull();
  });
});
