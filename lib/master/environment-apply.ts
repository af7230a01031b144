/**
 * Carrying out an environment's plan (environment-plan.ts): every step starts
 * as soon as the steps it waits for (`after`, and the instances its cloud-init
 * names) have ended well, so independent instances launch in parallel — on
 * different nodes at once, each node's calls paced by its lane as any launch
 * is. A step whose predecessor failed is skipped, saying which. Each step's
 * result is reported as it ends; the apply ends when every step has.
 *
 * Launches go through the master's own launch path (launches.ts): audited,
 * bounded by their stream's silence, followed when their answer is lost.
 * Before each launch the instance is recorded as the environment's member
 * (environment-store.ts), so a master killed mid-launch leaves the next apply
 * knowing it. A cloud-init is rendered just before its launch, from the
 * addresses and nodes of the instances it names as they are then; the
 * rendered text goes only into the launch, whose audit record keeps its size
 * and hash.
 */
import type { ConsolaInstance } from "consola";
import { AppError, messageOf } from "../core/errors.ts";
import type { Labels } from "../core/labels.ts";
import { createKeyedLimit, type KeyedLimit } from "../core/keyed-lock.ts";
import { renderTemplate, type TemplateRef } from "../core/template.ts";
import type { Environment, EnvironmentEvent, StepResult } from "../protocol/environments.ts";
import type { InstanceState, InstanceSummary } from "../protocol/instances.ts";
import type { Caller } from "./audit-policy.ts";
import type { EnvironmentStore } from "./environment-store.ts";
import { launchedWith, type PlannedStep } from "./environment-plan.ts";
import type { Operations } from "./operations.ts";
import type { Registry } from "./registry.ts";

export interface ApplyDeps {
  registry: Registry;
  ops: Operations;
  store: EnvironmentStore;
  log: Pick<ConsolaInstance, "error" | "info">;
  /** The node a launch of `name` in flight goes to (this master's, or one the last master left and this one settles), or null. */
  launchingOn(name: string): string | null;
  /** Launches of one apply running at once on a node (default {@link LAUNCHES_PER_NODE}). */
  launchesPerNode?: number;
  /** How often a waited-for instance is looked at (default 500 ms). */
  pollMs?: number;
  /** How long a step waits for an instance another call is launching or starting to be Running (default {@link WAIT_BOUND_MS}). */
  waitBoundMs?: number;
}

/**
 * Longest wait for an instance being launched or started by another call:
 * a real launch's silent phases alone reach 300 s (CONTRACT.md §3), and a
 * download comes before them.
 */
export const WAIT_BOUND_MS = 15 * 60_000;

/**
 * Launches of one apply at once on a node: each boots a VM (and the first
 * fetches the image), so a 50-instance lab does not start 50 VMs on one
 * laptop at once; the others wait their turn, in plan order.
 */
export const LAUNCHES_PER_NODE = 4;

export interface ApplyInput {
  env: Environment;
  steps: PlannedStep[];
  /** Values of the document's `{{ env.NAME }}`. */
  values: Record<string, string>;
  /** Removals may run (the caller confirmed them). */
  confirmed: boolean;
  caller: Caller;
  emit: (event: EnvironmentEvent) => void;
}

/** Runs every step; never rejects. Results in plan order. */
export async function runApply(deps: ApplyDeps, input: ApplyInput): Promise<StepResult[]> {
  const { env, steps, emit } = input;
  let secrets: Map<string, string>;
  try {
    secrets = deps.store.secrets(env.name, env.secretNames);
  } catch (error) {
    return Promise.all(steps.map(async (s) => report(emit, failed(s, error))));
  }
  const byName = new Map(steps.map((s) => [s.name, s]));
  const running = new Map<string, Promise<StepResult>>();
  const launches = createKeyedLimit(deps.launchesPerNode ?? LAUNCHES_PER_NODE);
  const run = (s: PlannedStep): Promise<StepResult> => {
    const known = running.get(s.name);
    if (known) return known;
    const result = (async () => {
      const before = await Promise.all(s.after.flatMap((name) => (byName.has(name) ? [run(byName.get(name)!)] : [])));
      const bad = before.filter((r) => !r.ok).map((r) => r.name);
      if (bad.length > 0) return skipped(s, `not ${s.action === "launch" ? "launched" : "done"}: ${bad.join(", ")}, which it waits for, did not succeed`);
      try {
        return await execute(deps, input, s, { secrets, launches, before: new Map(before.map((r) => [r.name, r])) });
      } catch (error) {
        return failed(s, error);
      }
    })().then((r) => report(emit, r));
    running.set(s.name, result);
    return result;
  };
  return Promise.all(steps.map(run));
}

function report(emit: (event: EnvironmentEvent) => void, result: StepResult): StepResult {
  emit({ type: "result", result });
  return result;
}

function failed(s: PlannedStep, error: unknown): StepResult {
  const e = error instanceof AppError ? error : new AppError("E_INTERNAL", messageOf(error), { cause: error });
  return { name: s.name, node: s.node, action: s.action, ok: false, skipped: false, state: s.state, ipv4: [], error: { code: e.code, message: e.message } };
}

function skipped(s: PlannedStep, why: string): StepResult {
  return { name: s.name, node: s.node, action: s.action, ok: false, skipped: true, state: s.state, ipv4: [], error: { code: "E_CONFLICT", message: why } };
}

/** The instance named `name` as the cache lists it now, with its node. */
function listed(registry: Registry, name: string): (InstanceSummary & { node: string }) | null {
  for (const e of registry.entries()) {
    const found = e.snapshot.instances.find((i) => i.name === name);
    if (found) return { ...found, node: e.name };
  }
  return null;
}

function ok(s: PlannedStep, node: string | null, state: InstanceState | null, ipv4: string[]): StepResult {
  return { name: s.name, node, action: s.action, ok: true, skipped: false, state, ipv4, error: null };
}

interface StepContext {
  secrets: Map<string, string>;
  /** The apply's launch slots, per node. */
  launches: KeyedLimit;
  /** Results of the steps this one waited for, by name. */
  before: Map<string, StepResult>;
}

async function execute(deps: ApplyDeps, input: ApplyInput, s: PlannedStep, ctx: StepContext): Promise<StepResult> {
  if (s.refusal !== null) throw s.refusal;
  switch (s.action) {
    case "keep": {
      relabel(deps, s);
      const now = listed(deps.registry, s.name);
      return ok(s, s.node, now?.state ?? s.state, now?.ipv4 ?? []);
    }
    case "start":
      return startStep(deps, input, s);
    case "wait":
      return waitStep(deps, s);
    case "remove":
      return removeStep(deps, input, s);
    case "launch": {
      const queued = (ahead: number) => input.emit({ type: "step", name: s.name, node: s.node, status: "started", message: `waiting for a turn on ${s.node}: ${ahead} launch${ahead === 1 ? "" : "es"} of this apply ahead` });
      return ctx.launches.run(s.node ?? "", () => launchStep(deps, input, s, ctx), queued);
    }
  }
}

function relabel(deps: ApplyDeps, s: PlannedStep): void {
  if (s.relabel === null || s.node === null) return;
  deps.registry.labels.setInstanceLabels(s.node, s.name, s.relabel);
}

/** One lifecycle verb on the step's instance; throws its error. */
async function act(deps: ApplyDeps, input: ApplyInput, s: PlannedStep, action: "start" | "recover" | "delete", purge = false): Promise<InstanceState | null> {
  const node = s.node === null ? undefined : deps.registry.get(s.node);
  if (!node) throw new AppError("E_NOT_FOUND", `Node "${s.node}" of "${s.name}" is not part of the cluster`);
  input.emit({ type: "step", name: s.name, node: s.node, status: "started", message: `${action === "delete" ? "removing" : action === "recover" ? "recovering" : "starting"} on ${s.node}` });
  const [result] = await deps.ops.act(action, [{ node, name: s.name }], { force: false, purge }, input.caller);
  if (!result || !result.ok) throw new AppError((result?.error?.code ?? "E_INTERNAL") as "E_INTERNAL", result?.error?.message ?? `Cannot ${action} "${s.name}"`);
  return result.state;
}

async function startStep(deps: ApplyDeps, input: ApplyInput, s: PlannedStep): Promise<StepResult> {
  if (s.state === "Deleted") await act(deps, input, s, "recover");
  const state = await act(deps, input, s, "start");
  relabel(deps, s);
  return ok(s, s.node, state, listed(deps.registry, s.name)?.ipv4 ?? []);
}

async function removeStep(deps: ApplyDeps, input: ApplyInput, s: PlannedStep): Promise<StepResult> {
  if (!input.confirmed) throw new AppError("E_CONFLICT", `Not removing "${s.name}": removals were not confirmed`);
  await act(deps, input, s, "delete", true);
  deps.store.dropMember(input.env.name, s.name);
  return ok(s, s.node, null, []);
}

/**
 * Waits until the instance is Running and no launch of it is in flight (its
 * launch ends once cloud-init is done: Running comes before), then sets its
 * labels; bounded.
 */
async function waitStep(deps: ApplyDeps, s: PlannedStep): Promise<StepResult> {
  const bound = deps.waitBoundMs ?? WAIT_BOUND_MS;
  const deadline = Date.now() + bound;
  for (;;) {
    const now = listed(deps.registry, s.name);
    const launching = deps.launchingOn(s.name) !== null;
    if (now?.state === "Running" && !launching) {
      relabel(deps, { ...s, node: now.node });
      return ok(s, now.node, now.state, now.ipv4);
    }
    const entry = now === null ? undefined : deps.registry.get(now.node);
    if (entry && deps.registry.stateOf(entry) === "Down") throw new AppError("E_UNREACHABLE", `"${s.name}" is on node "${now!.node}", which is Down; apply again once it is back`);
    if (now === null && !launching) throw new AppError("E_CONFLICT", `"${s.name}" was being launched by another call, which did not succeed; apply again to launch it`);
    if (now !== null && !launching && (now.state === "Stopped" || now.state === "Suspended" || now.state === "Deleted")) {
      throw new AppError("E_CONFLICT", `"${s.name}" settled ${now.state}, not Running; apply again to start it`);
    }
    if (Date.now() >= deadline) throw new AppError("E_TIMEOUT", `"${s.name}" was not Running after ${Math.round(bound / 60_000)} minutes (it is ${now?.state ?? "not listed"})`);
    await Bun.sleep(deps.pollMs ?? 500);
  }
}

async function launchStep(deps: ApplyDeps, input: ApplyInput, s: PlannedStep, ctx: StepContext): Promise<StepResult> {
  const member = s.member!;
  const node = s.node!;
  const cloudInit = member.cloudInit === undefined ? undefined : render(deps, input, member.cloudInit, s.name, ctx);
  deps.store.addMember(input.env.name, { instance: s.name, node, launched: launchedWith(member) });
  const labels: Labels = member.labels;
  const prepared = deps.ops.prepareLaunch({
    name: s.name,
    node,
    dryRun: false,
    labels,
    ...(member.image === undefined ? {} : { image: member.image }),
    ...(member.cpus === undefined ? {} : { cpus: member.cpus }),
    ...(member.memory === undefined ? {} : { memory: member.memory }),
    ...(member.disk === undefined ? {} : { disk: member.disk }),
    ...(member.networks.length === 0 ? {} : { networks: member.networks }),
    ...(cloudInit === undefined ? {} : { cloudInit }),
  });
  input.emit({ type: "step", name: s.name, node, status: "started", message: `launching on ${node}` });
  const end = await deps.ops.runLaunch(prepared, input.caller, (event) => {
    if (event.type === "progress") input.emit({ type: "step", name: s.name, node, status: "progress", phase: event.phase, percent: event.percent, message: event.text });
  });
  if (end.type === "error") throw new AppError(end.code, end.message);
  return ok(s, end.node, end.state, end.ipv4);
}

/** The cloud-init of `name`, its references filled in. @throws AppError E_CONFLICT for an instance without an address */
function render(deps: ApplyDeps, input: ApplyInput, template: string, name: string, ctx: StepContext): string {
  return renderTemplate(template, (ref: TemplateRef) => {
    if (ref.kind === "env") {
      const value = Object.hasOwn(input.values, ref.name) ? input.values[ref.name] : undefined;
      if (value === undefined) throw new AppError("E_USAGE", `${ref.text} in the cloud-init of "${name}": the variable was not sent`);
      return value;
    }
    if (ref.kind === "secret") return ctx.secrets.get(ref.name)!;
    const target = `${input.env.name}-${ref.key}`;
    const before = ctx.before.get(target);
    const now = listed(deps.registry, target);
    if (ref.field === "node") {
      const node = before?.node ?? now?.node;
      if (!node) throw new AppError("E_CONFLICT", `${ref.text} in the cloud-init of "${name}": "${target}" is not on any node`);
      return node;
    }
    const address = reachableAddress(input.env.members.find((m) => m.key === ref.key)?.networks.length ?? 0, before?.ipv4 ?? now?.ipv4 ?? []);
    if (!address) throw new AppError("E_CONFLICT", `${ref.text} in the cloud-init of "${name}": "${target}" has no IPv4 address (it is ${now?.state ?? "not listed"})`);
    return address;
  });
}

/**
 * The address `{{ instances.KEY.ipv4 }}` gives: with extra networks (a
 * bridged one, so that VMs on other hosts reach it) the first address on
 * them — Multipass lists the address on its own NAT network first, which
 * only VMs of the same host reach — else the first.
 */
export function reachableAddress(networks: number, ipv4: readonly string[]): string | undefined {
  return networks > 0 && ipv4.length > 1 ? ipv4[1] : ipv4[0];
}
