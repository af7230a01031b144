/**
 * `multiverse version` (issue 16): the client's version, the master's (`GET
 * /api/v1/stats`) and every node's worker and Multipass versions (`GET
 * /api/v1/nodes`), and a warning for each skew: a master or worker whose
 * major.minor differs from the client's or the master's. Multipass versions
 * that differ across nodes are noted, not warned of: placement already knows
 * what each supports. `--version` prints the client's version alone.
 */
import { defineCommand } from "citty";
import { stringify } from "yaml";
import { apiFor, common, paint, type ClientContext } from "./context.ts";
import { usageError } from "../core/errors.ts";
import { stripControl } from "../core/format.ts";
import { arrayOf } from "../core/parse.ts";
import { VERSION } from "../core/version.ts";
import { parseMasterStats, parseNodeView, type NodeView } from "../protocol/api.ts";
import { renderTable } from "./tables.ts";

/** What `version -o json` prints. */
export interface VersionReport {
  client: string;
  master: string;
  nodes: { name: string; state: string; workerVersion: string | null; multipassVersion: string | null }[];
  /** Skews between client, master and workers (major.minor): warnings. */
  skew: string[];
  /** Differences that are not skew (Multipass versions across nodes): notes. */
  notes: string[];
}

/** `1.16.3-dev+g12` → `1.16`; null when the text has no major.minor. */
export function majorMinor(version: string): string | null {
  const m = /^v?(\d+)\.(\d+)/.exec(version.trim());
  return m ? `${Number(m[1])}.${Number(m[2])}` : null;
}

/** The report of `client`, `master` and the nodes: the skews and notes found. */
export function versionReport(client: string, master: string, nodes: readonly NodeView[]): VersionReport {
  const skew: string[] = [];
  const notes: string[] = [];
  const c = majorMinor(client);
  const m = majorMinor(master);
  if (c !== m) skew.push(`the client is ${client} and the master ${master}: their major.minor versions differ`);
  for (const n of nodes) {
    if (n.workerVersion != null && majorMinor(n.workerVersion) !== m) skew.push(`node "${n.name}" runs worker ${n.workerVersion} and the master is ${master}: their major.minor versions differ`);
  }
  const multipass = [...new Set(nodes.map((n) => n.multipassVersion).filter((v): v is string => v !== null))].sort();
  if (multipass.length > 1) notes.push(`the nodes run different Multipass versions (${multipass.join(", ")})`);
  const rows = nodes.map((n) => ({ name: n.name, state: n.state, workerVersion: n.workerVersion ?? null, multipassVersion: n.multipassVersion }));
  return { client, master, nodes: rows, skew, notes };
}

export function versionCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "version", description: "Versions of the client, the master and every node's worker and Multipass, and any skew" },
    args: {
      ...common,
      json: { type: "boolean", default: false, description: "Print the report as JSON (-o json)" },
      output: { type: "string", alias: "o", valueHint: "FORMAT", description: "table, json or yaml (default table)" },
    },
    async run({ args }) {
      const format = args.output?.trim() ?? (args.json ? "json" : "table");
      if (format !== "table" && format !== "json" && format !== "yaml") throw usageError(`Unknown output format ${JSON.stringify(format.slice(0, 60))}: expected one of table, json, yaml`);
      if (args.json && format !== "json") throw usageError(`--json is -o json: it cannot go with -o ${format}`);
      const api = apiFor(args, ctx);
      const stats = parseMasterStats((await api.get("/api/v1/stats")).json);
      const nodes = arrayOf(parseNodeView)((await api.get("/api/v1/nodes")).json, "nodes");
      const report = versionReport(VERSION, stats.version, nodes);
      if (format === "json") return ctx.stdout(JSON.stringify(report) + "\n");
      if (format === "yaml") return ctx.stdout(stringify(report));
      const c = paint(ctx);
      ctx.stdout(stripControl(`Client: ${report.client}\nMaster: ${report.master}\n`));
      if (report.nodes.length > 0) {
        const rows = report.nodes.map((n) => [n.name, n.workerVersion ?? "--", n.multipassVersion ?? "--", n.state]);
        ctx.stdout("\n" + renderTable(["Node Name", "Worker", "Multipass", "State"], rows, c));
      }
      const e = paint(ctx, "stderr");
      for (const s of report.skew) ctx.stderr(`${e.yellow("warning")}: ${stripControl(s)}\n`);
      for (const n of report.notes) ctx.stderr(`note: ${stripControl(n)}\n`);
    },
  });
}
