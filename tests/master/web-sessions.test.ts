import { describe, expect, test } from "bun:test";
import { createWebSessions, MAX_WEB_SESSIONS, WEB_SESSION_TTL_MS } from "../../lib/master/web-sessions.ts";

function setup(options: { max?: number } = {}) {
  let now = 1_000_000;
  const sessions = createWebSessions({ now: () => now, ...options });
  return { sessions, advance: (ms: number) => (now += ms), now: () => now };
}

describe("the console's login sessions", () => {
  test("a cookie value is 256 random bits in base64url, new at every login, and stands for its token's id for 12 hours", () => {
    const { sessions, advance, now } = setup();
    const a = sessions.create("0123456789ab");
    const b = sessions.create("0123456789ab");
    expect(a.cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.cookie, "base64url")).toHaveLength(32);
    expect(b.cookie).not.toBe(a.cookie);
    expect(a.session).toEqual({ tokenId: "0123456789ab", expiresAt: now() + WEB_SESSION_TTL_MS });
    expect(WEB_SESSION_TTL_MS).toBe(12 * 3600 * 1000);
    advance(WEB_SESSION_TTL_MS - 1);
    expect(sessions.find(a.cookie, "0123456789ab")).toEqual(a.session);
    advance(1);
    expect(sessions.find(a.cookie, "0123456789ab")).toBeNull();
    // An expired session is forgotten, not kept.
    expect(sessions.size).toBe(1);
  });

  test("bound to its token: another token's id does not find it; unknown values find nothing", () => {
    const { sessions } = setup();
    const { cookie } = sessions.create("0123456789ab");
    expect(sessions.find(cookie, "ba9876543210")).toBeNull();
    expect(sessions.find("x".repeat(43), "0123456789ab")).toBeNull();
    expect(sessions.find("", "0123456789ab")).toBeNull();
  });

  test("logout ends it at once, and only it", () => {
    const { sessions } = setup();
    const a = sessions.create("0123456789ab");
    const b = sessions.create("0123456789ab");
    expect(sessions.end(a.cookie)).toBe(true);
    expect(sessions.end(a.cookie)).toBe(false);
    expect(sessions.find(a.cookie, "0123456789ab")).toBeNull();
    expect(sessions.find(b.cookie, "0123456789ab")).not.toBeNull();
  });

  test("bounded: past the most, the oldest login is dropped; expired ones are swept at the next login", () => {
    expect(MAX_WEB_SESSIONS).toBe(1000);
    const { sessions, advance } = setup({ max: 3 });
    const made = [1, 2, 3, 4].map(() => sessions.create("0123456789ab").cookie);
    expect(sessions.size).toBe(3);
    expect(made.map((c) => sessions.find(c, "0123456789ab") !== null)).toEqual([false, true, true, true]);
    advance(WEB_SESSION_TTL_MS);
    sessions.create("0123456789ab");
    expect(sessions.size).toBe(1);
  });

});
