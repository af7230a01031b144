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

/**
 * Whether `entryPath` (the entry module's `import.meta.path`) lies inside a
 * compiled executable's embedded file system: `/$bunfs/…` on Linux and macOS,
 * `B:\~BUN\…` (or `B:/~BUN/…`) on Windows.
 */
export function isCompiledEntry(entryPath: string): boolean {
  return entryPath.startsWith("/$bunfs/") || /^[A-Za-z]:[\\/]~BUN[\\/]/.test(entryPath);
}

/**
 * The argv prefix that runs this program again: the executable alone when
 * compiled, else the runtime (bun) and the entry script.
 */
export function selfCommand(execPath: string, entryPath: string): string[] {
  return isCompiledEntry(entryPath) ? [execPath] : [execPath, entryPath];
}

/**
 * The client's config file (its contexts): `MULTIVERSE_CONFIG`, else
 * `config.yaml` in the platform's per-user config place
 * (`$XDG_CONFIG_HOME/multiverse`, `~/.config/multiverse`, `%APPDATA%\multiverse`).
 */
export function defaultConfigFile(platform: NodeJS.Platform, env: Record<string, string | undefined>, home: string): string {
  if (env["MULTIVERSE_CONFIG"]) return env["MULTIVERSE_CONFIG"];
  if (platform === "win32") return join(env["APPDATA"] ?? join(home, "AppData", "Roaming"), "multiverse", "config.yaml");
  return join(env["XDG_CONFIG_HOME"] || join(home, ".config"), "multiverse", "config.yaml");
}
