/**
 * The environment wires: the request a client sends, and the plan, events,
 * results and listing it reads back — each shape accepted whole, and refused
 * with the path of the bad field.
 */
import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import {
  MAX_ENV_VALUES,
  parseEnvironmentEvent,
  parseEnvironmentPlan,
  parseEnvironmentRequest,
  parseEnvironmentViews,
  parseStepResult,
  type EnvironmentEvent,
  type EnvironmentPlan,
  type EnvironmentView,
  type StepResult,
} from "../../lib/protocol/environments.ts";

function codeOf(f: () => unknown): [string, string] {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return [(error as AppError).code, (error as AppError).message];
  }
  throw new Error("no error");
}

const DOC = { name: "lab", instances: [{ name: "server" }] };

describe("parseEnvironmentRequest", () => {
  test("fills the defaults", () => {
    expect(parseEnvironmentRequest({ action: "plan", document: DOC })).toEqual({ action: "plan", document: DOC, env: {}, confirm: false, purge: false });
  });

  test("takes everything it knows", () => {
    const body = { action: "apply" as const, document: "name: lab\n", env: { TOKEN: "x", _a1: "" }, confirm: true, purge: false };
    expect(parseEnvironmentRequest(body)).toEqual(body);
  });

  test("a delete by name needs no document", () => {
    expect(parseEnvironmentRequest({ action: "delete", name: "lab", purge: true })).toEqual({ action: "delete", document: null, env: {}, confirm: false, purge: true, name: "lab" });
  });

  test.each([
    ["not an object", [], "E_PROTOCOL", "body: expected an object"],
    ["no action", { document: DOC }, "E_PROTOCOL", "body.action: expected a string"],
    ["an unknown action", { action: "destroy", document: DOC }, "E_PROTOCOL", 'body.action: expected one of plan, apply, delete, got "destroy"'],
    ["an unknown field", { action: "plan", document: DOC, dryRun: true }, "E_USAGE", 'Unknown environment request field "dryRun"'],
    ["no document", { action: "apply" }, "E_USAGE", "An apply needs the environment's document"],
    ["a delete with neither", { action: "delete" }, "E_USAGE", "A delete needs the environment's name or its document"],
    ["a name on an apply", { action: "apply", name: "lab", document: DOC }, "E_USAGE", "body.name is only for delete"],
    ["a bad name", { action: "delete", name: "1 lab" }, "E_USAGE", 'Invalid instance name "1 lab"'],
    ["a list as the document", { action: "plan", document: [] }, "E_PROTOCOL", "body.document: expected the document as an object, or its YAML text"],
    ["a number as the document", { action: "plan", document: 3 }, "E_PROTOCOL", "body.document"],
    ["a non-string env value", { action: "plan", document: DOC, env: { A: 1 } }, "E_PROTOCOL", "body.env.A: expected a string"],
    ["a bad env name", { action: "plan", document: DOC, env: { "A-B": "x" } }, "E_PROTOCOL", 'body.env: "A-B" is not a variable name'],
    ["confirm as text", { action: "apply", document: DOC, confirm: "yes" }, "E_PROTOCOL", "body.confirm: expected a boolean"],
  ])("refuses %s", (_what, body, code, message) => {
    const [c, m] = codeOf(() => parseEnvironmentRequest(body));
    expect(c).toBe(code);
    expect(m).toStartWith(message);
  });

  test(`at most ${MAX_ENV_VALUES} env values`, () => {
    const env = Object.fromEntries(Array.from({ length: MAX_ENV_VALUES + 1 }, (_, i) => [`V${i}`, "x"]));
    expect(codeOf(() => parseEnvironmentRequest({ action: "plan", document: DOC, env }))[1]).toBe(`body.env: ${MAX_ENV_VALUES + 1} values; at most ${MAX_ENV_VALUES}`);
  });
});

const PLAN: EnvironmentPlan = {
  environment: "lab",
  steps: [
    { name: "lab-server", key: "server", action: "keep", node: "n1", reason: "exists, Running", state: "Running", after: [], drift: ["cpus: 2 in the file, launched with 1"] },
    { name: "lab-agent-3", key: null, action: "remove", node: "n2", reason: 'count of "agent" lowered from 3 to 2', state: "Stopped", after: [] },
    { name: "lab-agent-1", key: "agent-1", action: "launch", node: null, reason: "", state: null, after: ["lab-server"] },
  ].map((s) => ({ drift: [], ...s })) as EnvironmentPlan["steps"],
  notes: ["spread: 2 agents, 1 node"],
};
const RESULT: StepResult = { name: "lab-agent-1", node: "n2", action: "launch", ok: false, skipped: false, state: null, ipv4: [], error: { code: "E_MULTIPASS", message: "launch failed" } };
const DELETED: StepResult = { name: "lab-server", node: "n1", action: "delete", ok: true, skipped: false, state: "Deleted", ipv4: ["10.0.0.5"], error: null };

describe("the plan, results and events", () => {
  test("a plan reads back whole", () => {
    expect(parseEnvironmentPlan(JSON.parse(JSON.stringify(PLAN)))).toEqual(PLAN);
  });

  test("results read back whole, delete included", () => {
    expect(parseStepResult(RESULT)).toEqual(RESULT);
    expect(parseStepResult(DELETED)).toEqual(DELETED);
  });

  test.each([
    { type: "plan", plan: PLAN },
    { type: "waiting", message: "another apply of lab is running" },
    { type: "step", name: "lab-agent-1", node: "n2", status: "started" },
    { type: "step", name: "lab-agent-1", node: "n2", status: "progress", phase: "Retrieving image", percent: 40, message: "40%" },
    { type: "step", name: "lab-agent-1", node: null, status: "progress", percent: null },
    { type: "result", result: RESULT },
    { type: "done", ok: false, results: [RESULT, DELETED] },
    { type: "error", code: "E_CONFLICT", message: "the plan failed" },
  ] as EnvironmentEvent[])("the event %j reads back whole", (event) => {
    expect(parseEnvironmentEvent(JSON.parse(JSON.stringify(event)))).toEqual(event);
  });

  test.each([
    [{ type: "nope" }, 'event.type: expected one of plan, waiting, step, result, done, error, got "nope"'],
    [{ type: "step", name: "a", node: null, status: "finished" }, "event.status: expected one of started, progress"],
    [{ type: "result", result: { ...RESULT, action: "create" } }, "event.result.action: expected one of launch, keep, start, wait, remove, delete"],
    [{ type: "result", result: { ...RESULT, state: "Sleeping" } }, "event.result.state: expected one of"],
    [{ type: "plan", plan: { ...PLAN, steps: [{ ...PLAN.steps[0], after: "x" }] } }, "event.plan.steps[0].after: expected an array"],
    [{ type: "done", ok: true }, "event.results: expected an array"],
  ])("a malformed event is a protocol error naming the field: %j", (event, message) => {
    const [code, m] = codeOf(() => parseEnvironmentEvent(event));
    expect(code).toBe("E_PROTOCOL");
    expect(m).toStartWith(message);
  });
});

describe("parseEnvironmentViews", () => {
  const VIEW: EnvironmentView = {
    name: "lab",
    createdAt: "2026-12-01T10:00:00.000Z",
    updatedAt: "2026-12-01T11:00:00.000Z",
    lastApply: { at: "2026-12-01T11:00:00.000Z", ok: true },
    declared: 3,
    instances: [{ name: "lab-server", node: "n1", state: "Running", ipv4: ["10.0.0.5"] }],
  };

  test("reads the listing", () => {
    expect(parseEnvironmentViews({ environments: [VIEW, { ...VIEW, name: "b", lastApply: null, instances: [] }] })).toEqual([VIEW, { ...VIEW, name: "b", lastApply: null, instances: [] }]);
    expect(parseEnvironmentViews({ environments: [] })).toEqual([]);
  });

  test.each([
    [{}, "answer.environments: expected an array"],
    [{ environments: [{ ...VIEW, declared: -1 }] }, "answer.environments[0].declared: expected a non-negative number"],
    [{ environments: [{ ...VIEW, declared: 1.5 }] }, "answer.environments[0].declared: expected an integer"],
    [{ environments: [{ ...VIEW, lastApply: { at: "x" } }] }, "answer.environments[0].lastApply.ok: expected a boolean"],
    [{ environments: [{ ...VIEW, instances: [{ name: "a", node: "n", state: "Running" }] }] }, "answer.environments[0].instances[0].ipv4: expected an array"],
  ])("refuses %j", (value, message) => {
    expect(codeOf(() => parseEnvironmentViews(value))[1]).toStartWith(message);
  });
});
