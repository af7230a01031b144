/**
 * The worker's identity: the key pair that makes its node name its own. The
 * master pins the public key at the first join and refuses that name to any
 * other key until an operator removes the node, so the private key stays in
 * the worker's data dir (mode 0600, written whole or not at all) and is
 * reused by every later start under that name.
 */
import { chmodSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AppError, errnoOf, messageOf } from "../core/errors.ts";
import { generateNodeKey, nodeKeyFromPem, type NodeKey } from "../net/node-key.ts";
import { writeAtomically } from "../net/tokens.ts";

/** Where the worker named `name` keeps its key: one file per node name, as two workers may share a host. */
export function identityPath(dataDir: string, name: string): string {
  return join(dataDir, `worker-${name}.key`);
}

/**
 * The key of node `name` from `dataDir`, created there on first use.
 * @returns the key, its file, and whether it was created now.
 * @throws AppError E_STORAGE when the file cannot be read or written;
 *   E_USAGE when it holds something other than an Ed25519 private key (it is
 *   left for the operator: replacing it would be a new identity).
 */
export function loadOrCreateIdentity(dataDir: string, name: string): { key: NodeKey; path: string; created: boolean } {
  const path = identityPath(dataDir, name);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const pem = readExisting(path);
    if (pem !== null) {
      chmodSync(path, 0o600);
      return { key: nodeKeyFromPem(pem, `The node key "${path}"`), path, created: false };
    }
    const fresh = generateNodeKey();
    writeAtomically(path, fresh.pem);
    return { key: fresh.key, path, created: true };
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError("E_STORAGE", `Cannot create the node key "${path}": ${messageOf(error)}`, { cause: error });
  }
}

/** The PEM in `path`, or null when there is none (no file, or an empty one a cut-short write of an older version left). */
function readExisting(path: string): string | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return null;
    throw error;
  }
  return text.trim() === "" ? null : text;
}
