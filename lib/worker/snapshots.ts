/**
 * Snapshots of the worker's instances (issue 15), and their agent routes:
 * - `GET /agent/v1/snapshots[?instance=NAME]` — `multipass list --snapshots`;
 * - `POST /agent/v1/snapshots/:instance` — body `{ name?, comment? }`: take one;
 * - `POST /agent/v1/snapshots/:instance/:snap/restore` — body `{ destructive? }`;
 * - `POST /agent/v1/snapshots/:instance/:snap/delete` — purge one.
 *
 * A change answers NDJSON: keepalives while Multipass works (a snapshot or a
 * restore copies a disk image on the daemon's one thread, like a stop: up to
 * its 300 s bound, CONTRACT.md §3.3), then one AgentSnapshotEvent with the
 * instance's snapshots after it. Changes take the instance's lock and the
 * host-wide daemon key, so they queue behind a stop of the same host as the
 * daemon would make them.
 *
 * A restore without `destructive` does what Multipass's own prompt does by
 * default (src/client/cli/cmd/restore.cpp): it keeps the current state in a
 * snapshot first (comment "Before restoring SNAP"), then restores. The
 * snapshot to restore is checked to exist first, so a restore that cannot be
 * done leaves no snapshot behind.
 */
import type { ConsolaInstance } from "consola";
import type { Context, Hono } from "hono";
import { AppError, toAppError } from "../core/errors.ts";
import type { KeyedLock } from "../core/keyed-lock.ts";
import { validateInstanceName } from "../core/validate.ts";
import { readBody } from "../net/http.ts";
import { streamedResponse } from "../net/stream.ts";
import type { BunEnv } from "../net/ws.ts";
import { MultipassError, type Multipass } from "../multipass/driver.ts";
import {
  parseRestoreSnapshotBody,
  parseTakeSnapshotBody,
  validateSnapshotName,
  type AgentSnapshotEvent,
  type AgentSnapshots,
  type RestoreSnapshotBody,
  type SnapshotSummary,
  type TakeSnapshotBody,
} from "../protocol/snapshots.ts";
import { DAEMON_KEY } from "./host-ops.ts";

const MAX_BODY_BYTES = 64 * 1024;

export interface SnapshotOpsDeps {
  multipass: Multipass;
  /** The lock host-ops takes per instance (and DAEMON_KEY for the whole host). */
  lock: KeyedLock;
  log: ConsolaInstance;
  node: string;
}

/** The end of a change: the snapshot it was about, the one a restore took first, and the instance's snapshots after it. */
export type SnapshotChange = Omit<Extract<AgentSnapshotEvent, { type: "done" }>, "type">;

export interface SnapshotOps {
  /** The host's snapshots, or one instance's. @throws AppError naming the node */
  list(instance: string | null, signal?: AbortSignal): Promise<SnapshotSummary[]>;
  /** @throws AppError naming the instance and the node (E_CONFLICT when it is not stopped, E_UNAVAILABLE without snapshot support) */
  take(instance: string, body: TakeSnapshotBody): Promise<SnapshotChange>;
  /** @throws AppError as `take`; E_NOT_FOUND for a snapshot the instance does not have */
  restore(instance: string, snapshot: string, body: RestoreSnapshotBody): Promise<SnapshotChange>;
  /** @throws AppError as `restore` */
  remove(instance: string, snapshot: string): Promise<SnapshotChange>;
}

export function createSnapshotOps(deps: SnapshotOpsDeps): SnapshotOps {
  const { multipass, lock, log, node } = deps;
  const fail = (verb: string, what: string, error: unknown): AppError => {
    const e = toAppError(error, "E_MULTIPASS");
    return new AppError(e.code, `Cannot ${verb} ${what} on node "${node}": ${e.message}`, { cause: error });
  };
  const listOf = async (instance: string | null, signal?: AbortSignal): Promise<SnapshotSummary[]> => {
    const all = await multipass.snapshots(signal ? { signal } : {});
    return instance === null ? all : all.filter((s) => s.instance === instance);
  };
  /** One change: the instance's lock, then the daemon's turn, then its snapshots after it. */
  const change = (verb: string, what: string, instance: string, work: () => Promise<{ snapshot: string; taken: string | null }>): Promise<SnapshotChange> =>
    lock.run(instance, async () => {
      let done: { snapshot: string; taken: string | null };
      try {
        done = await lock.run(DAEMON_KEY, work);
      } catch (error) {
        throw fail(verb, what, error);
      }
      log.info(`${verb} ${what}: done`);
      // The change is made; a listing that fails now must not turn it into a failure.
      const snapshots = await listOf(instance).catch(() => []);
      return { ...done, snapshots };
    });

  return {
    async list(instance, signal) {
      try {
        return await listOf(instance, signal);
      } catch (error) {
        throw fail("list", instance === null ? "snapshots" : `the snapshots of "${instance}"`, error);
      }
    },
    take: (instance, body) =>
      change("take", `a snapshot of "${instance}"`, instance, async () => {
        const { name } = await multipass.snapshot(instance, body);
        return { snapshot: name, taken: null };
      }),
    restore: (instance, snapshot, body) =>
      change("restore", `"${instance}.${snapshot}"`, instance, async () => {
        let taken: string | null = null;
        if (!body.destructive) {
          if (!(await listOf(instance)).some((s) => s.name === snapshot)) {
            throw new AppError("E_NOT_FOUND", `No such snapshot: ${instance}.${snapshot}`);
          }
          try {
            taken = (await multipass.snapshot(instance, { comment: `Before restoring ${snapshot}` })).name;
          } catch (error) {
            // Multipass's own reason for a restore, not the snapshot's it would give first.
            if (error instanceof MultipassError && error.kind === "not-stopped") {
              throw new AppError("E_CONFLICT", "Multipass can only restore snapshots of stopped instances.", { cause: error });
            }
            throw error;
          }
        }
        await multipass.restore(instance, snapshot);
        return { snapshot, taken };
      }),
    remove: (instance, snapshot) =>
      change("delete", `"${instance}.${snapshot}"`, instance, async () => {
        await multipass.deleteSnapshots(instance, [snapshot]);
        return { snapshot, taken: null };
      }),
  };
}

/** A change's answer: one event at the end, keepalives before it. */
function changeAnswer(work: () => Promise<SnapshotChange>): Response {
  return streamedResponse((out) =>
    work().then(
      (done) => out.write({ type: "done", ...done } satisfies AgentSnapshotEvent),
      (error) => {
        const e = toAppError(error);
        out.write({ type: "error", code: e.code, message: e.message } satisfies AgentSnapshotEvent);
      },
    ),
  );
}

function names(c: Context<BunEnv>): { instance: string; snapshot: string } {
  return { instance: validateInstanceName(c.req.param("instance")), snapshot: validateSnapshotName(c.req.param("snap")) };
}

export function registerSnapshotRoutes(app: Hono<BunEnv>, deps: { snapshots: SnapshotOps }): void {
  const { snapshots } = deps;
  app.get("/agent/v1/snapshots", async (c) => {
    const instance = c.req.query("instance");
    const body: AgentSnapshots = { snapshots: await snapshots.list(instance === undefined ? null : validateInstanceName(instance), c.req.raw.signal) };
    return c.json(body);
  });
  app.post("/agent/v1/snapshots/:instance", async (c) => {
    const instance = validateInstanceName(c.req.param("instance"));
    const body = await readBody(c, MAX_BODY_BYTES, parseTakeSnapshotBody);
    return changeAnswer(() => snapshots.take(instance, body));
  });
  app.post("/agent/v1/snapshots/:instance/:snap/restore", async (c) => {
    const { instance, snapshot } = names(c);
    const body = await readBody(c, MAX_BODY_BYTES, parseRestoreSnapshotBody);
    return changeAnswer(() => snapshots.restore(instance, snapshot, body));
  });
  app.post("/agent/v1/snapshots/:instance/:snap/delete", (c) => {
    const { instance, snapshot } = names(c);
    return changeAnswer(() => snapshots.remove(instance, snapshot));
  });
}
