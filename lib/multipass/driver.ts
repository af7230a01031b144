/**
 * The Multipass driver contract: what a worker can ask of the Multipass host it
 * runs on. The real implementation (`cli.ts`) runs the `multipass` CLI;
 * tests use the executable stand-in or an in-memory fake.
 *
 * Shapes here are normalised: numbers are numbers, absent runtime figures are
 * `null`, and Multipass's `"N/A"` / `"Not Available"` placeholders are gone.
 */
import { AppError, type ErrorCode } from "../core/errors.ts";
import type { InstanceInfo, InstanceSummary, LaunchProgress, LaunchSpec } from "../protocol/instances.ts";
import type { SnapshotSummary } from "../protocol/snapshots.ts";

/** `multipass version`. */
export interface MultipassVersion {
  client: string;
  /** `null` when the daemon is unreachable. */
  daemon: string | null;
}

export interface CallOptions {
  /** Aborting kills the multipass process. */
  signal?: AbortSignal;
  /**
   * This call's limit in milliseconds instead of its command's default: for
   * a caller that must outwait a busy daemon whatever the driver was
   * configured with (the host monitor's polls).
   */
  timeoutMs?: number;
}

/** What {@link Multipass.list} takes besides the call options. */
export interface ListOptions extends CallOptions {
  /**
   * `--no-ipv4` (hidden since Multipass 1.7): the daemon does not SSH into
   * every running instance for its addresses, so every `ipv4` is empty. A
   * poll's cheap form (CONTRACT.md §3.3, §4.1).
   */
  noIpv4?: boolean;
}

/**
 * What a worker asks of its Multipass host.
 *
 * Every call but `exec` runs one `multipass` process with a timeout and
 * throws {@link MultipassError} on any failure: a non-zero exit, a timeout,
 * output that does not parse, or a missing binary. `exec` starts a process
 * that lives as long as its caller wants.
 */
export interface Multipass {
  /**
   * `multipass list`. Read-only. Without `noIpv4` one SSH command per running
   * instance (its addresses); like every call but exec, it queues behind a
   * stop, suspend or delete the daemon is running (CONTRACT.md §3.3).
   * @throws MultipassError
   */
  list(options?: ListOptions): Promise<InstanceSummary[]>;
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
   * `multipass list --snapshots`: every snapshot of every instance. Read-only.
   * @throws MultipassError, kind "snapshots-unsupported" on a backend without snapshots.
   */
  snapshots(options?: CallOptions): Promise<SnapshotSummary[]>;
  /**
   * `multipass snapshot [--name N] [--comment C] INSTANCE` of a stopped
   * instance. Not idempotent: a second snapshot of one name fails with kind
   * "already-exists"; without a name Multipass picks snapshotN.
   * @returns the snapshot's name, from Multipass's `Snapshot taken:` line.
   * @throws MultipassError, kind "not-stopped" when the instance is not
   *   stopped, "snapshots-unsupported", "not-found", "invalid-arguments" (the name).
   */
  snapshot(instance: string, options?: CallOptions & { name?: string; comment?: string }): Promise<{ name: string }>;
  /**
   * `multipass restore --destructive INSTANCE.SNAPSHOT`: the current state is
   * discarded (a caller that wants to keep it takes a snapshot first, as
   * Multipass's own prompt offers). Idempotent.
   * @throws MultipassError, kind "not-found" (instance or snapshot),
   *   "not-stopped", "snapshots-unsupported".
   */
  restore(instance: string, snapshot: string, options?: CallOptions): Promise<void>;
  /**
   * `multipass delete --purge INSTANCE.SNAPSHOT…`: snapshots can only be
   * purged. Not idempotent: a snapshot already gone is kind "not-found".
   * @throws MultipassError
   */
  deleteSnapshots(instance: string, snapshots: string[], options?: CallOptions): Promise<void>;
  /**
   * Starts `multipass exec NAME --no-map-working-directory -- …` of a command,
   * or of the user's login shell, and returns at once. Not idempotent: every
   * call starts a process, which lives until it exits or is hung up. The
   * instance should be Running first (Multipass would start it itself, with
   * spinner noise on stdout). The command is wrapped so that its status is
   * told apart from Multipass's own and a status of 4 cannot make 1.14–1.16
   * re-run it forever (`exec-status.ts`).
   * @throws MultipassError, synchronously: kind "invalid-arguments" for an
   *   invalid name or an empty command, "not-installed" when the process
   *   cannot be started. Once started, failures only show in the status.
   */
  exec(request: ExecRequest): ExecProcess;
}

/** The {@link ExecRequest.command} that runs the user's login shell (`$SHELL -l`, else `/bin/sh -l`). */
export const LOGIN_SHELL = "login-shell";

/** Where a piece of an exec's output came from: a terminal has one stream, pipes have two. */
export type ExecStream = "terminal" | "stdout" | "stderr";

/** What {@link Multipass.exec} runs, and how. */
export interface ExecRequest {
  instance: string;
  /** The command and its arguments, run as they are (no shell re-parsing); or {@link LOGIN_SHELL}. */
  command: readonly string[] | typeof LOGIN_SHELL;
  /** Environment of the `multipass` process; TERM is set to `term`. */
  env: Record<string, string | undefined>;
  /** TERM for the remote side, with or without a terminal. */
  term: string;
  /** Run under a PTY of this size; null: stdin, stdout and stderr are pipes. */
  terminal: { cols: number; rows: number } | null;
  /**
   * Receives the output as it arrives, in order per stream, with the status
   * trailer removed. Must not throw.
   */
  onOutput: (stream: ExecStream, bytes: Uint8Array) => void;
  /** Time between {@link ExecProcess.hangUp} and the SIGKILL of the process group; default 1 s. */
  graceMs?: number;
  /** Called when input that {@link ExecProcess.write} reported as backed up has been taken by the program. */
  onInputReady?: () => void;
}

/** A running exec, owned by whoever started it: it must end in `exited`, or be hung up. */
export interface ExecProcess {
  /**
   * Bytes for the program's input (typed into the terminal, or written to
   * stdin). The bytes are always kept.
   * @returns false when the program has not taken the input written so far (a
   *   bounded backlog is waiting): send no more until `onInputReady` is called.
   */
  write(bytes: Uint8Array): boolean;
  /**
   * Stops reading the program's output until {@link resumeOutput}: a pipe is
   * left unread, so the program blocks writing it; a terminal's process group
   * is stopped (SIGSTOP), which for `multipass exec` stops the SSH channel
   * and so the remote program. What was in flight may still arrive (bounded
   * by the kernel's pipe or PTY buffer). Idempotent.
   */
  pauseOutput(): void;
  /** Reads output again after {@link pauseOutput}. Idempotent. */
  resumeOutput(): void;
  /** The input has ended: stdin is closed, or on a terminal Ctrl-D is typed (as a terminal does when piped input runs out). */
  endInput(): void;
  /** The terminal's new size; nothing without a terminal. */
  resize(cols: number, rows: number): void;
  /**
   * Hangs up: closes the terminal (a shell ignores SIGTERM but not a hang-up),
   * or sends SIGHUP to a piped process, then SIGKILLs its process group after
   * the grace period. Idempotent; nothing once the process has exited.
   */
  hangUp(): void;
  /**
   * The remote status, once the process has exited and its output has been
   * delivered: the status the wrapped command reported, else Multipass's exit
   * code (255 when a signal killed it). Never rejects.
   */
  readonly exited: Promise<number>;
  /** The local process's id, when there is one (a real spawn; fakes may leave it out). */
  readonly pid?: number;
}

/** Why a multipass call failed, classified from its exit code and stderr (CONTRACT.md §1.4, §6). */
export type MultipassErrorKind =
  | "not-found" // instance "X" does not exist
  | "already-exists" // instance "X" already exists
  | "deleted" // instance "X" is deleted
  | "being-prepared" // instance "X" is being prepared
  // The user's input, refused by us or by Multipass: an invalid name or size (ours, or the daemon's
  // "Invalid arguments supplied"), an image it cannot find, a remote it cannot reach, a disk below
  // the image's size, a cloud-init it cannot load. The user must change the request.
  | "invalid-arguments"
  | "daemon-unreachable" // cannot connect to the multipass socket / access denied
  // Exit 1 otherwise: the multipass client refused the command line we built, or died of an
  // unhandled exception. Our own validation ran first, so the host must act (e.g. a Multipass too
  // old for an option), not the user.
  | "command-line"
  | "not-stopped" // Multipass can only take (restore) snapshots of stopped instances
  | "snapshots-unsupported" // The snapshots feature is not implemented on this backend
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
  "not-stopped": "E_CONFLICT",
  "snapshots-unsupported": "E_UNAVAILABLE",
  "daemon-unreachable": "E_MULTIPASS",
  "command-line": "E_MULTIPASS",
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
