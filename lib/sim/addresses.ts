/**
 * Addresses of simulated instances: loopback addresses, so that a service an
 * instance runs (`exec web -- python3 -m http.server --bind ADDR 8080`) is really
 * reachable at the address `list` reports, as a VM's is from its host.
 *
 * All of 127.0.0.0/8 is local on Linux (`local 127.0.0.0/8 dev lo`). Each sim
 * directory owns a /24 of it, `127.A.B.0/24`, chosen by a hash of the directory's
 * real path, so that several simulated hosts running at once (one
 * MULTIPASS_SIM_DIR each) practically never hand out the same address: with n
 * hosts the chance that two share a block is about n²/130 000. Inside the block
 * addresses go from .2 to .254 in order, the first one no instance of this host
 * holds (deleted ones keep theirs until purged); a full block spills into the
 * next. 127.0.x.x is never used, so 127.0.0.1 stays everyone's localhost.
 */

import { createHash } from "node:crypto";
import { realpathSync } from "node:fs";
import type { SimState } from "./state.ts";

/** Second octets 1..254 times third octets 0..255. */
const BLOCKS = 254 * 256;
const FIRST_HOST = 2;
const LAST_HOST = 254;

/** The index (0 ≤ i < BLOCKS) of the /24 a sim directory starts from. */
export function homeBlock(simDir: string): number {
  let path = simDir;
  try {
    path = realpathSync(simDir);
  } catch {
    // A directory that cannot be resolved still gets a stable block from its name.
  }
  return createHash("sha256").update(path).digest().readUInt32BE(0) % BLOCKS;
}

/** `127.A.B` of block `index` (taken modulo the number of blocks). */
export function blockPrefix(index: number): string {
  const i = ((index % BLOCKS) + BLOCKS) % BLOCKS;
  return `127.${1 + Math.floor(i / 256)}.${i % 256}`;
}

/**
 * The first address of `simDir`'s block (then the blocks after it) that no
 * instance in `state` holds.
 * @throws Error when every block is full (never in practice).
 */
export function nextAddress(state: SimState, simDir: string): string {
  const used = new Set(state.instances.flatMap((instance) => instance.ipv4));
  const home = homeBlock(simDir);
  for (let offset = 0; offset < BLOCKS; offset++) {
    const prefix = blockPrefix(home + offset);
    for (let host = FIRST_HOST; host <= LAST_HOST; host++) {
      const candidate = `${prefix}.${host}`;
      if (!used.has(candidate)) return candidate;
    }
  }
  throw new Error("address pool exhausted");
}
