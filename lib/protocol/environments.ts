/**
 * Environments (issue 17): a document naming several instances, applied to
 * the cluster as one. The wire shapes of `POST /api/v1/environments` and
 * `GET /api/v1/environments[/:name]`: the request, the plan, the events an
 * apply or delete streams, their results and the listing. The document
 * itself, its expansion and its templates are in environment-document.ts.
 */
import type { Labels } from "../core/labels.ts";
import type { InstanceState } from "./instances.ts";

/** The label every instance of an environment carries, naming it: `multiverse/env=lab`. */
export const ENVIRONMENT_LABEL = "multiverse/env";

/** One instance the document asks for, its entry's count expanded and the defaults applied. */
export interface EnvironmentMember {
  /** The template name, what `{{ instances.KEY.ipv4 }}` names: `server`, or `agent-1` for an entry with a count. */
  key: string;
  /** Its name on the cluster: `<environment>-<key>`, e.g. `lab-agent-1`. */
  name: string;
  /** The document's entry it comes from (`agent`). */
  entry: string;
  image?: string;
  cpus?: number;
  /** Canonical size strings (`1G`). */
  memory?: string;
  disk?: string;
  /** Pinned to this node. */
  node?: string;
  /** Placed apart from the other members of its entry where the cluster allows. */
  spread: boolean;
  /** The document's labels, plus {@link ENVIRONMENT_LABEL}. */
  labels: Labels;
  /** Keys it is launched after: its `after` entries expanded, plus every instance its cloud-init names. Sorted. */
  after: string[];
  /** The cloud-init template, not rendered. */
  cloudInit?: string;
  /** Multipass `--network` specs, in order. */
  networks: string[];
}

/** A document, checked and expanded. */
export interface Environment {
  name: string;
  /** Members in document order (an entry's indexes in order). */
  members: EnvironmentMember[];
  /** Every `{{ env.NAME }}` the templates use, sorted. */
  envNames: string[];
  /** Every `{{ secrets.NAME }}` the templates use, sorted. */
  secretNames: string[];
}

export const ENVIRONMENT_ACTIONS = ["plan", "apply", "delete"] as const;
export type EnvironmentAction = (typeof ENVIRONMENT_ACTIONS)[number];

/** The body of `POST /api/v1/environments`. */
export interface EnvironmentRequest {
  action: EnvironmentAction;
  /** The document: as a JSON value (what the client sends, `cloudInitFile` read into `cloudInit`), or its YAML text. */
  document: unknown;
  /** Values of the `{{ env.NAME }}` the templates use (the client's environment); never stored. */
  env: Record<string, string>;
  /** apply: removals (a lowered count) go ahead; without it a plan with removals is refused (409) and nothing changes. */
  confirm: boolean;
  /** delete: purge the instances, and forget the environment's definition and secrets. */
  purge: boolean;
  /** delete: the environment's name, instead of a document. */
  name?: string;
}

/** What an apply does with one instance. */
export const PLAN_ACTIONS = ["launch", "keep", "start", "wait", "remove"] as const;
export type PlanAction = (typeof PLAN_ACTIONS)[number];

/** One instance in a plan. */
export interface PlanStep {
  /** Its name on the cluster. */
  name: string;
  /** Its template name; null for an instance the document no longer asks for (a lowered count). */
  key: string | null;
  action: PlanAction;
  /** Where it is, or where it will be launched. */
  node: string | null;
  /** Why: the placement reason of a launch, `exists, Running`, `count of "agent" lowered from 3 to 2`… */
  reason: string;
  /** Its state now; null when it does not exist. */
  state: InstanceState | null;
  /** Names it waits for. */
  after: string[];
  /** How the instance differs from the document and cannot be changed in place: `cpus: 2 in the file, launched with 1`. */
  drift: string[];
}

export interface EnvironmentPlan {
  environment: string;
  steps: PlanStep[];
  /** Things a reader should know that are not one step's: `spread` that cannot be honoured, and why. */
  notes: string[];
}

/** The outcome of one step of an apply or delete. */
export interface StepResult {
  name: string;
  node: string | null;
  action: PlanAction | "delete";
  ok: boolean;
  /** `skipped` steps did not run: a step they wait for failed. */
  skipped: boolean;
  state: InstanceState | null;
  ipv4: string[];
  error: { code: string; message: string } | null;
}

/** What an apply or delete streams (NDJSON or SSE), in order: `plan` (apply), then `step`s, then one `done`. */
export type EnvironmentEvent =
  | { type: "plan"; plan: EnvironmentPlan }
  /** Another apply or delete of this environment is running: this one waits for it. */
  | { type: "waiting"; message: string }
  | { type: "step"; name: string; node: string | null; status: "started" | "progress"; phase?: string; percent?: number | null; message?: string }
  | { type: "result"; result: StepResult }
  | { type: "done"; ok: boolean; results: StepResult[] }
  /** The apply could not start (its plan failed once it had waited for another): nothing was done. */
  | { type: "error"; code: string; message: string };

/** One environment in `GET /api/v1/environments`. */
export interface EnvironmentView {
  name: string;
  createdAt: string;
  updatedAt: string;
  /** When its last apply ended, and whether it succeeded; null before any. */
  lastApply: { at: string; ok: boolean } | null;
  /** How many instances the stored document asks for. */
  declared: number;
  /** Its instances on the cluster (labelled with it or recorded as its members), by name. */
  instances: { name: string; node: string; state: InstanceState; ipv4: string[] }[];
}
