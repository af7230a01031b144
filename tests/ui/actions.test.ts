import { describe, expect, test } from "bun:test";
import { confirmationFor } from "../../lib/ui/actions.ts";

describe("the confirmation of a lifecycle verb", () => {
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
