/**
 * The on-disk side of snapshots: `<simdir>/instances/<name>/snapshots/<snap>/home`,
 * a copy of the instance home taken with the snapshot and copied back on restore
 * (symbolic links, such as mount links, are copied as links).
 */

import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ensureInstanceFiles, instanceFiles } from "./homes.ts";
import type { SimInstance } from "./state.ts";
import type { SimPaths } from "./store.ts";

function snapshotHome(paths: SimPaths, name: string, snapName: string): string {
  return join(instanceFiles(paths, name).dir, "snapshots", snapName, "home");
}

/** Copies the instance's home into the snapshot's directory (replacing a leftover one). */
export function copyHomeToSnapshot(paths: SimPaths, instance: SimInstance, snapName: string): void {
  const files = ensureInstanceFiles(paths, instance);
  const target = snapshotHome(paths, instance.name, snapName);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(join(target, ".."), { recursive: true });
  cpSync(files.home, target, { recursive: true, verbatimSymlinks: true });
}

/** Replaces the instance's home with the snapshot's copy (an empty home when the copy is gone). */
export function restoreHomeFromSnapshot(paths: SimPaths, instance: SimInstance, snapName: string): void {
  const home = instanceFiles(paths, instance.name).home;
  const source = snapshotHome(paths, instance.name, snapName);
  rmSync(home, { recursive: true, force: true });
  if (existsSync(source)) cpSync(source, home, { recursive: true, verbatimSymlinks: true });
  ensureInstanceFiles(paths, instance);
}

/** Removes one snapshot's files. */
export function removeSnapshotFiles(paths: SimPaths, name: string, snapName: string): void {
  rmSync(join(instanceFiles(paths, name).dir, "snapshots", snapName), { recursive: true, force: true });
}
