/**
 * The web console's login sessions: what a browser's `multiverse_session`
 * cookie stands for. A login with the API token creates one; it is bound to
 * that token's id, ends at logout or {@link WEB_SESSION_TTL_MS} after the
 * login, and lives only in the master's memory (a restarted master asks every
 * browser to log in again).
 *
 * The store keeps only a SHA-256 of each cookie value, so neither a lookup's
 * timing nor a dump of the map gives a usable cookie away; the values are
 * never logged. At most {@link MAX_WEB_SESSIONS} live at once: past that the
 * oldest login is dropped.
 */
import { createHash, randomBytes } from "node:crypto";

/** How long a browser session lasts after its login: 12 hours. */
export const WEB_SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/** Most browser sessions kept at once; the oldest is dropped past it. */
export const MAX_WEB_SESSIONS = 1000;

/** One browser session, as the store knows it. */
export interface WebSession {
  /** The id of the token it was logged in with. */
  tokenId: string;
  /** When it ends (ms since the epoch). */
  expiresAt: number;
}

export interface WebSessions {
  /**
   * A new session for `tokenId`.
   * @returns the cookie value (256 random bits, base64url), to give to the
   *   browser and never keep, and the session.
   */
  create(tokenId: string): { cookie: string; session: WebSession };
  /**
   * The live session of a cookie value bound to `tokenId`, or null when there
   * is none: unknown, ended, expired (then forgotten) or bound to another token.
   */
  find(cookie: string, tokenId: string): WebSession | null;
  /** Ends the session of a cookie value; false when there was none. */
  end(cookie: string): boolean;
  /** Sessions held now (expired ones included until they are swept). */
  readonly size: number;
}

export function createWebSessions(options: { now?: () => number; ttlMs?: number; max?: number } = {}): WebSessions {
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlMs ?? WEB_SESSION_TTL_MS;
  const max = options.max ?? MAX_WEB_SESSIONS;
  // Insertion order is login order, and every session lasts ttlMs: the oldest expires first.
  const sessions = new Map<string, WebSession>();

  const sweep = () => {
    const t = now();
    for (const [key, session] of sessions) {
      if (session.expiresAt > t) break;
      sessions.delete(key);
    }
  };

  return {
    create(tokenId) {
      sweep();
      const cookie = randomBytes(32).toString("base64url");
      const session: WebSession = { tokenId, expiresAt: now() + ttlMs };
      sessions.set(keyOf(cookie), session);
      for (const key of sessions.keys()) {
        if (sessions.size <= max) break;
        sessions.delete(key);
      }
      return { cookie, session };
    },
    find(cookie, tokenId) {
      const key = keyOf(cookie);
      const session = sessions.get(key);
      if (!session) return null;
      if (session.expiresAt <= now()) {
        sessions.delete(key);
        return null;
      }
      return session.tokenId === tokenId ? session : null;
    },
    end(cookie) {
      return sessions.delete(keyOf(cookie));
    },
    get size() {
      return sessions.size;
    },
  };
}

/** What the store keys a session by: the hash of its cookie value, never the value. */
function keyOf(cookie: string): string {
  return createHash("sha256").update(cookie).digest("base64url");
}
