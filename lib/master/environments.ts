/**
 * Environments on the master (issue 17): a document in, a plan out
 * (environment-plan.ts), carried out (environment-apply.ts), deleted, listed.
 *
 * - One apply or delete of an environment at a time: a second one waits for
 *   the first (saying so) and then plans against what the first left.
 * - An apply runs to its end on the master whoever asked for it goes away;
 *   its results are in the audit trail (each launch, start and removal) and
 *   the next apply continues from what exists.
 * - The document of each apply is kept (environment-store.ts), with the
 *   secrets its templates name, generated on the first apply that needs them.
 */
import type { ConsolaInstance } from "consola";
import { AppError } from "../core/errors.ts";
import { createKeyedLock } from "../core/keyed-lock.ts";
import { readYamlDocument } from "../cli/yaml-document.ts";
import { parseEnvironmentDocument } from "../protocol/environment-document.ts";
import { ENVIRONMENT_LABEL, type Environment, type EnvironmentEvent, type EnvironmentPlan, type EnvironmentView, type StepResult } from "../protocol/environments.ts";
import { recordRequest, type AuditDeps, type Caller, type CallEnd } from "./audit-policy.ts";
import { runApply, type ApplyDeps } from "./environment-apply.ts";
import { planEnvironment, type PlannedStep, type SeenInstance } from "./environment-plan.ts";

export interface EnvironmentsDeps extends Omit<ApplyDeps, "log"> {
  log: Pick<ConsolaInstance, "error" | "info">;
  /** Each apply and delete of an environment is recorded as a whole (`apply-environment`, `delete-environment`), beside the calls it makes. */
  audit: AuditDeps["audit"];
  cpuOvercommit?: number;
}

/** A document read and checked, with the JSON the store keeps of it. */
export interface ReadDocument {
  env: Environment;
  /** The document as JSON text. */
  json: string;
}

export interface Environments {
  /**
   * Reads a document sent as a JSON value or as YAML text.
   * @throws AppError E_USAGE naming the line (YAML) or the path of the first problem.
   */
  read(document: unknown): ReadDocument;
  /** The plan against the cluster now. @throws AppError E_CONFLICT / E_AMBIGUOUS (instance names taken) */
  plan(env: Environment): EnvironmentPlan;
  /**
   * Plans and carries out: `plan`, then `step`s and `result`s, then `done`.
   * Waits first for another apply or delete of the environment. Never rejects:
   * a plan that fails ends in `done` with the error.
   */
  apply(doc: ReadDocument, options: { values: Record<string, string>; confirmed: boolean }, caller: Caller, emit: (event: EnvironmentEvent) => void): Promise<ApplyOutcome>;
  /**
   * Deletes every instance of the environment (purged with `purge`, which also
   * forgets its document and secrets). @throws AppError E_NOT_FOUND for an environment with no record and no instance.
   */
  remove(name: string, purge: boolean, caller: Caller, emit: (event: EnvironmentEvent) => void): Promise<ApplyOutcome>;
  list(): EnvironmentView[];
  /** One environment, with its stored document. @throws AppError E_NOT_FOUND */
  get(name: string): EnvironmentView & { document: unknown };
}

export interface ApplyOutcome {
  ok: boolean;
  plan: EnvironmentPlan | null;
  results: StepResult[];
  error: AppError | null;
}

/** What the apply and the delete of an environment work with. */
interface Context {
  deps: EnvironmentsDeps;
  /** The plan of `env` against the cluster now. */
  planned(env: Environment): { plan: EnvironmentPlan; steps: PlannedStep[] };
  /** The environment's instances: labelled with it, or recorded as its members on that node. */
  instancesOf(name: string): SeenInstance[];
}

export function createEnvironments(deps: EnvironmentsDeps): Environments {
  const lock = createKeyedLock();
  const { registry, store } = deps;
  const seen = (): SeenInstance[] =>
    registry.entries().flatMap((e) => e.snapshot.instances.map((i) => ({ name: i.name, node: e.name, state: i.state, ipv4: i.ipv4, labels: registry.labels.instanceLabels(e.name, i.name) })));
  const ctx: Context = {
    deps,
    planned: (env) =>
      planEnvironment(env, { instances: seen(), stored: store.members(env.name), candidates: deps.ops.candidates(), cpuOvercommit: deps.cpuOvercommit, launchingOn: deps.launchingOn }),
    instancesOf(name) {
      const members = new Map(store.members(name).map((m) => [m.instance, m.node]));
      return seen().filter((i) => i.labels[ENVIRONMENT_LABEL] === name || members.get(i.name) === i.node);
    },
  };
  /** Runs `task` alone for `name`, saying so first when it has to wait. */
  const exclusive = <T>(name: string, emit: (event: EnvironmentEvent) => void, task: () => Promise<T>): Promise<T> => {
    let started = false;
    const run = lock.run(name, () => {
      started = true;
      return task();
    });
    queueMicrotask(() => {
      if (!started) emit({ type: "waiting", message: `another apply or delete of environment "${name}" is running: this one starts when it ends` });
    });
    return run;
  };
  const view = (name: string): EnvironmentView => {
    const record = store.get(name);
    const iso = (ms: number | undefined) => new Date(ms ?? 0).toISOString();
    return {
      name,
      createdAt: iso(record?.createdMs),
      updatedAt: iso(record?.updatedMs),
      lastApply: record?.lastApply ? { at: iso(record.lastApply.ms), ok: record.lastApply.ok } : null,
      declared: declaredOf(record?.document),
      instances: ctx
        .instancesOf(name)
        .map((i) => ({ name: i.name, node: i.node, state: i.state, ipv4: i.ipv4 }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.node < b.node ? -1 : 1)),
    };
  };

  return {
    read(document) {
      if (typeof document === "string") {
        const yaml = readYamlDocument(document, "document");
        const env = parseEnvironmentDocument(yaml.value, { lineOf: yaml.lineOf, source: "document", files: "refuse" });
        return { env, json: JSON.stringify(yaml.value) };
      }
      return { env: parseEnvironmentDocument(document, { files: "refuse" }), json: JSON.stringify(document) };
    },
    plan: (env) => ctx.planned(env).plan,
    apply: (doc, options, caller, emit) => exclusive(doc.env.name, emit, () => applyNow(ctx, doc, options, caller, emit)),
    remove(name, purge, caller, emit) {
      if (store.get(name) === null && ctx.instancesOf(name).length === 0) throw new AppError("E_NOT_FOUND", `No environment "${name}": the master has no record of it and no instance carries its label`);
      return exclusive(name, emit, () => deleteNow(ctx, name, purge, caller, emit));
    },
    list() {
      const names = new Set(store.list().map((e) => e.name));
      for (const i of seen()) {
        const label = i.labels[ENVIRONMENT_LABEL];
        if (label !== undefined) names.add(label);
      }
      return [...names].sort().map(view);
    },
    get(name) {
      const record = store.get(name);
      if (record === null && ctx.instancesOf(name).length === 0) throw new AppError("E_NOT_FOUND", `No environment "${name}"`);
      return { ...view(name), document: record === null ? null : (JSON.parse(record.document) as unknown) };
    },
  };
}

/** How many instances a stored document asks for (0 for none, or one this master cannot read). */
function declaredOf(document: string | undefined): number {
  if (document === undefined) return 0;
  try {
    return parseEnvironmentDocument(JSON.parse(document) as unknown).members.length;
  } catch {
    return 0;
  }
}

/** An outcome that did nothing, for an error before the first step. */
function refused(error: unknown, fallback: "E_INTERNAL" | "E_STORAGE"): ApplyOutcome {
  return { ok: false, plan: null, results: [], error: error instanceof AppError ? error : new AppError(fallback, String(error)) };
}

/** The apply, holding the environment's turn: plan, save, record, run, record its end. */
async function applyNow(ctx: Context, doc: ReadDocument, options: { values: Record<string, string>; confirmed: boolean }, caller: Caller, emit: (event: EnvironmentEvent) => void): Promise<ApplyOutcome> {
  const { deps } = ctx;
  const { env } = doc;
  let plan: { plan: EnvironmentPlan; steps: PlannedStep[] };
  let end: (end: CallEnd) => void;
  try {
    plan = ctx.planned(env);
    deps.store.save(env.name, doc.json);
  } catch (error) {
    return refused(error, "E_INTERNAL");
  }
  try {
    end = recordRequest(deps, { token: caller.tokenId, action: "apply-environment", node: null, instance: null, params: { environment: env.name, confirm: options.confirmed, ...countSteps(plan.steps) } });
  } catch (error) {
    return refused(error, "E_STORAGE");
  }
  emit({ type: "plan", plan: plan.plan });
  const results = await runApply(deps, { env, steps: plan.steps, values: options.values, confirmed: options.confirmed, caller, emit });
  const ok = results.every((r) => r.ok);
  end(ok ? { error: null } : { error: { code: "E_CONFLICT", message: summarize(results) } });
  try {
    deps.store.recordApply(env.name, ok);
  } catch (error) {
    deps.log.error(`environment "${env.name}": cannot record how its apply ended: ${String(error)}`);
  }
  return { ok, plan: plan.plan, results, error: null };
}

/** The delete, holding the environment's turn: every instance of it deleted (purged), recorded. */
async function deleteNow(ctx: Context, name: string, purge: boolean, caller: Caller, emit: (event: EnvironmentEvent) => void): Promise<ApplyOutcome> {
  const { deps } = ctx;
  const targets = ctx.instancesOf(name).filter((i) => purge || i.state !== "Deleted");
  let end: (end: CallEnd) => void;
  try {
    end = recordRequest(deps, { token: caller.tokenId, action: "delete-environment", node: null, instance: null, params: { environment: name, purge, instances: targets.length } });
  } catch (error) {
    return refused(error, "E_STORAGE");
  }
  const results: StepResult[] = [];
  const entries = targets.flatMap((i) => {
    const node = deps.registry.get(i.node);
    return node ? [{ node, name: i.name }] : [];
  });
  await deps.ops.act("delete", entries, { force: false, purge }, caller, (r) => {
    const result: StepResult = { name: r.name, node: r.node, action: "delete", ok: r.ok, skipped: false, state: r.state, ipv4: [], error: r.error };
    results.push(result);
    emit({ type: "result", result });
    if (r.ok && purge) forgetting(deps, name, () => deps.store.dropMember(name, r.name));
  });
  const ok = results.every((r) => r.ok);
  end(ok ? { error: null } : { error: { code: "E_CONFLICT", message: summarize(results) } });
  if (ok && purge) forgetting(deps, name, () => deps.store.forget(name));
  return { ok, plan: null, results, error: null };
}

/** A write that forgets what a purge removed: its failure is logged (the instances are gone all the same; a later delete --purge forgets it). */
function forgetting(deps: EnvironmentsDeps, name: string, write: () => void): void {
  try {
    write();
  } catch (error) {
    deps.log.error(`environment "${name}": cannot forget what was purged: ${String(error)}`);
  }
}

/** How many steps of each action a plan has, for its audit record. */
function countSteps(steps: readonly PlannedStep[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of steps) counts[s.action] = (counts[s.action] ?? 0) + 1;
  return counts;
}

/** The failures of an apply or delete, for its audit record: `lab-a failed (…); lab-b skipped`. */
function summarize(results: readonly StepResult[]): string {
  const bad = results.filter((r) => !r.ok);
  const shown = bad.slice(0, 10).map((r) => `${r.name} ${r.skipped ? "skipped" : `failed (${(r.error?.message ?? "unknown error").slice(0, 200)})`}`);
  return `${bad.length} of ${results.length} steps did not succeed: ${shown.join("; ")}${bad.length > 10 ? "; …" : ""}`;
}
