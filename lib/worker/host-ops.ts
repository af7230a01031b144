/**
 * What a worker does when the master asks it to change its host: launch and
 * the lifecycle verbs, one at a time per instance, each followed by a fresh
 * listing so the master's cache is right the moment the call returns.
 */
import type { ConsolaInstance } from "consola";
import { AppError, toAppError } from "../core/errors.ts";
import type { HostMonitor } from "./host-monitor.ts";
import type { KeyedLock } from "../core/keyed-lock.ts";
import type { InstanceSummary, LaunchProgress, LaunchSpec } from "../protocol/instances.ts";
import type { Multipass } from "../multipass/driver.ts";
import type { ActionOptions, LifecycleAction } from "../protocol/operations.ts";

export interface WorkerOpsDeps {
  multipass: Multipass;
  monitor: HostMonitor;
  lock: KeyedLock;
  log: ConsolaInstance;
  node: string;
}

export interface WorkerOps {
  /**
   * Launches `spec.name`, reporting progress. Resolves with the host's fresh
   * instance list. @throws AppError naming the instance and the node
   */
  launch(spec: LaunchSpec, onProgress: (progress: LaunchProgress) => void): Promise<InstanceSummary[]>;
  /** One lifecycle verb on one instance. @throws AppError naming the instance and the node */
  act(action: LifecycleAction, name: string, options: ActionOptions): Promise<InstanceSummary[]>;
  /** Removes every deleted instance of the host. */
  purge(): Promise<InstanceSummary[]>;
}

/** Purge touches every deleted instance; it takes this key so it never overlaps itself. */
const PURGE_KEY = "\u0000purge";

export function createWorkerOps(deps: WorkerOpsDeps): WorkerOps {
  const { multipass, monitor, lock, log, node } = deps;

  function failure(verb: string, name: string, error: unknown): AppError {
    const e = toAppError(error, "E_MULTIPASS");
    return new AppError(e.code, `Cannot ${verb} instance "${name}" on node "${node}": ${e.message}`, { cause: error });
  }

  async function fresh(): Promise<InstanceSummary[]> {
    return (await monitor.refresh()).instances;
  }

  return {
    launch(spec, onProgress) {
      return lock.run(spec.name, async () => {
        try {
          monitor.forget(spec.name);
          log.info(`launching "${spec.name}"${spec.image ? ` from ${spec.image}` : ""}`);
          await multipass.launch(spec, { onProgress });
          log.info(`launched "${spec.name}"`);
        } catch (error) {
          // A failed launch may still have left an instance (a timeout): the listing will show it.
          await fresh().catch(() => []);
          throw failure("launch", spec.name, error);
        }
        return fresh();
      });
    },

    act(action, name, options) {
      return lock.run(name, async () => {
        try {
          switch (action) {
            case "start":
              await multipass.start([name]);
              break;
            case "stop":
              await multipass.stop([name], { force: options.force });
              break;
            case "restart":
              await multipass.restart([name]);
              break;
            case "suspend":
              await multipass.suspend([name]);
              break;
            case "delete":
              await multipass.delete([name], { purge: options.purge });
              if (options.purge) monitor.forget(name);
              break;
            case "recover":
              await multipass.recover([name]);
              break;
          }
          log.info(`${action} "${name}"${options.force ? " (force)" : ""}${options.purge ? " (purge)" : ""}: done`);
        } catch (error) {
          throw failure(action, name, error);
        }
        return fresh();
      });
    },

    purge() {
      // Purge removes whichever instances are deleted when it runs: it waits for every operation
      // in flight on the host's instances (a delete or a recover), and they wait for it.
      const names = (monitor.current()?.instances ?? []).map((i) => i.name);
      return lock.runAll([PURGE_KEY, ...names], async () => {
        try {
          await multipass.purge();
        } catch (error) {
          const e = toAppError(error, "E_MULTIPASS");
          throw new AppError(e.code, `Cannot purge deleted instances on node "${node}": ${e.message}`, { cause: error });
        }
        log.info("purged deleted instances");
        return fresh();
      });
    },
  };
}
