/**
 * Pure argv builders of the snapshot commands (CONTRACT.md §4.1, §4.8; upstream's
 * src/client/cli/cmd/{snapshot,restore,delete}.cpp), part of `buildArgv` in cli.ts.
 * Names are validated first and positionals follow `--`.
 * @throws AppError E_USAGE on an invalid instance or snapshot name or comment.
 */
import { usageError } from "../core/errors.ts";
import { validateInstanceName } from "../core/validate.ts";
import { validateSnapshotComment, validateSnapshotName } from "../protocol/snapshots.ts";

export const snapshotArgv = {
  snapshots: (): string[] => ["list", "--snapshots", "--format", "json"],
  /** The comment goes as `--comment=TEXT`, so a comment that starts with "-" is not read as an option. */
  snapshot: (instance: string, options: { name?: string; comment?: string } = {}): string[] => [
    "snapshot",
    ...(options.name === undefined ? [] : ["--name", validateSnapshotName(options.name)]),
    ...(options.comment === undefined ? [] : [`--comment=${validateSnapshotComment(options.comment)}`]),
    "--",
    validateInstanceName(instance),
  ],
  restore: (instance: string, snapshot: string): string[] => [
    "restore",
    "--destructive",
    "--",
    `${validateInstanceName(instance)}.${validateSnapshotName(snapshot)}`,
  ],
  deleteSnapshots: (instance: string, snapshots: readonly string[]): string[] => {
    if (snapshots.length === 0) throw usageError("multipass delete needs at least one snapshot name");
    const name = validateInstanceName(instance);
    return ["delete", "--purge", "--", ...snapshots.map((snapshot) => `${name}.${validateSnapshotName(snapshot)}`)];
  },
};
