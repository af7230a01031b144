/**
 * An in-memory Multipass for unit tests: scriptable failures, a call log, and
 * a check that calls come in a legal order (no operation on an instance that
 * does not exist, no launch of a taken name).
 */
import { type InstanceInfo, type InstanceState, type InstanceSummary } from "../../lib/protocol/instances.ts";
import { MultipassError, type Multipass } from "../../lib/multipass/driver.ts";
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
  /** The next calls of `method` fail with this error (or hang when "hang"). */
  failNext(method: string, failure: MultipassError | "hang", times?: number): void;
  /** Fails every call until cleared. */
  failAll(failure: MultipassError | null): void;
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
  const scripted = new Map<string, (MultipassError | "hang")[]>();
  let always: MultipassError | null = null;

  async function enter(method: string, signal?: AbortSignal): Promise<void> {
    calls.push(method);
    if (always) throw always;
    const next = scripted.get(method)?.shift();
    if (next === "hang") {
      await new Promise((_, reject) => signal?.addEventListener("abort", () => reject(new MultipassError({ kind: "timeout", message: "aborted", argv: [method], exitCode: null, stderr: "" }))));
    } else if (next) throw next;
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
  const setState = (state: InstanceState) => async (names: string[], options?: { signal?: AbortSignal }) => {
    await enter(state, options?.signal);
    for (const n of names) existing(n).state = state;
  };

  return {
    instances,
    calls,
    failNext(method, failure, times = 1) {
      scripted.set(method, [...(scripted.get(method) ?? []), ...Array<MultipassError | "hang">(times).fill(failure)]);
    },
    failAll(failure) {
      always = failure;
    },
    async list(options) {
      await enter("list", options?.signal);
      return [...instances.values()].map(summary);
    },
    async info(names = [], options) {
      await enter("info", options?.signal);
      const chosen = names.length === 0 ? [...instances.values()] : names.map(existing);
      return chosen.map(info);
    },
    async version(options) {
      await enter("version", options?.signal);
      return { client: "1.16.3", daemon: "1.16.3" };
    },
    async get(key, options) {
      await enter("get", options?.signal);
      const m = /^local\.([^.]+)\.(cpus|memory|disk)$/.exec(key);
      if (!m) throw new MultipassError({ kind: "failed", message: `Unrecognized settings key: '${key}'`, argv: [key], exitCode: 2, stderr: "" });
      const i = existing(m[1]!);
      if (m[2] === "cpus") return String(i.cpus);
      return `${((m[2] === "memory" ? i.memory : i.disk) / 1024 ** 3).toFixed(1)}GiB`;
    },
    async launch(request, options) {
      await enter("launch", options?.signal);
      if (instances.has(request.name)) throw new MultipassError({ kind: "already-exists", message: `instance "${request.name}" already exists`, argv: [], exitCode: 2, stderr: "" });
      instances.set(request.name, { name: request.name, state: "Running", cpus: request.cpus ?? 1, memory: 1024 ** 3, disk: 5 * 1024 ** 3, ipv4: [`10.0.0.${ip++}`] });
      return { name: request.name };
    },
    start: setState("Running"),
    stop: setState("Stopped"),
    restart: setState("Running"),
    suspend: setState("Suspended"),
    async delete(names, options) {
      await enter("delete", options?.signal);
      for (const n of names) {
        existing(n);
        if (options?.purge) instances.delete(n);
        else existing(n).state = "Deleted";
      }
    },
    recover: setState("Stopped"),
    async purge(options) {
      await enter("purge", options?.signal);
      for (const [n, i] of instances) if (i.state === "Deleted") instances.delete(n);
    },
    // Runs the command on this machine, as the stand-in does for its instances: the driver's own
    // process handling with the wrapped command as the whole argv.
    exec(request) {
      calls.push("exec");
      existing(request.instance);
      return startExec(request, (remote) => remote);
    },
  };
}
