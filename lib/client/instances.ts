/**
 * `client instances` (alias `ls`): every instance of every node from the
 * master's cache, as a table (label columns with -L, all labels with
 * --show-labels) or the API's JSON; `-l` keeps those whose labels match;
 * `--watch` keeps the table current (live-view.ts); `--snapshots` lists
 * snapshots instead (snapshots.ts).
 */
import { defineCommand } from "citty";
import { apiFor, common, paint, type ClientContext } from "./context.ts";
import { formatLabels, labelColumns, selectorArg, selectorOption } from "./labels.ts";
import { matchesSelector, parseSelector, type Labels } from "../core/labels.ts";
import { usageError } from "../core/errors.ts";
import { printSnapshots } from "./snapshots.ts";
import { renderTable, stateCell, type Cell, type Colors } from "./tables.ts";
import { arrayOf } from "../core/parse.ts";
import { parseInstanceView, type InstanceView } from "../protocol/api.ts";
import { runLiveView } from "./live-view.ts";
import { isTable, outputArgs, parseOutput, printListing, tableOptions } from "./output.ts";
import type { TableOptions } from "./tables.ts";

/**
 * The table of `instances` (or its "none" line). `wide` adds every label;
 * the master's cache has no image hash of an instance (Multipass lists only
 * the release), so wide shows none.
 */
export function instancesTable(
  instances: readonly InstanceView[],
  view: { columns: string[]; showLabels: boolean; selector: string | null; table?: TableOptions },
  c: Colors,
): string {
  if (instances.length === 0) return view.selector === null ? "No instances found.\n" : `No instances match the selector ${JSON.stringify(view.selector)}.\n`;
  const rows: Cell[][] = [];
  const labelCells = (labels: Labels) => [...view.columns.map((k) => labels[k] ?? ""), ...(view.showLabels ? [formatLabels(labels)] : [])];
  const blank = labelCells({}).map(() => "");
  for (const i of instances) {
    const [first = "--", ...more] = i.ipv4;
    rows.push([i.node, i.name, stateCell(i.state, c), first, i.release ?? "Not Available", ...labelCells(i.labels)]);
    for (const ip of more) rows.push(["", "", "", ip, "", ...blank]);
  }
  const headers = ["Node Name", "Instance Name", "State", "IPv4", "Image", ...view.columns.map((k) => k.toUpperCase()), ...(view.showLabels ? ["LABELS"] : [])];
  const free = [4, ...(view.showLabels ? [headers.length - 1] : [])];
  return renderTable(headers, rows, c, { ...view.table, shrinkable: free });
}

export function instancesCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "instances", alias: "ls", description: "List every instance on every node (from the master's cache)" },
    args: {
      ...selectorOption,
      "label-columns": { type: "string", alias: "L", valueHint: "KEY[,KEY]", description: "A column with the value of each of these labels" },
      "show-labels": { type: "boolean", default: false, description: "A LABELS column: every label, k=v,k=v" },
      snapshots: { type: "boolean", default: false, description: "List the snapshots of every instance instead (live from the nodes)" },
      watch: { type: "boolean", alias: "w", default: false, description: "Keep the list current until Ctrl-C (--json: a stream of ADDED/MODIFIED/DELETED changes)" },
      ...common,
      ...outputArgs,
    },
    async run({ args }) {
      const out = parseOutput(args);
      const selector = selectorArg(args.selector);
      const columns = labelColumns(args["label-columns"]);
      if (args.snapshots) {
        if (args.watch) throw usageError("--watch lists instances, not snapshots");
        return printSnapshots(ctx, args, out, selector !== null || columns.length > 0 || args["show-labels"]);
      }
      const view = { columns, showLabels: args["show-labels"] || out.format.kind === "wide", selector, table: tableOptions(ctx, out) };
      const api = apiFor(args, ctx);
      if (args.watch) {
        if (!isTable(out) && out.format.kind !== "json") throw usageError("--watch prints a table or, with --json, a stream of changes");
        if (out.sortBy !== null) throw usageError("--sort-by does not apply to --watch, which keeps the master's order");
        const wanted = selector === null ? null : parseSelector(selector);
        return runLiveView({
          ctx,
          api,
          json: out.format.kind === "json",
          pick: (snapshot) => (wanted === null ? snapshot.instances : snapshot.instances.filter((i) => matchesSelector(wanted, i.labels))),
          key: (i) => `${i.name}@${i.node}`,
          render: (items) => instancesTable(items, view, paint(ctx)),
        });
      }
      const answer = await api.get(`/api/v1/instances${selector === null ? "" : `?${new URLSearchParams({ selector })}`}`);
      const instances = printListing(ctx, out, answer, { key: null, parse: (items) => arrayOf(parseInstanceView)(items, "instances"), name: (i) => `${i.name}@${i.node}` });
      if (instances !== null) ctx.stdout(instancesTable(instances, view, paint(ctx)));
    },
  });
}
