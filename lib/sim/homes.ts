/**
 * The on-disk side of a simulated instance: `<simdir>/instances/<name>/home` (the
 * `ubuntu` user's home, where exec and shell run), the shell's rcfile, and mount
 * targets under the home realised as symlinks to their host sources.
 */

import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { SimInstance, SimMount } from "./state.ts";
import type { SimPaths } from "./store.ts";

/** The guest's home directory of the default user. */
export const GUEST_HOME = "/home/ubuntu";

/** Files of one instance. */
export interface InstanceFiles {
  readonly dir: string;
  readonly home: string;
  readonly bashrc: string;
  /** The cloud-init document it was launched with (a guest's /var/lib/cloud/instance/user-data.txt). */
  readonly userData: string;
}

export function instanceFiles(paths: SimPaths, name: string): InstanceFiles {
  const dir = join(paths.instances, name);
  return { dir, home: join(dir, "home"), bashrc: join(dir, "bashrc"), userData: join(dir, "user-data") };
}

/**
 * Maps a path inside the guest to the simulated home: `/home/ubuntu/x` and
 * relative paths land in the instance home, other absolute paths stay as they are.
 */
export function guestPathToHost(files: InstanceFiles, guestPath: string): string {
  if (guestPath === GUEST_HOME || guestPath === "~") return files.home;
  if (guestPath.startsWith(`${GUEST_HOME}/`)) return join(files.home, guestPath.slice(GUEST_HOME.length + 1));
  if (guestPath.startsWith("~/")) return join(files.home, guestPath.slice(2));
  return guestPath.startsWith("/") ? guestPath : join(files.home, guestPath);
}

function mountLink(files: InstanceFiles, mount: SimMount): string | null {
  const host = guestPathToHost(files, mount.target);
  return host.startsWith(`${files.home}/`) ? host : null;
}

/** Creates the home, rcfile and mount links if missing (seeded instances get them lazily). */
export function ensureInstanceFiles(paths: SimPaths, instance: SimInstance): InstanceFiles {
  const files = instanceFiles(paths, instance.name);
  mkdirSync(files.home, { recursive: true });
  if (!existsSync(files.bashrc)) writeFileSync(files.bashrc, `PS1='ubuntu@${instance.name}:~$ '\n`);
  // What a login shell started by exec (bash -l) reads, as on an Ubuntu guest: ~/.profile sources ~/.bashrc.
  const profile = join(files.home, ".profile");
  if (!existsSync(profile)) writeFileSync(profile, 'if [ -n "$BASH_VERSION" ] && [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi\n');
  const rc = join(files.home, ".bashrc");
  if (!existsSync(rc)) writeFileSync(rc, `PS1='ubuntu@${instance.name}:\\w\\$ '\n`);
  for (const mount of instance.mounts) {
    const link = mountLink(files, mount);
    if (link === null || existsSync(link)) continue;
    try {
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(mount.source, link);
    } catch {
      // A mount the simulation cannot realise just stays invisible inside the instance.
    }
  }
  return files;
}

/** The guest directory to `cd` into for a host working directory inside a mount, if any. */
export function mappedWorkingDirectory(instance: SimInstance, hostCwd: string): string | null {
  for (const mount of instance.mounts) {
    if (hostCwd === mount.source || hostCwd.startsWith(`${mount.source}/`)) {
      return mount.target + hostCwd.slice(mount.source.length);
    }
  }
  return null;
}

/** Removes everything of a purged instance. */
export function removeInstanceFiles(paths: SimPaths, name: string): void {
  rmSync(instanceFiles(paths, name).dir, { recursive: true, force: true });
}
