/**
 * Shapes of launches and lifecycle operations, on the client API and on the
 * agent API, with the parsers that validate them. Validation happens here,
 * before anything reaches a worker, and again on the worker.
 */
import { parseSelector, type Labels, type Selector } from "../core/labels.ts";
import { parseLabels } from "./labels.ts";
import { AppError, isErrorCode, messageOf, usageError, type ErrorCode } from "../core/errors.ts";
import { INSTANCE_STATES, MAX_NETWORKS, type InstanceState, type InstanceSummary, type LaunchSpec, parseInstanceSummary } from "./instances.ts";
import { arrayOf, boolean, field, nullable, number, object, oneOf, optional, string } from "../core/parse.ts";
import {
  parseInstanceRef,
  validateCpus,
  validateImage,
  validateInstanceName,
  validateLaunchSizes,
  validateNetworkSpec,
  validateNodeName,
  validateTimeoutSeconds,
} from "../core/validate.ts";

/** Largest cloud-init document accepted (Multipass's own limit is the user-data size of the image). */
export const MAX_CLOUD_INIT_BYTES = 256 * 1024;

export const LIFECYCLE_ACTIONS = ["start", "stop", "restart", "suspend", "delete", "recover"] as const;
export type LifecycleAction = (typeof LIFECYCLE_ACTIONS)[number];

/** What a verb did to an instance, as messages say it ("No instance that can be stopped …"). */
export const LIFECYCLE_PAST: Record<LifecycleAction, string> = {
  start: "started",
  stop: "stopped",
  restart: "restarted",
  suspend: "suspended",
  delete: "deleted",
  recover: "recovered",
};

/** Which instances `--all` means for each verb. */
export const ELIGIBLE: Record<LifecycleAction, (state: InstanceState) => boolean> = {
  start: (s) => s !== "Running" && s !== "Deleted",
  stop: (s) => s === "Running" || s === "Delayed Shutdown",
  restart: (s) => s === "Running",
  suspend: (s) => s === "Running",
  delete: (s) => s !== "Deleted",
  recover: (s) => s === "Deleted",
};

/** One node's outcome of a purge. */
export interface PurgeResult {
  node: string;
  ok: boolean;
  /** Deleted instances that are gone now. */
  purged: string[];
  error: { code: ErrorCode; message: string } | null;
}

/** `POST /api/v1/instances` body: a launch (name optional), where to put it, and whether to only plan it. */
export interface LaunchRequestBody extends Omit<LaunchSpec, "name"> {
  name?: string;
  node?: string;
  dryRun: boolean;
  /**
   * Launching an instance named `primary` makes Multipass mount the home
   * directory of the worker's account into it (CONTRACT.md §2.2): anyone who
   * can exec there reads that home. Refused unless this is true.
   */
  allowPrimary?: boolean;
  /** Labels set on the instance once it is launched (issue 15); never sent to the worker. */
  labels?: Labels;
}

/** The name Multipass treats specially (CONTRACT.md §2.2): its launch mounts the host account's home. */
export const PRIMARY_NAME = "primary";

/** Options of a lifecycle action. */
export interface ActionOptions {
  force: boolean;
  purge: boolean;
}

/** One instance's outcome in a lifecycle answer. */
export interface ActionResult {
  node: string;
  name: string;
  ok: boolean;
  /** The state after the operation, from the node's fresh listing. */
  state: InstanceState | null;
  error: { code: ErrorCode; message: string } | null;
}

/** Streamed events of a launch (NDJSON lines or SSE events). */
export type LaunchEvent =
  | { type: "placed"; node: string; reason: string }
  | { type: "progress"; node: string; phase: string; percent: number | null; text: string }
  | { type: "launched"; node: string; name: string; state: InstanceState; ipv4: string[] }
  | { type: "error"; code: ErrorCode; message: string };

/**
 * Streamed events of a lifecycle call or a purge (`Accept: application/x-ndjson`):
 * each instance's (or node's) result as it finishes, then the whole answer.
 */
export type ActionEvent = { type: "result"; result: ActionResult } | { type: "done"; ok: boolean; results: ActionResult[] };
export type PurgeEvent = { type: "result"; result: PurgeResult } | { type: "done"; ok: boolean; results: PurgeResult[] };

/** What a worker streams back for a lifecycle verb or a purge: `done` with its fresh listing, or `error`. */
export type AgentActionEvent = { type: "done"; instances: InstanceSummary[] } | { type: "error"; code: ErrorCode; message: string };

/** What a worker streams back for a launch: progress, then `done` or `error`. */
export type AgentLaunchEvent =
  | { type: "progress"; phase: string; percent: number | null; text: string }
  | { type: "done"; instances: InstanceSummary[] }
  | { type: "error"; code: ErrorCode; message: string };

function cloudInitText(value: unknown): string {
  if (typeof value !== "string") throw usageError("cloudInit must be the text of a cloud-init document");
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_CLOUD_INIT_BYTES) throw usageError(`The cloud-init document is too large (${bytes} bytes; at most ${MAX_CLOUD_INIT_BYTES})`);
  let parsed: unknown;
  try {
    parsed = Bun.YAML.parse(value);
  } catch (error) {
    throw usageError(`The cloud-init document is not valid YAML: ${messageOf(error)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw usageError("The cloud-init document must be a YAML mapping (it usually starts with #cloud-config)");
  }
  return value;
}

/** `networks`: a list of at most {@link MAX_NETWORKS} specs, each checked as Multipass's client checks it. */
function networkSpecs(value: unknown): string[] {
  if (!Array.isArray(value)) throw usageError('networks must be a list of network specs such as ["bridged"]');
  if (value.length > MAX_NETWORKS) throw usageError(`Too many networks (${value.length}; at most ${MAX_NETWORKS})`);
  return value.map((spec) => validateNetworkSpec(spec));
}

/** Validates a `POST /api/v1/instances` body. @throws AppError E_USAGE with the exact reason */
export function parseLaunchRequest(value: unknown): LaunchRequestBody {
  const o = object(value, "body");
  const known = new Set(["name", "image", "cpus", "memory", "disk", "cloudInit", "timeoutSeconds", "networks", "node", "dryRun", "allowPrimary", "labels"]);
  for (const key of Object.keys(o)) if (!known.has(key)) throw usageError(`Unknown launch field "${key.slice(0, 40)}"`);
  const str = (key: string) => field(o, key, "body", optional(string));
  const name = str("name");
  const image = str("image");
  const node = str("node");
  const sizes = validateLaunchSizes({ memory: str("memory"), disk: str("disk") });
  const allowPrimary = field(o, "allowPrimary", "body", optional(boolean)) ?? false;
  const labels = field(o, "labels", "body", optional(parseLabels));
  const networks = o["networks"] === undefined ? [] : networkSpecs(o["networks"]);
  if (name === PRIMARY_NAME && !allowPrimary) {
    throw usageError(
      `An instance named "${PRIMARY_NAME}" is Multipass's primary instance: launching it mounts the home directory of the worker's account into the VM, where anyone who can run commands there can read it. Choose another name, or allow it explicitly (--allow-primary, or "allowPrimary": true)`,
    );
  }
  return {
    ...(name === undefined ? {} : { name: validateInstanceName(name) }),
    ...(image === undefined ? {} : { image: validateImage(image) }),
    ...(o["cpus"] === undefined ? {} : { cpus: validateCpus(o["cpus"]) }),
    ...(sizes.memory === undefined ? {} : { memory: sizes.memory }),
    ...(sizes.disk === undefined ? {} : { disk: sizes.disk }),
    ...(o["cloudInit"] === undefined ? {} : { cloudInit: cloudInitText(o["cloudInit"]) }),
    ...(o["timeoutSeconds"] === undefined ? {} : { timeoutSeconds: validateTimeoutSeconds(o["timeoutSeconds"]) }),
    ...(networks.length === 0 ? {} : { networks }),
    ...(node === undefined ? {} : { node: validateNodeName(node) }),
    dryRun: field(o, "dryRun", "body", optional(boolean)) ?? false,
    ...(allowPrimary ? { allowPrimary } : {}),
    ...(labels === undefined || Object.keys(labels).length === 0 ? {} : { labels }),
  };
}

/** Validates a launch spec arriving at a worker. @throws AppError E_USAGE */
export function parseLaunchSpec(value: unknown): LaunchSpec {
  const o = object(value, "launch");
  if (o["labels"] !== undefined) throw usageError('Unknown launch field "labels"');
  const { node: _node, dryRun: _dryRun, allowPrimary: _allowPrimary, name, ...rest } = parseLaunchRequest({ ...o, name: o["name"] });
  if (name === undefined) throw usageError("A launch needs a name");
  return { name, ...rest };
}

/** Validates the options of a lifecycle call. @throws AppError E_USAGE */
export function parseActionOptions(value: unknown): ActionOptions {
  const o = object(value, "body");
  return {
    force: field(o, "force", "body", optional(boolean)) ?? false,
    purge: field(o, "purge", "body", optional(boolean)) ?? false,
  };
}

/** `POST /api/v1/actions/:action` body: instances by `NAME`/`NAME@NODE`, all of them, or those a label selector selects. */
export interface BulkActionBody extends ActionOptions {
  instances: { name: string; node?: string }[];
  all: boolean;
  selector: Selector | null;
}

export function parseBulkAction(value: unknown): BulkActionBody {
  const o = object(value, "body");
  const refs = field(o, "instances", "body", optional(arrayOf(string))) ?? [];
  const all = field(o, "all", "body", optional(boolean)) ?? false;
  const selectorText = field(o, "selector", "body", optional(string));
  if ([all, refs.length > 0, selectorText !== undefined].filter(Boolean).length > 1) throw usageError("Give instance names, all or a selector: only one of them");
  if (!all && refs.length === 0 && selectorText === undefined) throw usageError("Give at least one instance name, all, or a selector");
  if (refs.length > 1000) throw usageError("Too many instances in one call (at most 1000)");
  const selector = selectorText === undefined ? null : parseSelector(selectorText);
  if (selector !== null && selector.length === 0) throw usageError("An empty selector would select every instance; to mean that, use all");
  return { instances: refs.map((r) => parseInstanceRef(r)), all, selector, ...parseActionOptions(o) };
}

function isLifecycleAction(text: string): text is LifecycleAction {
  return LIFECYCLE_ACTIONS.some((action) => action === text);
}

export function parseLifecycleAction(text: string): LifecycleAction {
  if (!isLifecycleAction(text)) {
    throw new AppError("E_NOT_FOUND", `Unknown action "${text.slice(0, 30)}": expected one of ${LIFECYCLE_ACTIONS.join(", ")}`);
  }
  return text;
}

function errorCode(value: unknown, path: string): ErrorCode {
  const s = string(value, path);
  return isErrorCode(s) ? s : "E_INTERNAL";
}

export function parseAgentLaunchEvent(value: unknown): AgentLaunchEvent {
  const o = object(value, "event");
  const type = field(o, "type", "event", oneOf(["progress", "done", "error"] as const));
  if (type === "progress") {
    return {
      type,
      phase: field(o, "phase", "event", string),
      percent: field(o, "percent", "event", nullable(number)),
      text: field(o, "text", "event", string),
    };
  }
  if (type === "done") return { type, instances: field(o, "instances", "event", arrayOf(parseInstanceSummary)) };
  return { type, code: field(o, "code", "event", errorCode), message: field(o, "message", "event", string) };
}

export function parseLaunchEvent(value: unknown): LaunchEvent {
  const o = object(value, "event");
  const type = field(o, "type", "event", oneOf(["placed", "progress", "launched", "error"] as const));
  switch (type) {
    case "placed":
      return { type, node: field(o, "node", "event", string), reason: field(o, "reason", "event", string) };
    case "progress":
      return {
        type,
        node: field(o, "node", "event", string),
        phase: field(o, "phase", "event", string),
        percent: field(o, "percent", "event", nullable(number)),
        text: field(o, "text", "event", string),
      };
    case "launched":
      return {
        type,
        node: field(o, "node", "event", string),
        name: field(o, "name", "event", string),
        state: field(o, "state", "event", oneOf(INSTANCE_STATES)),
        ipv4: field(o, "ipv4", "event", arrayOf(string)),
      };
    default:
      return { type, code: field(o, "code", "event", errorCode), message: field(o, "message", "event", string) };
  }
}

function resultError(value: unknown, path: string): { code: ErrorCode; message: string } | null {
  if (value === null || value === undefined) return null;
  const e = object(value, path);
  return { code: field(e, "code", path, errorCode), message: field(e, "message", path, string) };
}

export function parseActionResult(value: unknown, path: string): ActionResult {
  const o = object(value, path);
  return {
    node: field(o, "node", path, string),
    name: field(o, "name", path, string),
    ok: field(o, "ok", path, boolean),
    state: field(o, "state", path, nullable(oneOf(INSTANCE_STATES))),
    error: field(o, "error", path, resultError),
  };
}

export function parsePurgeResult(value: unknown, path: string): PurgeResult {
  const o = object(value, path);
  return {
    node: field(o, "node", path, string),
    ok: field(o, "ok", path, boolean),
    purged: field(o, "purged", path, arrayOf(string)),
    error: field(o, "error", path, resultError),
  };
}

/** `POST /api/v1/instances` with `dryRun`: the node a launch would go to, and why. */
export interface LaunchPlan {
  dryRun: boolean;
  node: string;
  reason: string;
  /** The name asked for; null when the master would pick one. */
  name: string | null;
}

export function parseLaunchPlan(value: unknown): LaunchPlan {
  const o = object(value, "plan");
  return {
    dryRun: field(o, "dryRun", "plan", boolean),
    node: field(o, "node", "plan", string),
    reason: field(o, "reason", "plan", string),
    name: field(o, "name", "plan", nullable(string)),
  };
}

/** The answer of a lifecycle call or a purge: every outcome, and whether all went well. */
export interface BulkAnswer<T> {
  ok: boolean;
  results: T[];
}

/** `POST /api/v1/actions/:action` answer. */
export function parseActionAnswer(value: unknown): BulkAnswer<ActionResult> {
  const o = object(value, "answer");
  return { results: field(o, "results", "answer", arrayOf(parseActionResult)), ok: field(o, "ok", "answer", boolean) };
}

/** `POST /api/v1/purge` answer. */
export function parsePurgeAnswer(value: unknown): BulkAnswer<PurgeResult> {
  const o = object(value, "answer");
  return { results: field(o, "results", "answer", arrayOf(parsePurgeResult)), ok: field(o, "ok", "answer", boolean) };
}

export function parseActionEvent(value: unknown): ActionEvent {
  const o = object(value, "event");
  const type = field(o, "type", "event", oneOf(["result", "done"] as const));
  if (type === "result") return { type, result: field(o, "result", "event", parseActionResult) };
  return { type, ok: field(o, "ok", "event", boolean), results: field(o, "results", "event", arrayOf(parseActionResult)) };
}

export function parsePurgeEvent(value: unknown): PurgeEvent {
  const o = object(value, "event");
  const type = field(o, "type", "event", oneOf(["result", "done"] as const));
  if (type === "result") return { type, result: field(o, "result", "event", parsePurgeResult) };
  return { type, ok: field(o, "ok", "event", boolean), results: field(o, "results", "event", arrayOf(parsePurgeResult)) };
}

export function parseAgentActionEvent(value: unknown): AgentActionEvent {
  const o = object(value, "event");
  const type = field(o, "type", "event", oneOf(["done", "error"] as const));
  if (type === "done") return { type, instances: field(o, "instances", "event", arrayOf(parseInstanceSummary)) };
  return { type, code: field(o, "code", "event", errorCode), message: field(o, "message", "event", string) };
}
