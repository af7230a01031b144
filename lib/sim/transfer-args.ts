/**
 * The client side of `transfer` (src/client/cli/cmd/transfer.cpp, 1.16): split
 * each argument into instance and path, then choose one of four shapes or
 * refuse with one of its argument errors (exit 1), in upstream's order.
 */

/** Copy options: `-r` and `-p`. */
export interface TransferFlags {
  readonly recursive: boolean;
  readonly parents: boolean;
}

/** One of the four things a valid transfer does. `instances` is every named instance, in argument order. */
export type TransferPlan =
  | { readonly kind: "pull"; readonly sources: ReadonlyArray<{ instance: string; path: string }>; readonly target: string }
  | { readonly kind: "push"; readonly sources: readonly string[]; readonly instance: string; readonly target: string }
  | { readonly kind: "fromStdin"; readonly instance: string; readonly target: string }
  | { readonly kind: "toStdout"; readonly instance: string; readonly source: string };

/** The plan and the instance names the client sends in its SSH-info request, or an argument error. */
export type TransferParse = { plan: TransferPlan; instances: string[] } | { error: string };

interface Split {
  readonly instance: string;
  readonly path: string;
}

const STREAM = "-";
/** Windows drive paths (`C:\…`) are not split at their colon. */
const DRIVE_PATH = /^[A-Za-z]:\\/;

/** `NAME:path` → instance and path (an empty path is `.`); a path without a colon is local. */
export function splitArgument(entry: string): Split {
  if (DRIVE_PATH.test(entry)) return { instance: "", path: entry };
  const colon = entry.indexOf(":");
  if (colon < 0) return { instance: "", path: entry === "" ? "." : entry };
  const path = entry.slice(colon + 1);
  return { instance: entry.slice(0, colon), path: path === "" ? "." : path };
}

function streaming(fullSources: readonly string[], fullTarget: string, sources: Split[], target: Split): TransferParse | null {
  const sourceStreams = fullSources.filter((source) => source === STREAM).length;
  const targetStreams = fullTarget === STREAM;
  if ((targetStreams && sourceStreams > 0) || sourceStreams > 1) return { error: "Only one '-' allowed" };
  if ((targetStreams || sourceStreams > 0) && fullSources.length > 1) {
    return { error: "Only two arguments allowed when using '-'" };
  }
  const [source] = sources;
  if (targetStreams && source !== undefined) {
    if (source.instance === "") return { error: "Source must be from inside an instance" };
    return { plan: { kind: "toStdout", instance: source.instance, source: source.path }, instances: [source.instance] };
  }
  if (sourceStreams > 0) {
    if (target.instance === "") return { error: "Target must be inside an instance" };
    return { plan: { kind: "fromStdin", instance: target.instance, target: target.path }, instances: [target.instance] };
  }
  return null;
}

/**
 * Parses the positionals of `transfer` as 1.16 does. Error strings are
 * upstream's, printed on stderr with exit 1 by the caller.
 */
export function parseTransferArgs(positionals: readonly string[]): TransferParse {
  if (positionals.length < 2) return { error: "Not enough arguments given" };
  const split = positionals.map(splitArgument);
  const target = split[split.length - 1] as Split;
  const sources = split.slice(0, -1);
  const fullSources = positionals.slice(0, -1);
  const named = split.filter((entry) => entry.instance !== "").map((entry) => entry.instance);

  const streamed = streaming(fullSources, positionals[positionals.length - 1] as string, sources, target);
  if (streamed !== null) return streamed;

  if (target.instance === "") {
    if (named.length === sources.length) {
      return { plan: { kind: "pull", sources: sources.map(({ instance, path }) => ({ instance, path })), target: target.path }, instances: named };
    }
    return {
      error: named.length > 0 ? "All sources must be from inside an instance" : "An instance name is needed for either source or destination",
    };
  }
  if (named.length > 1) return { error: "Cannot specify an instance name for both source and destination" };
  return { plan: { kind: "push", sources: sources.map((source) => source.path), instance: target.instance, target: target.path }, instances: named };
}
