/**
 * An in-memory Multipass for unit tests: scriptable failures, a call log, and
 * a check that calls come in a legal order (no operation on an instance that
 * does not exist, no launch of a taken name).
 */
import { type InstanceInfo, type InstanceState, type InstanceSummary } from "../../lib/protocol/instances.ts";
import { MultipassError, type CallOptions, type Multipass } from "../../lib/multipass/driver.ts";
import type { SnapshotSummary } from "../../lib/protocol/snapshots.ts";
import { startExec } from "../../lib/multipass/exec.ts";

interface FakeInstance {
  name: string;
  state: InstanceState;
  cpus: number;
  memory: number;
  disk: number;
  ipv4: string[];
}

export interface FakeMultipass extends Multipass {
  instances: Map<string, FakeInstance>;
  calls: string[];
  /**
   * Address lookups so far: one per running instance of every `list`
   * without `noIpv4` (what the real daemon SSHes for, the stand-in's ssh.log).
   */
  addressLookups: number;
  /** Each `list`'s options, in order. */
  lists: { noIpv4: boolean; timeoutMs: number | undefined }[];
  /** Every instance's snapshots, oldest first, as `snapshot` took them (each the parent of the next). */
  snapshotsOf: Map<string, SnapshotSummary[]>;
  /**
   * The next calls of `method` fail with this error, or hang when "hang":
   * until the call is aborted, or its `timeoutMs` passes (then it fails as the
   * CLI driver's would, kind "timeout").
   */
  failNext(method: string, failure: MultipassError | "hang", times?: number): void;
  /** Fails every call until cleared. */
  failAll(failure: MultipassError | null): void;
  /**
   * Holds the next call of `method` as a busy daemon does (a list queued
   * behind a stop): it starts and waits until `release()`, then does its work.
   */
  hold(method: string): { release(): void; started: Promise<void> };
}

export function daemonDown(argv: string[] = ["multipass", "list"]): MultipassError {
  return new MultipassError({
    kind: "daemon-unreachable",
    message: "multipass list failed (exit 2): list failed: cannot connect to the multipass socket",
    argv,
    exitCode: 2,
    stderr: "list failed: cannot connect to the multipass socket\n",
  });
}

export function createFakeMultipass(seed: Partial<FakeInstance>[] = []): FakeMultipass {
  const instances = new Map<string, FakeInstance>();
  let ip = 2;
  for (const s of seed) {
    const name = s.name ?? `vm${instances.size}`;
    instances.set(name, { name, state: "Running", cpus: 1, memory: 1024 ** 3, disk: 5 * 1024 ** 3, ipv4: [`10.0.0.${ip++}`], ...s });
  }
  const calls: string[] = [];
  const lists: FakeMultipass["lists"] = [];
  const scripted = new Map<string, (MultipassError | "hang")[]>();
  const held = new Map<string, { gate: Promise<void>; started: () => void }[]>();
  let always: MultipassError | null = null;

  /** Never settles unless aborted or timed out, which reject as the driver's own would. */
  function hang(method: string, options: CallOptions = {}): Promise<never> {
    return new Promise((_, reject) => {
      const fail = (message: string) => reject(new MultipassError({ kind: "timeout", message, argv: [method], exitCode: null, stderr: "" }));
      options.signal?.addEventListener("abort", () => fail("aborted"));
      // Unref'd: a hold released long before its timeout must not keep a test process alive.
      if (options.timeoutMs !== undefined) setTimeout(() => fail(`multipass ${method} timed out after ${options.timeoutMs} ms`), options.timeoutMs).unref();
    });
  }

  async function enter(method: string, options: CallOptions = {}): Promise<void> {
    calls.push(method);
    if (always) throw always;
    const hold = held.get(method)?.shift();
    if (hold) {
      hold.started();
      await Promise.race([hold.gate, hang(method, options)]);
    }
    const next = scripted.get(method)?.shift();
    if (next === "hang") await hang(method, options);
    else if (next) throw next;
  }
  function existing(name: string): FakeInstance {
    const i = instances.get(name);
    if (!i) throw new MultipassError({ kind: "not-found", message: `instance "${name}" does not exist`, argv: [name], exitCode: 2, stderr: `instance "${name}" does not exist\n` });
    return i;
  }
  const summary = (i: FakeInstance): InstanceSummary => ({ name: i.name, state: i.state, ipv4: i.state === "Running" ? i.ipv4 : [], release: "Ubuntu 24.04 LTS" });
  const info = (i: FakeInstance): InstanceInfo => {
    const running = i.state === "Running";
    return {
      name: i.name,
      state: i.state,
      cpus: running ? i.cpus : null,
      load: running ? [0.1, 0.05, 0] : null,
      memory: running ? { used: i.memory / 4, total: i.memory } : { used: null, total: null },
      disk: running ? { used: i.disk / 3, total: i.disk } : { used: null, total: null },
      release: running ? "Ubuntu 24.04.3 LTS" : null,
      imageRelease: "24.04 LTS",
      imageHash: "ab".repeat(32),
      ipv4: running ? i.ipv4 : [],
      mounts: [],
      snapshots: 0,
    };
  };
  const setState = (state: InstanceState) => async (names: string[], options?: CallOptions) => {
    await enter(state, options);
    for (const n of names) existing(n).state = state;
  };

  const snapshotsOf = new Map<string, SnapshotSummary[]>();
  const stopped = (name: string, verb: string): FakeInstance => {
    const i = existing(name);
    if (i.state !== "Stopped") {
      const message = `Multipass can only ${verb} snapshots of stopped instances.`;
      throw new MultipassError({ kind: "not-stopped", message, argv: [verb], exitCode: 2, stderr: `${message}\n` });
    }
    return i;
  };
  const noSuchSnapshot = (instance: string, name: string): MultipassError =>
    new MultipassError({ kind: "not-found", message: `No such snapshot: ${instance}.${name}`, argv: [], exitCode: 2, stderr: "" });

  const fake: FakeMultipass = {
    instances,
    calls,
    addressLookups: 0,
    lists,
    snapshotsOf,
    hold(method) {
      let release: () => void = () => {};
      let started: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      const start = new Promise<void>((resolve) => (started = resolve));
      held.set(method, [...(held.get(method) ?? []), { gate, started }]);
      return { release, started: start };
    },
    failNext(method, failure, times = 1) {
      scripted.set(method, [...(scripted.get(method) ?? []), ...Array<MultipassError | "hang">(times).fill(failure)]);
    },
    failAll(failure) {
      always = failure;
    },
    async list(options = {}) {
      const noIpv4 = options.noIpv4 ?? false;
      lists.push({ noIpv4, timeoutMs: options.timeoutMs });
      await enter("list", options);
      const all = [...instances.values()];
      if (noIpv4) return all.map((i) => ({ ...summary(i), ipv4: [] }));
      fake.addressLookups += all.filter((i) => i.state === "Running").length;
      return all.map(summary);
    },
    async info(names = [], options) {
      await enter("info", options);
      const chosen = names.length === 0 ? [...instances.values()] : names.map(existing);
      return chosen.map(info);
    },
    async version(options) {
      await enter("version", options);
      return { client: "1.16.3", daemon: "1.16.3" };
    },
    async get(key, options) {
      await enter("get", options);
      const m = /^local\.([^.]+)\.(cpus|memory|disk)$/.exec(key);
      if (!m) throw new MultipassError({ kind: "failed", message: `Unrecognized settings key: '${key}'`, argv: [key], exitCode: 2, stderr: "" });
      const i = existing(m[1]!);
      if (m[2] === "cpus") return String(i.cpus);
      return `${((m[2] === "memory" ? i.memory : i.disk) / 1024 ** 3).toFixed(1)}GiB`;
    },
    async launch(request, options) {
      await enter("launch", options);
      if (instances.has(request.name)) throw new MultipassError({ kind: "already-exists", message: `instance "${request.name}" already exists`, argv: [], exitCode: 2, stderr: "" });
      instances.set(request.name, { name: request.name, state: "Running", cpus: request.cpus ?? 1, memory: 1024 ** 3, disk: 5 * 1024 ** 3, ipv4: [`10.0.0.${ip++}`] });
      return { name: request.name };
    },
    start: setState("Running"),
    stop: setState("Stopped"),
    restart: setState("Running"),
    suspend: setState("Suspended"),
    async delete(names, options) {
      await enter("delete", options);
      for (const n of names) {
        existing(n);
        if (options?.purge) instances.delete(n);
        else existing(n).state = "Deleted";
      }
    },
    recover: setState("Stopped"),
    async purge(options) {
      await enter("purge", options);
      for (const [n, i] of instances) if (i.state === "Deleted") instances.delete(n);
    },
    async snapshots(options) {
      await enter("snapshots", options);
      return [...snapshotsOf.values()].flat();
    },
    async snapshot(instance, options = {}) {
      await enter("snapshot", options);
      stopped(instance, "take");
      const taken = snapshotsOf.get(instance) ?? [];
      const name = options.name ?? `snapshot${taken.length + 1}`;
      if (taken.some((s) => s.name === name)) throw new MultipassError({ kind: "already-exists", message: `Snapshot already exists: ${instance}.${name}`, argv: [], exitCode: 2, stderr: "" });
      snapshotsOf.set(instance, [...taken, { instance, name, parent: taken.at(-1)?.name ?? null, comment: options.comment ?? "" }]);
      return { name };
    },
    async restore(instance, snapshot, options) {
      await enter("restore", options);
      existing(instance);
      if (!(snapshotsOf.get(instance) ?? []).some((s) => s.name === snapshot)) throw noSuchSnapshot(instance, snapshot);
      stopped(instance, "restore");
    },
    async deleteSnapshots(instance, names, options) {
      await enter("deleteSnapshots", options);
      existing(instance);
      const taken = snapshotsOf.get(instance) ?? [];
      for (const name of names) if (!taken.some((s) => s.name === name)) throw noSuchSnapshot(instance, name);
      snapshotsOf.set(instance, taken.filter((s) => !names.includes(s.name)));
    },
    // Runs the command on this machine, as the stand-in does for its instances: the driver's own
    // process handling with the wrapped command as the whole argv.
    exec(request) {
      calls.push("exec");
      existing(request.instance);
      return startExec(request, (remote) => remote);
    },
  };
  return fake;
}
