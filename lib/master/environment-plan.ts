/**
 * The plan of an environment (issue 17): what an apply would do with each
 * instance the document asks for, and with the environment's instances it no
 * longer asks for, against the cluster as the master sees it now. Pure:
 * nothing is reserved or changed, so `diff` and `apply` show the same plan.
 *
 * - An instance that exists is the environment's when it carries the
 *   environment's label or was recorded as its member (environment-store.ts);
 *   any other instance of that name is a conflict, refused before anything
 *   changes. Running: kept. Stopped, suspended, or deleted and not purged:
 *   started (a deleted one recovered first). Any other state (starting),
 *   or a launch of it not ended yet (by another call, or one the last master
 *   left in flight: Running comes before cloud-init is done): waited for.
 * - A missing one that an apply launched on a node that is not Ready now (or
 *   has not joined since the master started) is not launched again
 *   elsewhere: its step fails, saying so, until the node is back.
 * - A missing one is launched: on its `node` when the document pins it, else
 *   where placement.ts puts it, each planned launch charged to its node so
 *   the next one sees it. `spread` keeps an entry's instances on different
 *   nodes while Ready nodes can take them; past that, the plan says why and
 *   places the rest where they fit.
 * - An existing instance differs from the document in what it was launched
 *   with (image, size, networks, cloud-init): drift, reported, never changed.
 * - An instance of the environment the document no longer names (a count
 *   lowered, an entry removed) is removed: deleted and purged, once the
 *   caller confirms.
 */
import { createHash } from "node:crypto";
import { AppError } from "../core/errors.ts";
import type { Labels } from "../core/labels.ts";
import { parseSize } from "../core/validate.ts";
import { ENVIRONMENT_LABEL, type Environment, type EnvironmentMember, type EnvironmentPlan, type PlanStep } from "../protocol/environments.ts";
import type { InstanceState } from "../protocol/instances.ts";
import { demandOf, place, type Candidate, type Demand } from "./placement.ts";
import type { LaunchedWith, StoredMember } from "./environment-store.ts";

/** One instance of the cluster as the plan sees it. */
export interface SeenInstance {
  name: string;
  node: string;
  state: InstanceState;
  ipv4: string[];
  labels: Labels;
}

export interface PlanWorld {
  instances: SeenInstance[];
  /** The environment's recorded members. */
  stored: StoredMember[];
  /** Every node as placement sees it (launches in flight charged). */
  candidates: Candidate[];
  cpuOvercommit?: number;
  /** The node a launch of `name` already in flight goes to, or null. */
  launchingOn(name: string): string | null;
}

/** A step with what the apply needs beyond the wire's view of it. */
export interface PlannedStep extends PlanStep {
  member: EnvironmentMember | null;
  /** Why a launch cannot go anywhere: the apply fails it with this, and goes on with the rest. */
  refusal: AppError | null;
  /** The labels an existing instance gets set to (its own, the document's, the environment's); null: unchanged. */
  relabel: Labels | null;
}

const SETTLED_START: readonly InstanceState[] = ["Stopped", "Suspended", "Deleted"];

/** What `member` launches with, as recorded for drift. */
export function launchedWith(member: EnvironmentMember): LaunchedWith {
  return {
    image: member.image ?? null,
    cpus: member.cpus ?? null,
    memory: member.memory ?? null,
    disk: member.disk ?? null,
    networks: member.networks,
    cloudInit: member.cloudInit === undefined ? null : createHash("sha256").update(member.cloudInit).digest("hex"),
  };
}

/**
 * Plans `env` against `world`.
 * @throws AppError E_CONFLICT naming every instance of a document's name that
 *   is not the environment's; E_AMBIGUOUS for a name listed on several nodes.
 */
export function planEnvironment(env: Environment, world: PlanWorld): { plan: EnvironmentPlan; steps: PlannedStep[] } {
  const stored = new Map(world.stored.map((m) => [m.instance, m]));
  const ours = (i: SeenInstance) => i.labels[ENVIRONMENT_LABEL] === env.name || stored.get(i.name)?.node === i.node;
  const byName = new Map<string, SeenInstance[]>();
  for (const i of world.instances) byName.set(i.name, [...(byName.get(i.name) ?? []), i]);
  checkNames(env, byName, ours);

  const candidates = world.candidates.map((c) => ({ ...c, allocated: { ...c.allocated } }));
  const placedOn = new Map<string, string>();
  const notes: string[] = [];
  const steps: PlannedStep[] = env.members.map((member) => {
    const existing = byName.get(member.name)?.[0];
    const after = member.after.map((key) => `${env.name}-${key}`);
    if (existing !== undefined) return existingStep(member, existing, after, stored.get(member.name), world.launchingOn(member.name) !== null);
    const record = stored.get(member.name);
    const home = record === undefined ? undefined : world.candidates.find((c) => c.name === record.node);
    if (record !== undefined && home?.state !== "Ready") {
      // Its node has not joined since the master started, or is not Ready: the instance may well be there.
      const why = home === undefined ? "which is not in the cluster now (not joined since the master started, or removed)" : `which is ${home.state}`;
      const reason = `launched on node "${record.node}", ${why}: not launched again elsewhere; apply again once the node is Ready`;
      return step(member, { action: "wait", node: record.node, reason, state: null, after }, new AppError("E_UNREACHABLE", `"${member.name}" was ${reason}`));
    }
    const inFlight = world.launchingOn(member.name);
    if (inFlight !== null) {
      placedOn.set(member.name, inFlight);
      return step(member, { action: "wait", node: inFlight, reason: "being launched by another call: waited for", state: null, after });
    }
    const placed = placeMember(env, member, { candidates, placedOn, byName, notes, cpuOvercommit: world.cpuOvercommit });
    return step(member, { action: "launch", node: placed.node, reason: placed.reason, state: null, after }, placed.refusal);
  });
  const wanted = new Set(env.members.map((m) => m.name));
  for (const i of world.instances) {
    if (wanted.has(i.name) || !ours(i)) continue;
    steps.push({ ...removal(env, i), member: null, refusal: null, relabel: null });
  }
  const plan: EnvironmentPlan = { environment: env.name, steps: steps.map(wireStep), notes };
  return { plan, steps };
}

function checkNames(env: Environment, byName: Map<string, SeenInstance[]>, ours: (i: SeenInstance) => boolean): void {
  const problems: string[] = [];
  for (const member of env.members) {
    const found = byName.get(member.name) ?? [];
    if (found.length > 1) {
      throw new AppError("E_AMBIGUOUS", `Instance "${member.name}" of environment "${env.name}" is on several nodes (${found.map((i) => i.node).join(", ")}); delete all but one, then apply again`);
    }
    const other = found.find((i) => !ours(i));
    if (other) problems.push(`"${member.name}" on node "${other.node}"`);
  }
  if (problems.length > 0) {
    throw new AppError(
      "E_CONFLICT",
      `Environment "${env.name}" needs instance names that other instances have: ${problems.join(", ")}. Rename the environment, or delete those instances; nothing was changed`,
    );
  }
}

function step(member: EnvironmentMember, view: Omit<PlanStep, "name" | "key" | "drift">, refusal: AppError | null = null, drift: string[] = [], relabel: Labels | null = null): PlannedStep {
  return { name: member.name, key: member.key, drift, ...view, member, refusal, relabel };
}

function existingStep(member: EnvironmentMember, existing: SeenInstance, after: string[], record: StoredMember | undefined, launching: boolean): PlannedStep {
  const drift = record === undefined ? [] : driftOf(member, record.launched);
  const wanted: Labels = { ...existing.labels, ...member.labels };
  const relabel = sameLabels(wanted, existing.labels) ? null : wanted;
  const labelNote = relabel === null ? "" : existing.labels[ENVIRONMENT_LABEL] === undefined ? "; adopted: labels set" : "; labels updated";
  const view = { node: existing.node, state: existing.state, after };
  if (launching) {
    // Listed (even Running) while its launch has not ended: its cloud-init may still run, and what waits on it must wait.
    // Its launch sets its labels (a launch the last master left: the wait does), so no "adopted" here.
    return step(member, { ...view, action: "wait", reason: `exists, ${existing.state}, its launch not ended yet: waited for until it has` }, null, drift, relabel);
  }
  if (existing.state === "Running") return step(member, { ...view, action: "keep", reason: `exists, Running${labelNote}` }, null, drift, relabel);
  if (SETTLED_START.includes(existing.state)) {
    const how = existing.state === "Deleted" ? "deleted (not purged): recovered and started" : `${existing.state}: started`;
    return step(member, { ...view, action: "start", reason: `exists, ${how}${labelNote}` }, null, drift, relabel);
  }
  return step(member, { ...view, action: "wait", reason: `exists, ${existing.state}: waited for until Running${labelNote}` }, null, drift, relabel);
}

function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** How `member` differs from what its instance was launched with. */
export function driftOf(member: EnvironmentMember, launched: LaunchedWith): string[] {
  const now = launchedWith(member);
  const out: string[] = [];
  const show = (v: string | number | null) => (v === null ? "the default" : typeof v === "string" ? `"${v}"` : String(v));
  if (now.image !== launched.image) out.push(`image: ${show(now.image)} in the file, launched with ${show(launched.image)}`);
  if (now.cpus !== launched.cpus) out.push(`cpus: ${show(now.cpus)} in the file, launched with ${show(launched.cpus)}`);
  for (const key of ["memory", "disk"] as const) {
    const bytes = (v: string | null) => (v === null ? null : parseSize(v));
    if (bytes(now[key]) !== bytes(launched[key])) out.push(`${key}: ${show(now[key])} in the file, launched with ${show(launched[key])}`);
  }
  if (now.networks.join(" ") !== launched.networks.join(" ")) {
    out.push(`network: ${now.networks.length === 0 ? "none" : now.networks.join(", ")} in the file, launched with ${launched.networks.length === 0 ? "none" : launched.networks.join(", ")}`);
  }
  if (now.cloudInit !== launched.cloudInit) out.push("cloudInit: changed since the launch (cloud-init runs at first boot only)");
  return out;
}

interface Placing {
  candidates: Candidate[];
  /** Where each planned launch goes. */
  placedOn: Map<string, string>;
  byName: Map<string, SeenInstance[]>;
  notes: string[];
  cpuOvercommit?: number;
}

function placeMember(env: Environment, member: EnvironmentMember, p: Placing): { node: string | null; reason: string; refusal: AppError | null } {
  const demand = demandOf(member);
  const charge = (node: string) => {
    p.placedOn.set(member.name, node);
    const c = p.candidates.find((x) => x.name === node);
    if (c) {
      c.allocated.cpus += demand.cpus;
      c.allocated.memory += demand.memory;
      c.allocated.disk += demand.disk;
      c.instanceCount++;
    }
  };
  if (member.node !== undefined) {
    const pinned = p.candidates.filter((c) => c.name === member.node);
    if (pinned.length === 0) return refused(`Node "${member.node}" is not part of the cluster`, "E_NOT_FOUND");
    const fits = tryPlace(pinned, demand, p.cpuOvercommit);
    if (fits instanceof AppError) return { node: member.node, reason: `pinned to node "${member.node}", which cannot take it: ${fits.message}`, refusal: fits };
    charge(member.node);
    return { node: member.node, reason: `pinned to node "${member.node}" in the file`, refusal: null };
  }
  const siblings = member.spread ? siblingNodes(env, member, p) : new Map<string, string>();
  if (siblings.size > 0) {
    const apart = tryPlace(p.candidates.filter((c) => !siblings.has(c.name)), demand, p.cpuOvercommit);
    if (!(apart instanceof AppError)) {
      charge(apart.node);
      return { node: apart.node, reason: `spread: apart from ${[...siblings.values()].join(", ")}; ${apart.reason}`, refusal: null };
    }
    const anywhere = tryPlace(p.candidates, demand, p.cpuOvercommit);
    if (anywhere instanceof AppError) return { node: null, reason: `cannot be placed: ${anywhere.message}`, refusal: anywhere };
    charge(anywhere.node);
    const sharing = [...siblings].filter(([node]) => node === anywhere.node).map(([, name]) => name);
    const why = p.candidates.every((c) => siblings.has(c.name) || c.state !== "Ready")
      ? `every Ready node has one of "${member.entry}" already`
      : `no other node can take it (${apart.message})`;
    p.notes.push(`spread of "${member.entry}" not possible for ${member.name}: ${why}; it shares node "${anywhere.node}" with ${sharing.join(", ")}`);
    return { node: anywhere.node, reason: `spread not possible (${why}); ${anywhere.reason}`, refusal: null };
  }
  const placed = tryPlace(p.candidates, demand, p.cpuOvercommit);
  if (placed instanceof AppError) return { node: null, reason: `cannot be placed: ${placed.message}`, refusal: placed };
  charge(placed.node);
  return { node: placed.node, reason: placed.reason, refusal: null };
}

function refused(message: string, code: "E_NOT_FOUND"): { node: null; reason: string; refusal: AppError } {
  return { node: null, reason: `cannot be placed: ${message}`, refusal: new AppError(code, message) };
}

function tryPlace(candidates: Candidate[], demand: Demand, cpuOvercommit?: number): { node: string; reason: string } | AppError {
  try {
    return place(candidates, demand, cpuOvercommit);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
}

/** Node → name of the other instances of `member`'s entry that exist or are planned, each node once. */
function siblingNodes(env: Environment, member: EnvironmentMember, p: Placing): Map<string, string> {
  const out = new Map<string, string>();
  for (const other of env.members) {
    if (other.entry !== member.entry || other.name === member.name) continue;
    const node = p.byName.get(other.name)?.[0]?.node ?? p.placedOn.get(other.name);
    if (node !== undefined && !out.has(node)) out.set(node, other.name);
  }
  return out;
}

function removal(env: Environment, i: SeenInstance): PlanStep {
  const entry = env.members.find((m) => m.key !== m.entry && new RegExp(`^${env.name}-${m.entry}-\\d+$`).test(i.name))?.entry;
  const count = entry === undefined ? 0 : env.members.filter((m) => m.entry === entry).length;
  const reason = entry === undefined ? "no longer in the file: deleted and purged" : `count of "${entry}" lowered to ${count}: deleted and purged`;
  return { name: i.name, key: null, action: "remove", node: i.node, reason, state: i.state, after: [], drift: [] };
}

function wireStep(s: PlannedStep): PlanStep {
  return { name: s.name, key: s.key, action: s.action, node: s.node, reason: s.reason, state: s.state, after: s.after, drift: s.drift };
}
