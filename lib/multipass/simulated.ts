/**
 * The worker as its own Multipass: with `--simulate`, the worker drives the
 * simulated Multipass host (lib/sim) by re-running its own executable
 * as `multipass`, so a user who has only the binaries can try a cluster and
 * the real argv path still runs. Pure: callers pass execPath and the entry's
 * path.
 *
 * The switch travels on the command line, not in the environment, so nothing
 * leaks into the commands a simulated instance runs: a `multiverse-worker`
 * started inside a simulated instance is a worker again.
 */

/** The first argument that makes the worker executable act as `multipass`. */
export const ACT_AS_MULTIPASS_FLAG = "--act-as-multipass";

export { isCompiledEntry, selfCommand } from "../core/paths.ts";

/**
 * The argv prefix of a simulated `multipass` whose state lives in `simDir`:
 * `[...self, "--act-as-multipass=DIR"]`. Every word after the executable is
 * an option, so the multipass command is still the first non-option word.
 */
export function simulatedMultipassCommand(self: readonly string[], simDir: string): string[] {
  return [...self, `${ACT_AS_MULTIPASS_FLAG}=${simDir}`];
}

/** What {@link parseActAsMultipass} found: the sim directory and multipass's own arguments. */
export interface ActAsMultipass {
  simDir: string;
  args: string[];
}

/**
 * Reads the arguments of an invocation (after the program): `null` unless the
 * first is `--act-as-multipass=DIR`, with a non-empty DIR.
 */
export function parseActAsMultipass(args: readonly string[]): ActAsMultipass | null {
  const first = args[0];
  const prefix = `${ACT_AS_MULTIPASS_FLAG}=`;
  if (first === undefined || !first.startsWith(prefix)) return null;
  const simDir = first.slice(prefix.length);
  if (simDir === "") return null;
  return { simDir, args: args.slice(1) };
}

/** The loud lines a simulating worker logs at start-up. */
export function simulationBanner(simDir: string): string[] {
  return [
    "SIMULATED MULTIPASS: this worker drives its built-in stand-in, not a real Multipass.",
    `Its instances are directories under ${simDir}; their shells and commands run on this host.`,
    "Drop --simulate to manage real VMs (install Multipass: https://canonical.com/multipass).",
  ];
}
