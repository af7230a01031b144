/**
 * Turns a failed `multipass` call (non-zero exit) into a {@link MultipassError}
 * whose kind comes from the exact stderr strings of CONTRACT.md §1.4 and §4,
 * and whose message a person can act on.
 */
import { stripControl } from "../core/format.ts";
import { MultipassError, type MultipassErrorKind } from "./driver.ts";

/** Stderr text is matched in this order; the first hit wins. */
const RULES: readonly (readonly [RegExp, MultipassErrorKind])[] = [
  [/cannot connect to the multipass socket|multipass socket access denied/i, "daemon-unreachable"],
  [/\bInvalid arguments supplied\b/, "invalid-arguments"],
  // The user's image, disk or cloud-init, refused by Multipass: the caller's input, not a node fault.
  [/\bUnable to find an image matching\b|\bCould not load cloud-init configuration\b/, "invalid-arguments"],
  [/\bRemote "[^"\n]*" is unknown or unreachable\b/, "invalid-arguments"],
  [/\bRequested disk \([^)\n]*\) below minimum for this image\b/, "invalid-arguments"],
  // Snapshots (src/daemon/daemon.cpp, include/multipass/exceptions/snapshot_exceptions.h).
  [/\bThe snapshots? feature is not implemented on this backend\b/, "snapshots-unsupported"],
  [/\bMultipass can only (take|restore) snapshots of stopped instances\b/, "not-stopped"],
  [/\bInvalid snapshot name: "/, "invalid-arguments"],
  [/\bSnapshot already exists: /, "already-exists"],
  [/\bNo such snapshot: /, "not-found"],
  [/\bCannot delete snapshots of deleted instances: /, "deleted"],
  [/\binstance ["'][^"'\n]*["'] is being prepared/i, "being-prepared"],
  [/\binstance ["'][^"'\n]*["'] already exists/i, "already-exists"],
  // Several missing and deleted names in one call: "does not exist" wins, as a 404 tells the caller more.
  [/\binstance ["'][^"'\n]*["'] does not exist|; reason: No such instance\b/i, "not-found"],
  [/\binstance ["'][^"'\n]*["'] is deleted\b/i, "deleted"],
  // Daemon-side waits that ran out (exit 2): the instance may still exist, as after an exit-5 timeout.
  [/\btimed out waiting for\b/i, "timeout"],
];

/** Multipass's own `--timeout` timer fired (`timeout_exit_code`, CONTRACT.md §1.4). */
const TIMEOUT_EXIT_CODE = 5;
const COMMAND_LINE_ERROR = 1;

const MAX_LINES = 6;
const MAX_LINE_LENGTH = 300;

const CLIENT_LOG_PREFIX = /^\[\d{4}-\d{2}-\d{2}T[^\]]*\]\s*\[[a-z]+\]\s*\[[^\]]*\]\s*/i;
const UNHANDLED_EXCEPTION = /^Caught an unhandled exception:\s*/;

/**
 * The multipass command of an argv (binary first): its first word after the
 * binary that is not an option, e.g. `"list"`; `"?"` when there is none.
 */
export function commandOf(argv: readonly string[]): string {
  return argv.slice(1).find((word) => !word.startsWith("-")) ?? "?";
}

/**
 * The first meaningful lines of multipass's stderr on one line: control
 * sequences and the `[timestamp] [error] [client]` log prefix removed, blank
 * lines dropped, each line trimmed, at most six lines of 300 characters.
 */
export function summarizeStderr(stderr: string): string {
  // Split first: stripControl also removes the \r and \n that end lines.
  const lines = stderr
    .split(/\r\n|\r|\n/)
    .map((line) => stripControl(line).replace(CLIENT_LOG_PREFIX, "").replace(UNHANDLED_EXCEPTION, "").trim())
    .filter((line) => line !== "");
  let summary = "";
  for (const [index, line] of lines.slice(0, MAX_LINES).entries()) {
    const clipped = line.length > MAX_LINE_LENGTH ? `${line.slice(0, MAX_LINE_LENGTH)}…` : line;
    // "…occurred:" and "…exist." read on naturally; anything else needs a visible break.
    if (index > 0) summary += /[:.!?]$/.test(summary) ? " " : "; ";
    summary += clipped;
  }
  if (lines.length > MAX_LINES) summary += " …";
  return summary;
}

/**
 * Classifies a failed multipass call from its exit code and stderr, by who
 * must act: the user (their input: "invalid-arguments", "not-found", …) or
 * the host. Exit 5 is a timeout; exit 1 is "command-line", a host-side fault
 * (an E_MULTIPASS 502, not a usage error: every argument was validated before
 * multipass ran, so a refusal or an unhandled exception of its client is not
 * the user's to fix); a more specific string wins over both.
 * @example
 * classifyFailure(["multipass", "list", "--format", "json"], 2, "list failed: cannot connect to the multipass socket\n")
 * // kind "daemon-unreachable", message
 * // `multipass list failed (exit 2): list failed: cannot connect to the multipass socket`
 */
export function classifyFailure(argv: string[], exitCode: number, stderr: string): MultipassError {
  const summary = summarizeStderr(stderr);
  let kind: MultipassErrorKind = "failed";
  const rule = RULES.find(([pattern]) => pattern.test(stderr));
  if (rule) kind = rule[1];
  else if (exitCode === TIMEOUT_EXIT_CODE) kind = "timeout";
  else if (exitCode === COMMAND_LINE_ERROR) kind = "command-line";
  const head = `multipass ${commandOf(argv)} failed (exit ${exitCode})`;
  const message = summary === "" ? `${head} with no error output` : `${head}: ${summary}`;
  return new MultipassError({ kind, message, argv, exitCode, stderr });
}
