/**
 * `client nodes`: the nodes of the cluster as a table (or the API's JSON),
 * and `nodes remove NAME`, which drops a node from the master at once: a
 * Down one, or any with `--force` (a running worker joins again). A cordoned
 * node's state reads `Ready,SchedulingDisabled`, as kubectl shows it; `nodes
 * cordon`, `uncordon` and `drain` are in maintenance.ts.
 */
import { defineCommand } from "citty";
import { apiFor, common, paint, writeArgs, type ClientContext } from "./context.ts";
import { formatBytes, formatTime, stripControl } from "../core/format.ts";
import { renderTable, stateCell, type Cell, type Colors } from "./tables.ts";
import { runLiveView } from "./live-view.ts";
import { arrayOf } from "../core/parse.ts";
import { parseNodeRemoved, parseNodeView, type NodeView } from "../protocol/api.ts";
import { validateNodeName } from "../core/validate.ts";
import { usageError } from "../core/errors.ts";
import { cordonCommand, drainCommand, uncordonCommand } from "./maintenance.ts";
import { formatLabels, nodeLabelCommand, selectorArg, selectorOption } from "./labels.ts";
import { matchesSelector, parseSelector } from "../core/labels.ts";
import { isTable, outputArgs, parseOutput, printListing, tableOptions, type Output } from "./output.ts";
import type { TableOptions } from "./tables.ts";

function removeCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "remove", description: "Drop a node from the cluster: a Down one, or any with --force" },
    args: {
      name: { type: "positional", required: true, valueHint: "NAME", description: "Node name" },
      force: { type: "boolean", default: false, description: "Drop it even if it is connected (a running worker joins again)" },
      ...writeArgs,
    },
    async run({ args }) {
      const name = validateNodeName(args.name);
      const answer = await apiFor(args, ctx).delete(`/api/v1/nodes/${encodeURIComponent(name)}${args.force ? "?force=1" : ""}`);
      const removed = parseNodeRemoved(answer.json);
      if (args.json) return ctx.stdout(answer.text + "\n");
      ctx.stdout(stripControl(`Removed node "${removed.name}" (it was ${removed.state}).`) + "\n");
    },
  });
}

/**
 * What of a node a --watch --json change is about: not what moves with every
 * heartbeat (the last sync, the load, the memory and disk still free), or a
 * watcher would hear of every node every few seconds; its state, address,
 * totals, allocations, instances, labels and cordon.
 */
function steadyPart(n: NodeView): unknown {
  const { lastSync: _sync, resources, ...rest } = n;
  return { ...rest, cpus: resources.cpus, memory: resources.memory.total, disk: resources.disk.total };
}

/**
 * The table of `nodes` (or its "none" line); `wide` adds what is allocated
 * of each resource (CPUs, memory, disk, given to its live instances) out of
 * the total, and the labels.
 */
export function nodesTable(nodes: readonly NodeView[], c: Colors, options: TableOptions & { wide?: boolean } = {}): string {
  if (nodes.length === 0) return "No nodes have joined yet.\n";
  const used = (r: { total: number; available: number }) => `${formatBytes(r.total - r.available)}/${formatBytes(r.total)}`;
  const wide = options.wide === true;
  const rows: Cell[][] = nodes.map((n) => [
    n.name,
    n.address,
    String(n.resources.cpus),
    used(n.resources.memory),
    used(n.resources.disk),
    formatTime(n.lastSync),
    stateCell(n.cordoned ? `${n.state},SchedulingDisabled` : n.state, c),
    ...(wide
      ? [
          `${n.allocated.cpus}/${n.resources.cpus}`,
          `${formatBytes(n.allocated.memory)}/${formatBytes(n.resources.memory.total)}`,
          `${formatBytes(n.allocated.disk)}/${formatBytes(n.resources.disk.total)}`,
          n.multipassVersion ?? "--",
          formatLabels(n.labels) || "--",
        ]
      : []),
  ]);
  const headers = ["Node Name", "IPv4", "Cpu", "Mem", "Disk", "Last Sync", "State", ...(wide ? ["Alloc Cpu", "Alloc Mem", "Alloc Disk", "Multipass", "Labels"] : [])];
  return renderTable(headers, rows, c, { ...options, shrinkable: wide ? [11] : [] });
}

function viewOf(ctx: ClientContext, out: Output): TableOptions & { wide: boolean } {
  return { ...tableOptions(ctx, out), wide: out.format.kind === "wide" };
}

export function nodesCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "nodes", description: "List the nodes (Multipass hosts) of the cluster; nodes remove NAME drops one" },
    args: {
      watch: { type: "boolean", alias: "w", default: false, description: "Keep the list current until Ctrl-C (--json: a stream of ADDED/MODIFIED/DELETED changes)" },
      ...selectorOption,
      ...common,
      ...outputArgs,
    },
    subCommands: { remove: removeCommand(ctx), label: nodeLabelCommand(ctx), cordon: cordonCommand(ctx), uncordon: uncordonCommand(ctx), drain: drainCommand(ctx) },
    async run({ args }) {
      const out = parseOutput(args);
      const api = apiFor(args, ctx);
      const selector = selectorArg(args.selector);
      if (args.watch) {
        if (!isTable(out) && out.format.kind !== "json") throw usageError("--watch prints a table or, with --json, a stream of changes");
        if (out.sortBy !== null) throw usageError("--sort-by does not apply to --watch, which keeps the master's order");
        const wanted = selector === null ? null : parseSelector(selector);
        const pick = (s: { nodes: NodeView[] }) => (wanted === null ? s.nodes : s.nodes.filter((n) => matchesSelector(wanted, n.labels)));
        return runLiveView({ ctx, api, json: out.format.kind === "json", pick, key: (n) => n.name, render: (nodes) => nodesTable(nodes, paint(ctx), viewOf(ctx, out)), same: steadyPart });
      }
      const answer = await api.get(`/api/v1/nodes${selector === null ? "" : `?${new URLSearchParams({ selector })}`}`);
      const nodes = printListing(ctx, out, answer, { key: null, parse: (items) => arrayOf(parseNodeView)(items, "nodes"), name: (n) => n.name });
      if (nodes === null) return;
      if (nodes.length === 0 && selector !== null) return void ctx.stdout(`No nodes match the selector ${JSON.stringify(selector)}.\n`);
      ctx.stdout(nodesTable(nodes, paint(ctx), viewOf(ctx, out)));
      const e = paint(ctx, "stderr");
      for (const n of nodes) {
        if (n.multipassError) ctx.stderr(`${e.yellow("warning")}: ${stripControl(`node "${n.name}": ${n.multipassError}`)}\n`);
      }
    },
  });
}
