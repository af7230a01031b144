/**
 * Live figures (`GET /api/v1/info`): `multipass info` fanned out to the
 * nodes in parallel, each call with its own timeout. A node that is not
 * Ready, or fails, is an error of the answer beside the others' figures —
 * unless one instance was asked for: then its node's failure is the answer.
 */
import type { AgentClient, CallLimits } from "./agent-client.ts";
import { AppError, toAppError } from "../core/errors.ts";
import type { InstanceRef } from "../core/validate.ts";
import { matchesSelector, type Selector } from "../core/labels.ts";
import type { InstanceInfo } from "../protocol/instances.ts";
import type { InfoResponse, InfoView, NodeError } from "../protocol/api.ts";
import type { NodeEntry, Registry } from "./registry.ts";

/** The most instances one node is asked for by name; a selector that selects more asks for all of them. */
export const MAX_NAMES_ASKED = 100;

export interface LiveInfoDeps {
  registry: Registry;
  agents: AgentClient;
}

/**
 * The live figures of one instance (`ref`), of the instances `selector`
 * selects, or of every instance of every node (both null).
 * @throws AppError when `ref` resolves to no instance or to several, or when
 *   its node is not Ready or does not answer.
 */
export async function liveInfo(deps: LiveInfoDeps, ref: InstanceRef | null, limits: CallLimits, selector: Selector | null = null): Promise<InfoResponse> {
  const { registry } = deps;
  let targets: { node: NodeEntry; names: string[]; keep?: ReadonlySet<string> }[];
  if (selector !== null) {
    // Only the nodes holding a selected instance are asked, and only for those; past
    // MAX_NAMES_ASKED, for all of theirs (one argv and one URL of bounded length), kept to those.
    targets = registry.entries().flatMap((node) => {
      const names = node.snapshot.instances.map((i) => i.name).filter((n) => matchesSelector(selector, registry.labels.instanceLabels(node.name, n)));
      if (names.length === 0) return [];
      return names.length > MAX_NAMES_ASKED ? [{ node, names: [], keep: new Set(names) }] : [{ node, names }];
    });
  } else if (ref !== null) {
    const { node } = registry.resolve(ref.name, ref.node);
    targets = [{ node, names: [ref.name] }];
  } else {
    targets = registry.entries().map((node) => ({ node, names: [] }));
  }
  const failures: { node: string; error: AppError }[] = [];
  const live = targets.filter(({ node }) => {
    const state = registry.stateOf(node);
    if (state === "Ready") return true;
    const since = new Date(node.lastSync).toISOString();
    failures.push({ node: node.name, error: new AppError("E_UNREACHABLE", `Node "${node.name}" is ${state} (last sync ${since})`) });
    return false;
  });
  const answers = await Promise.all(
    live.map(async ({ node, names, keep }) => {
      try {
        const infos = await deps.agents.info(node, names, limits);
        return infos.filter((i) => keep === undefined || keep.has(i.name)).map((i) => toInfoView(node.name, i));
      } catch (error) {
        failures.push({ node: node.name, error: toAppError(error) });
        return [];
      }
    }),
  );
  // One instance asked for and its node failed: that is the answer's error, not a partial result.
  if (ref !== null && failures.length > 0) throw failures[0]!.error;
  const errors: NodeError[] = failures.map((f) => ({ node: f.node, message: f.error.message }));
  errors.sort((a, b) => (a.node < b.node ? -1 : 1));
  return { instances: answers.flat(), errors };
}

function toInfoView(node: string, i: InstanceInfo): InfoView {
  return {
    node,
    name: i.name,
    state: i.state,
    cpus: i.cpus,
    load: i.load,
    memory: i.memory,
    disk: i.disk,
    release: i.release,
    imageRelease: i.imageRelease,
    imageHash: i.imageHash,
    ipv4: i.ipv4,
  };
}
