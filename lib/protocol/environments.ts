/**
 * Environments (issue 17): a document naming several instances, applied to
 * the cluster as one. The wire shapes of `POST /api/v1/environments` and
 * `GET /api/v1/environments[/:name]`: the request, the plan, the events an
 * apply or delete streams, their results and the listing. The document
 * itself, its expansion and its templates are in environment-document.ts.
 */
import { usageError } from "../core/errors.ts";
import type { Labels } from "../core/labels.ts";
import { array, arrayOf, boolean, field, integer, nonNegative, nullable, number, object, oneOf, optional, ParseError, string, type JsonObject } from "../core/parse.ts";
import { validateInstanceName } from "../core/validate.ts";
import { INSTANCE_STATES, type InstanceState } from "./instances.ts";

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

/** The most `env` values one request carries. */
export const MAX_ENV_VALUES = 256;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const REQUEST_FIELDS = ["action", "document", "env", "confirm", "purge", "name"];

/**
 * Validates a `POST /api/v1/environments` body. The document is only checked
 * to be there (an object, or YAML text): its own parser reads it.
 * @throws AppError E_USAGE on an unknown field, a missing or malformed one
 *   (ParseError, which the API answers as a usage error)
 */
export function parseEnvironmentRequest(value: unknown): EnvironmentRequest {
  const o = object(value, "body");
  for (const key of Object.keys(o)) {
    if (!REQUEST_FIELDS.includes(key)) throw usageError(`Unknown environment request field "${key.slice(0, 40)}" (expected ${REQUEST_FIELDS.join(", ")})`);
  }
  const action = field(o, "action", "body", oneOf(ENVIRONMENT_ACTIONS));
  const name = field(o, "name", "body", optional(string));
  if (name !== undefined && action !== "delete") throw usageError(`body.name is only for delete: ${action} takes the environment's document`);
  const document = o["document"];
  if (document === undefined || document === null) {
    if (name === undefined) throw usageError(action === "delete" ? "A delete needs the environment's name or its document" : `${action === "apply" ? "An" : "A"} ${action} needs the environment's document`);
  } else if (typeof document !== "string" && (typeof document !== "object" || Array.isArray(document))) {
    throw new ParseError("body.document", "expected the document as an object, or its YAML text");
  }
  const request: EnvironmentRequest = {
    action,
    document: document ?? null,
    env: field(o, "env", "body", optional(envValues)) ?? {},
    confirm: field(o, "confirm", "body", optional(boolean)) ?? false,
    purge: field(o, "purge", "body", optional(boolean)) ?? false,
  };
  if (name !== undefined) request.name = validateInstanceName(name);
  return request;
}

function envValues(value: unknown, path: string): Record<string, string> {
  const o = object(value, path);
  const keys = Object.keys(o);
  if (keys.length > MAX_ENV_VALUES) throw new ParseError(path, `${keys.length} values; at most ${MAX_ENV_VALUES}`);
  const env: Record<string, string> = {};
  for (const key of keys) {
    if (!ENV_NAME.test(key)) throw new ParseError(path, `"${key.slice(0, 40)}" is not a variable name (letters, digits and _, not starting with a digit)`);
    env[key] = string(o[key], `${path}.${key}`);
  }
  return env;
}

const stepError = nullable((value: unknown, path: string) => {
  const e = object(value, path);
  return { code: field(e, "code", path, string), message: field(e, "message", path, string) };
});
const instanceState = nullable(oneOf(INSTANCE_STATES));

/** One step of a plan. @throws ParseError (E_PROTOCOL) */
export function parsePlanStep(value: unknown, path: string): PlanStep {
  const o = object(value, path);
  return {
    name: field(o, "name", path, string),
    key: field(o, "key", path, nullable(string)),
    action: field(o, "action", path, oneOf(PLAN_ACTIONS)),
    node: field(o, "node", path, nullable(string)),
    reason: field(o, "reason", path, string),
    state: field(o, "state", path, instanceState),
    after: field(o, "after", path, arrayOf(string)),
    drift: field(o, "drift", path, arrayOf(string)),
  };
}

/** A plan, as `action: plan` answers it and `apply` streams it first. @throws ParseError (E_PROTOCOL) */
export function parseEnvironmentPlan(value: unknown, path = "plan"): EnvironmentPlan {
  const o = object(value, path);
  return {
    environment: field(o, "environment", path, string),
    steps: field(o, "steps", path, arrayOf(parsePlanStep)),
    notes: field(o, "notes", path, arrayOf(string)),
  };
}

/** One step's outcome. @throws ParseError (E_PROTOCOL) */
export function parseStepResult(value: unknown, path = "result"): StepResult {
  const o = object(value, path);
  return {
    name: field(o, "name", path, string),
    node: field(o, "node", path, nullable(string)),
    action: field(o, "action", path, oneOf([...PLAN_ACTIONS, "delete"] as const)),
    ok: field(o, "ok", path, boolean),
    skipped: field(o, "skipped", path, boolean),
    state: field(o, "state", path, instanceState),
    ipv4: field(o, "ipv4", path, arrayOf(string)),
    error: field(o, "error", path, stepError),
  };
}

/** One event of an apply's or a delete's stream. @throws ParseError (E_PROTOCOL) */
export function parseEnvironmentEvent(value: unknown): EnvironmentEvent {
  const o = object(value, "event");
  const type = field(o, "type", "event", oneOf(["plan", "waiting", "step", "result", "done", "error"] as const));
  switch (type) {
    case "plan":
      return { type, plan: field(o, "plan", "event", parseEnvironmentPlan) };
    case "waiting":
      return { type, message: field(o, "message", "event", string) };
    case "step":
      return parseStepEvent(o);
    case "result":
      return { type, result: field(o, "result", "event", parseStepResult) };
    case "done":
      return { type, ok: field(o, "ok", "event", boolean), results: field(o, "results", "event", arrayOf(parseStepResult)) };
    case "error":
      return { type, code: field(o, "code", "event", string), message: field(o, "message", "event", string) };
  }
}

function parseStepEvent(o: JsonObject): EnvironmentEvent {
  const event: Extract<EnvironmentEvent, { type: "step" }> = {
    type: "step",
    name: field(o, "name", "event", string),
    node: field(o, "node", "event", nullable(string)),
    status: field(o, "status", "event", oneOf(["started", "progress"] as const)),
  };
  const phase = field(o, "phase", "event", optional(string));
  const message = field(o, "message", "event", optional(string));
  if (phase !== undefined) event.phase = phase;
  if (o["percent"] !== undefined) event.percent = field(o, "percent", "event", nullable(number));
  if (message !== undefined) event.message = message;
  return event;
}

function parseEnvironmentView(value: unknown, path: string): EnvironmentView {
  const o = object(value, path);
  const lastApply = field(o, "lastApply", path, nullable((v, p) => {
    const a = object(v, p);
    return { at: field(a, "at", p, string), ok: field(a, "ok", p, boolean) };
  }));
  return {
    name: field(o, "name", path, string),
    createdAt: field(o, "createdAt", path, string),
    updatedAt: field(o, "updatedAt", path, string),
    lastApply,
    declared: nonNegative(field(o, "declared", path, integer), `${path}.declared`),
    instances: field(o, "instances", path, arrayOf((v, p) => {
      const i = object(v, p);
      return {
        name: field(i, "name", p, string),
        node: field(i, "node", p, string),
        state: field(i, "state", p, oneOf(INSTANCE_STATES)),
        ipv4: field(i, "ipv4", p, arrayOf(string)),
      };
    })),
  };
}

/** `GET /api/v1/environments`: `{ environments: [...] }`. @throws ParseError (E_PROTOCOL) */
export function parseEnvironmentViews(value: unknown): EnvironmentView[] {
  const o = object(value, "answer");
  return array(o["environments"], "answer.environments").map((v, i) => parseEnvironmentView(v, `answer.environments[${i}]`));
}
