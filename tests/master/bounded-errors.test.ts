/**
 * Error answers quote a bounded prefix of what they refuse: a 1 MB name must
 * not come back as a 1 MB error body (nor end up whole in a terminal or a log).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { API, runCleanups, startMaster } from "../support/in-process.ts";
import { MAX_QUOTED_LENGTH, quoteValue, validateInstanceName } from "../../lib/core/validate.ts";

afterEach(runCleanups);

const HUGE = "a".repeat(1024 * 1024);
const HUGE_BAD = "-" + "x".repeat(1024 * 1024);

describe("error messages quote a bounded prefix of the input", () => {
  test("quoteValue keeps short values whole and cuts long ones with …", () => {
    expect(quoteValue("web")).toBe('"web"');
    expect(quoteValue("a".repeat(MAX_QUOTED_LENGTH))).toBe(JSON.stringify("a".repeat(MAX_QUOTED_LENGTH)));
    expect(quoteValue("a".repeat(MAX_QUOTED_LENGTH + 1))).toBe(`${JSON.stringify("a".repeat(MAX_QUOTED_LENGTH))}…`);
    expect(() => validateInstanceName(HUGE)).toThrow(/^Invalid instance name "a{64}"…: names must be at most 63 characters long$/);
  });

  test("a 1 MB name through the API gets an error body of bounded size", async () => {
    const m = startMaster();
    const auth = { authorization: `Bearer ${API}`, "content-type": "application/json" };
    const requests: [string, RequestInit][] = [
      [`/api/v1/instances/${HUGE}`, {}],
      [`/api/v1/instances/${HUGE_BAD}`, {}],
      [`/api/v1/instances/${HUGE}@n1`, {}],
      [`/api/v1/nodes/${HUGE}`, {}],
      [`/api/v1/nodes/${HUGE}`, { method: "DELETE" }],
      [`/api/v1/info?instance=${HUGE}`, {}],
      [`/api/v1/instances/${HUGE}/start`, { method: "POST", body: "{}" }],
      ["/api/v1/instances", { method: "POST", body: JSON.stringify({ name: HUGE }) }],
      ["/api/v1/instances", { method: "POST", body: JSON.stringify({ name: "web", image: HUGE }) }],
      ["/api/v1/instances", { method: "POST", body: JSON.stringify({ name: "web", memory: HUGE }) }],
    ];
    for (const [path, init] of requests) {
      const response = await m.master.apiApp.request(path, { ...init, headers: auth });
      const body = await response.text();
      expect({ path: path.slice(0, 40), status: response.status }).toMatchObject({ path: path.slice(0, 40), status: expect.any(Number) });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect({ path: path.slice(0, 40), bytes: body.length < 1024 }).toEqual({ path: path.slice(0, 40), bytes: true });
    }
  });
});
