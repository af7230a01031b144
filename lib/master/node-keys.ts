/**
 * The node keys the master has pinned: trust on first use. The first node to
 * join under a name binds that name to its public key; from then on a join
 * under that name with any other key is refused, across master restarts
 * (the pins live in `<data-dir>/node-keys.json`), until an operator removes
 * the node (`DELETE /api/v1/nodes/:name`), which forgets its key. A node
 * dropped at the end of its Down grace keeps its pin: only an operator
 * hands a name to another host.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AppError, errnoOf, messageOf } from "../core/errors.ts";
import { field, object, parseJson, string, type Json } from "../core/parse.ts";
import { validateNodeName } from "../core/validate.ts";
import { writeAtomically } from "../net/tokens.ts";
import { parsePublicKey } from "../protocol/identity.ts";

/** Most names pinned at once: joins under further new names are refused until nodes are removed. */
export const MAX_PINNED_NODES = 10_000;

/** What a pin did: a new pin, the key already pinned, or a refusal (another key holds the name). */
export type PinOutcome = "pinned" | "known" | "other";

export interface NodeKeys {
  /** The key pinned for `name`, or null. */
  get(name: string): string | null;
  /**
   * Pins `publicKey` for `name` unless another key holds it; a new pin is
   * saved before this returns.
   * @throws AppError E_STORAGE when a new pin cannot be saved (nothing is
   *   pinned then); E_CONFLICT when {@link MAX_PINNED_NODES} names are pinned.
   */
  pin(name: string, publicKey: string): PinOutcome;
  /** Forgets the key of `name`; @returns whether one was pinned. @throws AppError E_STORAGE (nothing forgotten then) */
  forget(name: string): boolean;
}

/** Where the master keeps the pins. */
export function nodeKeysPath(dataDir: string): string {
  return join(dataDir, "node-keys.json");
}

interface Pin {
  publicKey: string;
  pinnedAt: string;
}

/**
 * The pins saved in `path` (none when it does not exist yet), saved back
 * there on every change; `path` null keeps them in memory only (tests).
 * @throws AppError E_STORAGE when the file cannot be read or is not a pin
 *   file: the master must not start and forget who its nodes are.
 */
export function loadNodeKeys(path: string | null, now: () => number = Date.now): NodeKeys {
  const pins = path === null ? new Map<string, Pin>() : readPins(path);
  const save = (): void => {
    if (path === null) return;
    const nodes: Record<string, Pin> = Object.fromEntries(pins);
    try {
      writeAtomically(path, `${JSON.stringify({ nodes }, null, 1)}\n`);
    } catch (error) {
      throw new AppError("E_STORAGE", `Cannot save the node keys to "${path}": ${messageOf(error)}`, { cause: error });
    }
  };
  return {
    get: (name) => pins.get(name)?.publicKey ?? null,
    pin(name, publicKey) {
      const known = pins.get(name);
      if (known) return known.publicKey === publicKey ? "known" : "other";
      if (pins.size >= MAX_PINNED_NODES) {
        throw new AppError("E_CONFLICT", `Cannot admit node "${name}": the master knows ${MAX_PINNED_NODES} nodes already; remove the ones that are gone`);
      }
      pins.set(name, { publicKey, pinnedAt: new Date(now()).toISOString() });
      try {
        save();
      } catch (error) {
        pins.delete(name);
        throw error;
      }
      return "pinned";
    },
    forget(name) {
      const known = pins.get(name);
      if (!known) return false;
      pins.delete(name);
      try {
        save();
      } catch (error) {
        pins.set(name, known);
        throw error;
      }
      return true;
    },
  };
}

function readPins(path: string): Map<string, Pin> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return new Map();
    throw new AppError("E_STORAGE", `Cannot read the node keys "${path}": ${messageOf(error)}`, { cause: error });
  }
  try {
    const nodes = field(object(parseJson(text, "node keys"), "node keys"), "nodes", "node keys", object);
    return new Map(Object.entries(nodes).map(([name, value]) => [validateNodeName(name), parsePin(value, `nodes.${name.slice(0, 64)}`)]));
  } catch (error) {
    throw new AppError("E_STORAGE", `The node keys "${path}" are damaged (${messageOf(error)}); restore the file, or remove it to forget every node's key`, { cause: error });
  }
}

function parsePin(value: Json, path: string): Pin {
  const o = object(value, path);
  return { publicKey: field(o, "publicKey", path, parsePublicKey), pinnedAt: field(o, "pinnedAt", path, string) };
}
