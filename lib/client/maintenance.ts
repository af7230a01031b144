/**
 * Node maintenance (issue 15): `nodes cordon NODE [--reason TEXT]` (no new
 * launch is placed on the node), `nodes uncordon NODE`, and `nodes drain
 * NODE`: the node's running instances are listed and, on a terminal, asked
 * about first; then the node is cordoned and they are stopped through the
 * bulk stop (`POST /api/v1/actions/stop`), each instance's result printed as
 * it ends. Exit status 1 when any of them failed.
 */
import { defineCommand } from "citty";
import type { ApiClient } from "./api-client.ts";
import { apiFor, paint, writeArgs, type ClientContext } from "./context.ts";
import { EXIT } from "../cli/run.ts";
import { stripControl } from "../core/format.ts";
import { arrayOf, parseJson } from "../core/parse.ts";
import { validateNodeName } from "../core/validate.ts";
import { parseInstanceView, parseNodeView } from "../protocol/api.ts";
import { validateCordonReason } from "../protocol/cordon.ts";
import { ELIGIBLE, parseActionEvent } from "../protocol/operations.ts";
import { askFirst, bulkAnswer, canAsk, showResult } from "./operations.ts";
import { createRowPrinter } from "./tables.ts";
import { endedEarly, watchOperation } from "./watch.ts";

const nodeArg = { type: "positional", required: true, valueHint: "NODE", description: "Node name" } as const;
const reasonArg = { type: "string", valueHint: "TEXT", description: "Why, shown by nodes --json and in the audit trail (at most 256 characters)" } as const;

const nodePath = (name: string, what: string) => `/api/v1/nodes/${encodeURIComponent(name)}/${what}`;

/** POSTs a cordon (or an uncordon) and prints the node's view (`--json`) or one line. */
async function cordonCall(ctx: ClientContext, api: ApiClient, name: string, what: "cordon" | "uncordon", body: object, json: boolean): Promise<void> {
  const answer = await api.post(nodePath(name, what), body);
  const node = parseNodeView(answer.json, "node");
  if (json) return ctx.stdout(answer.text + "\n");
  const why = node.cordoned?.reason ? ` (${node.cordoned.reason})` : "";
  ctx.stdout(stripControl(`Node "${node.name}" ${what}ed${what === "cordon" ? why : ""}.`) + "\n");
}

export function cordonCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "cordon", description: "Place no new launch on a node until it is uncordoned (what runs there goes on)" },
    args: { name: nodeArg, reason: reasonArg, ...writeArgs },
    async run({ args }) {
      const name = validateNodeName(args.name);
      const reason = args.reason === undefined ? null : validateCordonReason(args.reason);
      await cordonCall(ctx, apiFor(args, ctx), name, "cordon", reason === null ? {} : { reason }, args.json);
    },
  });
}

export function uncordonCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "uncordon", description: "Let placement launch on a cordoned node again" },
    args: { name: nodeArg, ...writeArgs },
    async run({ args }) {
      await cordonCall(ctx, apiFor(args, ctx), validateNodeName(args.name), "uncordon", {}, args.json);
    },
  });
}

/** The instances of node `name` that a stop applies to, as NAME@NODE; E_NOT_FOUND when the node is not in the cluster. */
async function runningOn(api: ApiClient, name: string): Promise<string[]> {
  await api.get(`/api/v1/nodes/${encodeURIComponent(name)}`);
  const list = arrayOf(parseInstanceView)((await api.get("/api/v1/instances")).json, "instances");
  return list.filter((i) => i.node === name && ELIGIBLE.stop(i.state)).map((i) => `${i.name}@${i.node}`);
}

export function drainCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "drain", description: "Cordon a node, then stop its running instances (listed and asked first on a terminal)" },
    args: {
      name: nodeArg,
      reason: reasonArg,
      force: { type: "boolean", default: false, description: "Power the instances off at once" },
      yes: { type: "boolean", alias: "y", default: false, description: "Do not ask for confirmation" },
      ...writeArgs,
    },
    async run({ args }) {
      const name = validateNodeName(args.name);
      const reason = args.reason === undefined ? null : validateCordonReason(args.reason);
      const api = apiFor(args, ctx);
      const targets = await runningOn(api, name);
      if (targets.length > 0 && !args.yes && canAsk(ctx)) {
        const stop = await askFirst(ctx, targets, "", `Cordon node "${name}" and stop ${targets.join(", ")}?`);
        if (stop !== null) return stop;
      }
      await cordonCall(ctx, api, name, "cordon", reason === null ? {} : { reason }, args.json);
      if (targets.length === 0) {
        if (!args.json) ctx.stdout(stripControl(`Nothing to stop on node "${name}".`) + "\n");
        return EXIT.ok;
      }
      return stopAll(ctx, api, name, targets, { force: args.force, json: args.json });
    },
  });
}

/** Stops `targets` through the bulk stop, printing each result as it ends (or, with `json`, the API's answer). */
function stopAll(ctx: ClientContext, api: ApiClient, name: string, targets: string[], options: { force: boolean; json: boolean }): Promise<number> {
  return watchOperation(ctx, { what: `the drain of node "${name}"`, live: ctx.isTTY && !options.json }, async (signal, progress) => {
    if (!options.json) progress.phase(`Stopping ${targets.join(", ")}`, "stop");
    const lines = await api.stream("/api/v1/actions/stop", { instances: targets, force: options.force, purge: false }, { signal });
    const printRow = createRowPrinter(["Node Name", "Instance Name", "State"], [[name], targets.map((t) => t.split("@")[0]!)], paint(ctx));
    for await (const line of lines) {
      const raw = parseJson(line, "event");
      const event = parseActionEvent(raw);
      if (event.type === "done") {
        if (options.json) ctx.stdout(`${JSON.stringify(bulkAnswer(raw))}\n`);
        return event.ok ? EXIT.ok : EXIT.failure;
      }
      if (!options.json) showResult(ctx, progress, printRow, event.result, false);
    }
    throw endedEarly(api);
  });
}
