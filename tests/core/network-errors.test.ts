/**
 * describeNetworkError: what a user reads when a peer cannot be reached.
 * Bun's fetch errors carry advice phrased as questions; none of it may leak.
 */
import { describe, expect, test } from "bun:test";
import { describeNetworkError } from "../../lib/core/errors.ts";

/** An error shaped like the ones Bun's fetch throws (a TypeError with a `code`). */
function bunError(code: string, message: string): Error {
  return Object.assign(new TypeError(message), { code });
}

describe("describeNetworkError", () => {
  test.each([
    ["ECONNREFUSED", "ECONNREFUSED: Unable to connect. Is the computer able to access the url?", "connection refused"],
    ["ConnectionRefused", "Unable to connect. Is the computer able to access the url?", "connection refused"],
    ["FailedToOpenSocket", "Was there a typo in the url or port?", "cannot open a socket"],
    ["ConnectionClosed", "The socket connection was closed unexpectedly. For more information, pass `verbose: true` in the second argument to fetch()", "connection closed"],
    ["EHOSTUNREACH", "EHOSTUNREACH: Unable to connect. Is the computer able to access the url?", "host unreachable"],
    ["ENETUNREACH", "ENETUNREACH: Was there a typo in the url or port?", "network unreachable"],
    ["EPROTO", "EPROTO: The TLS handshake failed. Does the server speak TLS on this port?", "the TLS handshake failed"],
    ["ENOENT", "ENOENT: Was there a typo in the url or port?", "network error (ENOENT)"],
    ["ESOMETHINGNEW", "ESOMETHINGNEW: It broke. Is the computer able to access the url?", "It broke (ESOMETHINGNEW)"],
    ["DEPTH_ZERO_SELF_SIGNED_CERT", "self signed certificate", "self signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)"],
  ])("%s", (code, message, expected) => {
    expect(describeNetworkError(bunError(code, message))).toBe(expected);
  });

  test("no question from fetch's message ever comes through, whatever the code", () => {
    const advice = ["Is the computer able to access the url?", "Was there a typo in the url or port?", "Does the server speak TLS on this port?"];
    for (const code of ["EWHATEVER", "Unknown", "X"]) {
      for (const question of advice) {
        for (const message of [question, `${code}: ${question}`, `Failed. ${question}`, `${question} Then it failed.`]) {
          const text = describeNetworkError(bunError(code, message));
          expect(text).not.toContain("?");
          expect(text.length).toBeGreaterThan(0);
        }
      }
    }
    expect(describeNetworkError(new Error("Is the computer able to access the url?"))).toBe("network error");
  });

  test("a long message is cut short", () => {
    expect(describeNetworkError(new Error("x".repeat(1_000_000))).length).toBeLessThanOrEqual(200);
  });
});
