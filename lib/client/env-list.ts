/**
 * `envs` (issue 17): the environments the master keeps, with their
 * instances, nodes and states. The table has one row per environment
 * (Environment, Instances existing/declared, Nodes, States, Last Apply);
 * `-o wide` one row per instance; `--json` the API's answer as it came, and
 * the other `-o` formats as every listing has them (output.ts).
 */
import { defineCommand } from "citty";
import { apiFor, common, paint, type ClientContext } from "./context.ts";
import { stripControl } from "../core/format.ts";
import { withNotes } from "../cli/help.ts";
import { parseEnvironmentViews, type EnvironmentView } from "../protocol/environments.ts";
import { outputArgs, parseOutput, printListing, tableOptions, type Output } from "./output.ts";
import { usageError } from "../core/errors.ts";
import { validateInstanceName } from "../core/validate.ts";
import { formatAge, renderTable, stateCell, type Cell, type Colors, type TableOptions } from "./tables.ts";

/** How many instances are in each state: `2 Running, 1 Stopped`. */
function statesOf(view: EnvironmentView): string {
  const counts = new Map<string, number>();
  for (const i of view.instances) counts.set(i.state, (counts.get(i.state) ?? 0) + 1);
  return [...counts].map(([state, n]) => `${n} ${state}`).join(", ") || "--";
}

/** When the last apply ended and how: `ok 5m ago`, `failed 2h ago`, or `--` before any. */
function lastApplyOf(view: EnvironmentView, now: number, c: Colors): Cell {
  if (view.lastApply === null) return "--";
  const at = Date.parse(view.lastApply.at);
  const ago = Number.isNaN(at) ? "" : ` ${formatAge(now - at)} ago`;
  return view.lastApply.ok ? `ok${ago}` : { text: `failed${ago}`, paint: c.red };
}

/** One row per environment. */
export function environmentsTable(views: EnvironmentView[], c: Colors, options: TableOptions, now: number): string {
  const rows: Cell[][] = views.map((v) => {
    const nodes = [...new Set(v.instances.map((i) => i.node))].sort().join(",") || "--";
    return [stripControl(v.name), `${v.instances.length}/${v.declared}`, stripControl(nodes), stripControl(statesOf(v)), lastApplyOf(v, now, c)];
  });
  return renderTable(["Environment", "Instances", "Nodes", "States", "Last Apply"], rows, c, { ...options, shrinkable: [2, 3] });
}

/** One row per instance, environments in turn. */
export function environmentInstancesTable(views: EnvironmentView[], c: Colors, options: TableOptions): string {
  const rows: Cell[][] = views.flatMap((v) =>
    v.instances.length === 0
      ? [[stripControl(v.name), "--", "--", "--", "--"]]
      : v.instances.map((i): Cell[] => [stripControl(v.name), stripControl(i.node), stripControl(i.name), stateCell(stripControl(i.state), c), stripControl(i.ipv4[0] ?? "--")]),
  );
  return renderTable(["Environment", "Node Name", "Instance Name", "State", "IPv4"], rows, c, options);
}

/** `envs [-o FORMAT]`: the listing of `GET /api/v1/environments`. */
export function envsCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes({ name: "envs", description: "List the environments (apply -f FILE) with their instances, nodes and states" }, [
      "INSTANCES is existing/declared: the instances on the cluster, and how many the file last applied asks for. -o wide prints one row per instance.",
    ]),
    args: { name: { type: "positional", required: false, description: "One environment: its instances, a row each (--json: the API's, with its stored document)" }, ...common, ...outputArgs },
    async run({ args }) {
      const out = parseOutput(args);
      if (args.name) return showOne(ctx, args, out, validateInstanceName(args.name));
      const answer = await apiFor(args, ctx).get("/api/v1/environments");
      const views = printListing(ctx, out, answer, { key: "environments", parse: (items) => parseEnvironmentViews({ environments: items }), name: (v) => v.name });
      if (views === null) return;
      if (views.length === 0) return void ctx.stdout("No environments found.\n");
      const options = tableOptions(ctx, out);
      if (out.format.kind === "wide") ctx.stdout(environmentInstancesTable(views, paint(ctx), options));
      else ctx.stdout(environmentsTable(views, paint(ctx), options, Date.now()));
    },
  });
}

/** `envs NAME`: one environment, a row per instance; the other formats print `GET /api/v1/environments/NAME` as it came. */
async function showOne(ctx: ClientContext, args: Parameters<typeof apiFor>[0], out: Output, name: string): Promise<void> {
  if (out.sortBy !== null) throw usageError("--sort-by orders a listing: envs NAME shows one environment");
  const answer = await apiFor(args, ctx).get(`/api/v1/environments/${encodeURIComponent(name)}`);
  const kind = out.format.kind;
  if (kind !== "table" && kind !== "wide" && kind !== "name") return void printListing(ctx, out, answer, { key: null, parse: () => [], name: () => name });
  const [view] = parseEnvironmentViews({ environments: [answer.json] });
  if (kind === "name") return void ctx.stdout(`${stripControl(view!.name)}\n`);
  ctx.stdout(environmentInstancesTable([view!], paint(ctx), tableOptions(ctx, out)));
}
