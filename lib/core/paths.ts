/**
 * Per-user locations. Pure: callers pass the platform, environment and home.
 */
import { join } from "node:path";

/** The master's default data directory (tokens, audit log): the platform's per-user data place. */
export function defaultDataDir(platform: NodeJS.Platform, env: Record<string, string | undefined>, home: string): string {
  if (platform === "win32") return join(env["APPDATA"] ?? join(home, "AppData", "Roaming"), "multiverse");
  if (platform === "darwin") return join(home, "Library", "Application Support", "multiverse");
  return join(env["XDG_DATA_HOME"] || join(home, ".local", "share"), "multiverse");
}
