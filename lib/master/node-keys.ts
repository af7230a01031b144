/**
 * The node keys the master has pinned: trust on first use. The first node to
 * join under a name binds that name to its public key; from then on a join
 * under that name with any other key is refused, across master restarts
 * (the pins live in the `node_keys` table of the master's database,
 * database.ts), until an operator removes the node (`DELETE
 * /api/v1/nodes/:name`), which forgets its key. A node dropped at the end of
 * its Down grace keeps its pin: only an operator hands a name to another host.
 *
 * An older master kept the pins in `<data-dir>/node-keys.json`: on the first
 * start with an empty table they are imported, and the file is renamed
 * `node-keys.json.imported` (kept, never read again).
 */
import { existsSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { AppError, messageOf } from "../core/errors.ts";
import { field, object, parseJson, string, type Json } from "../core/parse.ts";
import { validateNodeName } from "../core/validate.ts";
import { parsePublicKey } from "../protocol/identity.ts";
import type { MasterDatabase } from "./database.ts";

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

/** Where an older master kept the pins: imported once (see above). */
export function nodeKeysPath(dataDir: string): string {
  return join(dataDir, "node-keys.json");
}

interface Pin {
  publicKey: string;
  pinnedMs: number;
}

export interface NodeKeysOptions {
  /** An older master's node-keys.json, imported when the table is empty. */
  importFrom?: string;
  warn?: (message: string) => void;
}

/**
 * The pins kept in `database` (read whole at start: at most
 * {@link MAX_PINNED_NODES}), written through on every change; `database`
 * null keeps them in memory only (tests, a registry built bare).
 * @throws AppError E_STORAGE when the table cannot be read, or the file to
 *   import is damaged: the master must not start and forget who its nodes are.
 */
export function loadNodeKeys(database: MasterDatabase | null, now: () => number = Date.now, options: NodeKeysOptions = {}): NodeKeys {
  const store = database === null ? null : pinTable(database, options);
  const pins = store?.read() ?? new Map<string, Pin>();
  const saving = (doing: string, name: string, write: () => void): void => {
    try {
      write();
    } catch (error) {
      throw new AppError("E_STORAGE", `Cannot ${doing} the key of node "${name}" in "${database?.path}": ${messageOf(error)}`, { cause: error });
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
      const pin = { publicKey, pinnedMs: now() };
      if (store) saving("save", name, () => store.insert(name, pin));
      pins.set(name, pin);
      return "pinned";
    },
    forget(name) {
      if (!pins.has(name)) return false;
      if (store) saving("forget", name, () => store.remove(name));
      pins.delete(name);
      return true;
    },
  };
}

/** The `node_keys` table: read whole, insert, delete; imports `options.importFrom` into an empty table. */
function pinTable(database: MasterDatabase, options: NodeKeysOptions) {
  const { db, path } = database;
  const insertQuery = db.query<unknown, { node: string; public_key: string; pinned_ms: number }>(
    "INSERT INTO node_keys (node, public_key, pinned_ms) VALUES ($node, $public_key, $pinned_ms)",
  );
  const insert = (node: string, pin: Pin) => void insertQuery.run({ node, public_key: pin.publicKey, pinned_ms: pin.pinnedMs });
  const read = (): Map<string, Pin> => {
    try {
      const rows = db.query<{ node: string; public_key: string; pinned_ms: number }, []>("SELECT node, public_key, pinned_ms FROM node_keys").all();
      return new Map(rows.map((r) => [r.node, { publicKey: r.public_key, pinnedMs: r.pinned_ms }]));
    } catch (error) {
      throw new AppError("E_STORAGE", `Cannot read the node keys in "${path}": ${messageOf(error)}`, { cause: error });
    }
  };
  const file = options.importFrom;
  if (file !== undefined && read().size === 0 && existsSync(file)) {
    const pins = readPins(file);
    try {
      db.transaction(() => pins.forEach((pin, node) => insert(node, pin)))();
      renameSync(file, `${file}.imported`);
    } catch (error) {
      throw new AppError("E_STORAGE", `Cannot import the node keys "${file}" into "${path}": ${messageOf(error)}`, { cause: error });
    }
    options.warn?.(`Node keys: imported ${pins.size} pin(s) from "${file}" (now ${file}.imported)`);
  }
  return { read, insert, remove: (node: string) => void db.query("DELETE FROM node_keys WHERE node = $node").run({ node }) };
}

function readPins(path: string): Map<string, Pin> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new AppError("E_STORAGE", `Cannot read the node keys "${path}": ${messageOf(error)}`, { cause: error });
  }
  try {
    const nodes = field(object(parseJson(text, "node keys"), "node keys"), "nodes", "node keys", object);
    return new Map(Object.entries(nodes).map(([name, value]) => [validateNodeName(name), parsePin(value, `nodes.${name.slice(0, 64)}`)]));
  } catch (error) {
    throw new AppError("E_STORAGE", `The node keys "${path}" are damaged (${messageOf(error)}); restore the file, or remove it to forget every node's key`, { cause: error });
  }
}

/** A pin of the file: its time as written (an ISO string); one that does not read as a time counts as now. */
function parsePin(value: Json, path: string): Pin {
  const o = object(value, path);
  const pinnedMs = Date.parse(field(o, "pinnedAt", path, string));
  return { publicKey: field(o, "publicKey", path, parsePublicKey), pinnedMs: Number.isFinite(pinnedMs) ? pinnedMs : Date.now() };
}
