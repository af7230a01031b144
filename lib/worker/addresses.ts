/**
 * Cheap listing for the host monitor. A plain `multipass list` SSHes into
 * every running instance for its addresses (CONTRACT.md §3.3, §4.1): polled
 * every 2 s with 20 running VMs, that is 600 SSH commands a minute on the
 * host, forever. So a poll lists with `--no-ipv4` (no SSH), keeps each
 * instance's addresses from the last lookup, and looks them up again
 * (a plain `list`) only when they may have changed: an instance is running
 * in a state it was not in at the last poll (launched, started, resumed), or
 * the last lookup is older than the refresh interval. A `multipass info`
 * (the API's live figures) reads them afresh on demand anyway.
 */
import type { ConsolaInstance } from "consola";
import type { InstanceState, InstanceSummary } from "../protocol/instances.ts";
import { MultipassError, type CallOptions, type Multipass } from "../multipass/driver.ts";

/** "on-change": addresses looked up only when due (the default); "every-poll": a plain `list` each poll, as before. */
export type AddressLookup = "on-change" | "every-poll";

/** A running instance's addresses are looked up again at most this often when nothing changed. */
export const ADDRESS_REFRESH_MS = 30_000;

export interface AddressBookDeps {
  multipass: Multipass;
  log: ConsolaInstance;
  /** Default "on-change". */
  mode?: AddressLookup;
  /** Default {@link ADDRESS_REFRESH_MS}. */
  refreshMs?: number;
  now?: () => number;
}

export interface AddressBook {
  /**
   * The host's instances, with addresses: from a plain `list` when a lookup
   * is due, else from `list --no-ipv4` with each running instance's last
   * known addresses. `previous` is the last listing (null before the first).
   * @throws MultipassError as {@link Multipass.list} does.
   */
  list(previous: readonly InstanceSummary[] | null, options: CallOptions): Promise<InstanceSummary[]>;
}

/** Only these states have addresses (CONTRACT.md §2.3: IPs are collected only then). */
function hasAddresses(state: InstanceState): boolean {
  return state === "Running" || state === "Delayed Shutdown";
}

export function createAddressBook(deps: AddressBookDeps): AddressBook {
  const { multipass, log, mode = "on-change", refreshMs = ADDRESS_REFRESH_MS, now = Date.now } = deps;
  let lookedUpAt = -Infinity;
  /** Cleared when this Multipass refuses `--no-ipv4` (older than 1.7): every poll is a lookup then. */
  let noIpv4 = true;

  async function lookUp(options: CallOptions): Promise<InstanceSummary[]> {
    const started = now();
    const listed = await multipass.list(options);
    lookedUpAt = started;
    return listed;
  }

  async function states(options: CallOptions): Promise<InstanceSummary[] | null> {
    try {
      return await multipass.list({ ...options, noIpv4: true });
    } catch (error) {
      if (!(error instanceof MultipassError) || error.kind !== "command-line") throw error;
      noIpv4 = false;
      log.warn(`multipass refuses list --no-ipv4 (${error.message}); every poll looks addresses up from now on`);
      return null;
    }
  }

  return {
    async list(previous, options) {
      if (mode === "every-poll" || !noIpv4 || previous === null || now() - lookedUpAt >= refreshMs) return lookUp(options);
      const listed = await states(options);
      if (listed === null) return lookUp(options);
      const before = new Map(previous.map((i) => [i.name, i]));
      // Launched, started, resumed, restarted out of another state: its addresses are new.
      const changed = listed.some((i) => hasAddresses(i.state) && before.get(i.name)?.state !== i.state);
      if (changed) return lookUp(options);
      return listed.map((i) => (hasAddresses(i.state) ? { ...i, ipv4: before.get(i.name)?.ipv4 ?? [] } : i));
    },
  };
}
