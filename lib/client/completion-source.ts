/**
 * The dynamic values of completion, asked of the master: instance names
 * (`web` and `web@n1`), node names, snapshot names and label keys. A short
 * limit, and silence on any failure: a completion must never hang a prompt
 * or print an error into it.
 */
import type { ApiClient } from "./api-client.ts";
import type { CompletionSource, DynamicKind, TypedOptions } from "./completion.ts";
import { arrayOf } from "../core/parse.ts";
import { stripControl } from "../core/format.ts";
import { parseInstanceView, parseNodeView } from "../protocol/api.ts";
import { parseSnapshotsResponse } from "../protocol/snapshots.ts";

/** How long a completion waits for the master: longer and the user is left staring at the prompt. */
export const COMPLETION_TIMEOUT_MS = 2_000;

/** What the source needs: an API client for the options typed so far (it may throw: no token, a bad URL). */
export interface CompletionSourceDeps {
  apiFor: (options: TypedOptions) => ApiClient;
  /** Context names of the client's config, when it has one. */
  contexts?: () => string[];
  timeoutMs?: number;
}

/** Only words a shell can take as one candidate: no control characters, no whitespace, bounded. */
function printable(values: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const value of values) {
    const clean = stripControl(value);
    if (clean.length > 0 && clean.length <= 256 && !/\s/.test(clean)) out.add(clean);
  }
  return [...out];
}

async function instanceValues(api: ApiClient, timeoutMs: number): Promise<string[]> {
  const instances = arrayOf(parseInstanceView)((await api.get("/api/v1/instances", { timeoutMs })).json, "instances");
  return instances.flatMap((i) => [i.name, `${i.name}@${i.node}`]);
}

async function nodeValues(api: ApiClient, timeoutMs: number): Promise<string[]> {
  return arrayOf(parseNodeView)((await api.get("/api/v1/nodes", { timeoutMs })).json, "nodes").map((n) => n.name);
}

async function snapshotValues(api: ApiClient, timeoutMs: number): Promise<string[]> {
  const { snapshots } = parseSnapshotsResponse((await api.get("/api/v1/snapshots", { timeoutMs })).json);
  return snapshots.flatMap((s) => [`${s.instance}.${s.name}`, `${s.instance}.${s.name}@${s.node}`]);
}

/** The keys of the labels of instances and nodes: what a selector or `-L` names. */
async function labelKeyValues(api: ApiClient, timeoutMs: number): Promise<string[]> {
  const [instances, nodes] = await Promise.all([
    api.get("/api/v1/instances", { timeoutMs }).then((a) => arrayOf(parseInstanceView)(a.json, "instances")),
    api.get("/api/v1/nodes", { timeoutMs }).then((a) => arrayOf(parseNodeView)(a.json, "nodes")),
  ]);
  return [...instances, ...nodes].flatMap((x) => Object.keys(x.labels));
}

const FETCH: Record<Exclude<DynamicKind, "context">, (api: ApiClient, timeoutMs: number) => Promise<string[]>> = {
  instance: instanceValues,
  node: nodeValues,
  snapshot: snapshotValues,
  "label-key": labelKeyValues,
};

/** A {@link CompletionSource} over the master's API; every failure (and a late answer) is an empty list. */
export function createMasterSource(deps: CompletionSourceDeps): CompletionSource {
  const timeoutMs = deps.timeoutMs ?? COMPLETION_TIMEOUT_MS;
  return {
    async values(kind: DynamicKind, options: TypedOptions): Promise<string[]> {
      try {
        if (kind === "context") return printable(deps.contexts?.() ?? []);
        const api = deps.apiFor(options);
        let timer: ReturnType<typeof setTimeout> | undefined;
        // The API client's own limit covers the answer; this one bounds everything else too.
        const late = new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), timeoutMs)));
        try {
          return printable(await Promise.race([FETCH[kind](api, timeoutMs), late]));
        } finally {
          clearTimeout(timer);
        }
      } catch {
        return [];
      }
    },
  };
}
