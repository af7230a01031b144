import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import { parseLaunchRequest, parseLaunchSpec } from "../../lib/protocol/operations.ts";

/** The E_USAGE message `fn` throws. */
function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    expect(error.code).toBe("E_USAGE");
    return error.message;
  }
  throw new Error("expected an E_USAGE AppError, got none");
}

describe("launch networks (CONTRACT §4.3 --network)", () => {
  test("the API body carries the specs unchanged, in order", () => {
    const networks = ["bridged", "name=eth1,mode=manual,mac=52:54:00:12:34:56"];
    expect(parseLaunchRequest({ name: "web", networks })).toEqual({ name: "web", networks, dryRun: false });
  });

  test("no networks, or an empty list, leaves the field out", () => {
    expect(parseLaunchRequest({ name: "web" })).not.toHaveProperty("networks");
    expect(parseLaunchRequest({ name: "web", networks: [] })).not.toHaveProperty("networks");
  });

  test("the worker's launch spec takes them too", () => {
    expect(parseLaunchSpec({ name: "web", networks: ["eth1"] })).toEqual({ name: "web", networks: ["eth1"] });
  });

  test.each([
    [["name=eth1,mode=bridge"], `Invalid network spec "name=eth1,mode=bridge": Bad network mode 'bridge', need 'auto' or 'manual'`],
    [["name=eth1,mac=zz"], `Invalid network spec "name=eth1,mac=zz": Invalid MAC address: zz`],
    [["name=eth1,vlan=3"], `Invalid network spec "name=eth1,vlan=3": Bad network field: vlan`],
    [["mode=manual"], `Invalid network spec "mode=manual": Bad network definition, need at least a 'name' field`],
    [[7], "Invalid network spec 7: expected a string"],
    ["bridged", 'networks must be a list of network specs such as ["bridged"]'],
    [Array(9).fill("bridged"), "Too many networks (9; at most 8)"],
  ])("refuses %p", (networks, message) => {
    expect(usageMessage(() => parseLaunchRequest({ name: "web", networks }))).toBe(message);
    expect(usageMessage(() => parseLaunchSpec({ name: "web", networks }))).toBe(message);
  });
});
