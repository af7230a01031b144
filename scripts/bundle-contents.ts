/**
 * What each role's executable carries: the folders of lib/ its bundle pulls
 * in. The client must not carry the Multipass driver or the worker's session
 * host; the worker must not carry the client's commands; the master neither.
 * The build prints the list for every role and fails on a forbidden folder;
 * tests/architecture.test.ts checks it too.
 */
import { resolve } from "node:path";

export const ROLES = ["master", "worker", "client"] as const;
export type Role = (typeof ROLES)[number];

/** Folders of lib/ that a role's executable must not contain. */
export const FORBIDDEN_FOLDERS: Record<Role, readonly string[]> = {
  master: ["worker", "client", "multipass", "sim"],
  worker: ["master", "client"],
  client: ["master", "worker", "multipass", "sim"],
};

const ROOT = resolve(import.meta.dir, "..");

/** The folders of lib/ (sorted) that the bundle of `role`'s entry pulls in. */
export async function libFoldersOf(role: Role): Promise<string[]> {
  const result = await Bun.build({ entrypoints: [resolve(ROOT, `${role}.ts`)], target: "bun", metafile: true });
  if (!result.success || result.metafile === undefined) {
    throw new Error(`Cannot bundle ${role}.ts: ${result.logs.map((l) => l.message).join("; ") || "no metafile"}`);
  }
  const folders = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const match = /(?:^|[\\/])lib[\\/]([^\\/]+)[\\/]/.exec(input.replaceAll("\\", "/"));
    if (match && !input.includes("node_modules")) folders.add(match[1]!);
  }
  return [...folders].sort();
}

/** The forbidden folders among `folders` for `role`. */
export function forbiddenIn(role: Role, folders: readonly string[]): string[] {
  return folders.filter((f) => FORBIDDEN_FOLDERS[role].includes(f));
}
