/**
 * The Multipass driver contract: what a worker can ask of the Multipass host it
 * runs on. The real implementation (`multipass-cli.ts`) runs the `multipass`
 * CLI; tests use the executable stand-in or an in-memory fake.
 *
 * Shapes here are normalised: numbers are numbers, absent runtime figures are
 * `null`, and Multipass's `"N/A"` / `"Not Available"` placeholders are gone.
 */
import { AppError, type ErrorCode } from "../core/errors.ts";
import type { InstanceInfo, InstanceSummary, LaunchProgress, LaunchSpec } from "../protocol/instances.ts";

/** `multipass version`. */
export interface MultipassVersion {
  client: string;
  /** `null` when the daemon is unreachable. */
  daemon: string | null;
}

export interface CallOptions {
  /** Aborting kills the multipass process. */
  signal?: AbortSignal;
}

/**
 * What a worker asks of its Multipass host.
 *
 * Every call runs one `multipass` process with a timeout and throws
 * {@link MultipassError} on any failure: a non-zero exit, a timeout, output
 * that does not parse, or a missing binary.
 */
export interface Multipass {
  /** `multipass list`. Read-only. @throws MultipassError */
  list(options?: CallOptions): Promise<InstanceSummary[]>;
  /**
   * `multipass info [NAME...]`, all instances when `names` is empty. Read-only;
   * slow for running instances (one SSH round-trip each).
   * @throws MultipassError, kind "not-found" when a name does not exist.
   */
  info(names?: string[], options?: CallOptions): Promise<InstanceInfo[]>;
  /** `multipass version`. Read-only; `daemon` is null when the daemon is down. @throws MultipassError */
  version(options?: CallOptions): Promise<MultipassVersion>;
  /** `multipass get KEY --raw`. Read-only. @throws MultipassError */
  get(key: string, options?: CallOptions): Promise<string>;
  /**
   * `multipass launch`. Not idempotent: a second launch of a name fails with
   * kind "already-exists" (or "being-prepared" while the first still runs).
   * `onProgress` receives each spinner phase as it changes.
   * @returns the launched name, from Multipass's `Launched:` line.
   * @throws MultipassError
   */
  launch(
    request: LaunchSpec,
    options?: CallOptions & { onProgress?: (progress: LaunchProgress) => void },
  ): Promise<{ name: string }>;
  /** Idempotent: starting a running instance succeeds. Resumes suspended ones. @throws MultipassError */
  start(names: string[], options?: CallOptions): Promise<void>;
  /** Idempotent: stopping a stopped instance succeeds. @throws MultipassError */
  stop(names: string[], options?: CallOptions & { force?: boolean }): Promise<void>;
  /** Not idempotent: fails on instances that are not running. @throws MultipassError */
  restart(names: string[], options?: CallOptions): Promise<void>;
  /** Idempotent: a stopped or suspended instance is left as it is. @throws MultipassError */
  suspend(names: string[], options?: CallOptions): Promise<void>;
  /** Idempotent; with `purge` the instances are gone for good. @throws MultipassError */
  delete(names: string[], options?: CallOptions & { purge?: boolean }): Promise<void>;
  /** Idempotent: recovering a live instance succeeds. @throws MultipassError */
  recover(names: string[], options?: CallOptions): Promise<void>;
  /** Removes every deleted instance. Idempotent. @throws MultipassError */
  purge(options?: CallOptions): Promise<void>;
  /**
   * The argv (binary first) that runs `command` in an instance, for the caller
   * to spawn with pipes or a PTY. Uses `--no-map-working-directory`. The caller
   * guards the 1.16 exit-4 loop (see `exec-status.ts`).
   */
  execArgv(name: string, command: string[]): string[];
}

/** Why a multipass call failed, classified from its exit code and stderr (CONTRACT.md §1.4, §6). */
export type MultipassErrorKind =
  | "not-found" // instance "X" does not exist
  | "already-exists" // instance "X" already exists
  | "deleted" // instance "X" is deleted
  | "being-prepared" // instance "X" is being prepared
  | "invalid-arguments" // Invalid arguments supplied, invalid size (exit 1 from the client)
  | "daemon-unreachable" // cannot connect to the multipass socket / access denied
  | "usage" // exit 1: multipass refused the command line
  | "timeout" // our timeout, or multipass's own --timeout (exit 5)
  | "not-installed" // the binary could not be started
  | "bad-output" // exit 0 but stdout did not parse
  | "failed"; // anything else

const KIND_CODE: Record<MultipassErrorKind, ErrorCode> = {
  "not-found": "E_NOT_FOUND",
  "already-exists": "E_CONFLICT",
  deleted: "E_CONFLICT",
  "being-prepared": "E_CONFLICT",
  "invalid-arguments": "E_USAGE",
  "daemon-unreachable": "E_MULTIPASS",
  usage: "E_USAGE",
  timeout: "E_TIMEOUT",
  "not-installed": "E_MULTIPASS",
  "bad-output": "E_MULTIPASS",
  failed: "E_MULTIPASS",
};

/** What a {@link MultipassError} carries. */
export interface MultipassErrorOptions {
  kind: MultipassErrorKind;
  message: string;
  /** The whole command line, binary first. */
  argv: string[];
  /** null when the process did not run to its end (not started, killed, aborted). */
  exitCode: number | null;
  stderr: string;
  cause?: unknown;
}

/** A failed `multipass` call, with everything needed to explain it. */
export class MultipassError extends AppError {
  readonly kind: MultipassErrorKind;
  readonly argv: string[];
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(options: MultipassErrorOptions) {
    super(KIND_CODE[options.kind], options.message, { cause: options.cause });
    this.kind = options.kind;
    this.argv = options.argv;
    this.exitCode = options.exitCode;
    this.stderr = options.stderr;
  }
}
