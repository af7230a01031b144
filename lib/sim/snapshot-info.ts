/**
 * `info` of snapshots: `info INSTANCE.SNAPSHOT…` and `info --snapshots
 * [INSTANCE…]` (all snapshots of the named instances, or of every instance),
 * in the 1.16 JSON layout of upstream's formatter vectors
 * (`ut.v1.16.3.info_single_snapshot_info_reply.json`) and the table of its
 * generate_snapshot_details. The stand-in's snapshots keep no mounts and no
 * size (upstream leaves `size` empty too: "TODO@snapshots get snapshot size");
 * `Created:` is ISO-8601 instead of the user's locale. Plain instance names
 * without `--snapshots` are left to the instance info (query.ts).
 */

import type { QtParse } from "./args.ts";
import { EXIT, type SimContext } from "./context.ts";
import { formatJson, type JsonValue } from "./json.ts";
import { NOT_IMPLEMENTED } from "./snapshot.ts";
import { findInstance, PRIMARY, type SimInstance, type SimSnapshot, type SimState } from "./state.ts";
import { humanSize } from "./values.ts";
import { humanOrder } from "./views.ts";

interface Shown {
  instance: SimInstance;
  snapshot: SimSnapshot;
}

const childrenOf = (instance: SimInstance, name: string): string[] => instance.taken.filter((s) => s.parent === name).map((s) => s.name);

function jsonOf(shown: readonly Shown[]): string {
  const info: { [key: string]: { [key: string]: JsonValue } } = {};
  for (const { instance, snapshot: s } of shown) {
    const snapshots = (info[instance.name] ??= {});
    snapshots[s.name] = {
      children: childrenOf(instance, s.name),
      comment: s.comment,
      cpu_count: String(s.cpus),
      created: s.created,
      disk_space: humanSize(s.disk),
      memory_size: humanSize(s.memory),
      mounts: {},
      parent: s.parent,
      size: "",
    };
  }
  const doc: { [key: string]: JsonValue } = {};
  for (const [name, snapshots] of Object.entries(info)) doc[name] = { snapshots };
  return formatJson({ errors: [], info: doc });
}

function tableOf(shown: readonly Shown[]): string {
  if (shown.length === 0) return "No snapshots found.\n";
  const line = (label: string, value: string): string => `${label.padEnd(16)}${value}\n`;
  return shown
    .map(({ instance, snapshot: s }) => {
      const children = childrenOf(instance, s.name);
      let text = line("Snapshot:", s.name) + line("Instance:", instance.name);
      text += line("CPU(s):", String(s.cpus)) + line("Disk space:", humanSize(s.disk)) + line("Memory size:", humanSize(s.memory));
      text += line("Mounts:", "--") + line("Created:", s.created) + line("Parent:", s.parent === "" ? "--" : s.parent);
      text += children.length === 0 ? line("Children:", "--") : children.map((child, i) => line(i === 0 ? "Children:" : "", child)).join("");
      return text + line("Comment:", s.comment === "" ? "--" : s.comment);
    })
    .join("\n");
}

/**
 * Answers an `info` that asks for snapshots; null when it asks for none
 * (instance info goes on). The instances named exist (query.ts checked).
 */
export function infoSnapshots(ctx: SimContext, args: QtParse, state: SimState, format: string): number | null {
  const picks = args.positionals.map((arg) => {
    const dot = arg.indexOf(".");
    return dot < 0 ? { name: arg, snapshot: null } : { name: arg.slice(0, dot), snapshot: arg.slice(dot + 1) };
  });
  const all = args.isSet("snapshots");
  if (!all && picks.every((p) => p.snapshot === null)) return null;
  if (!ctx.config.snapshots) return ctx.failure("info", NOT_IMPLEMENTED);
  const chosen = picks.length === 0 ? humanOrder(state.instances, PRIMARY).map((i) => ({ name: i.name, snapshot: null })) : picks;
  const shown: Shown[] = [];
  const errors: string[] = [];
  for (const pick of chosen) {
    const instance = findInstance(state, pick.name);
    if (instance === undefined) continue;
    if (pick.snapshot === null) {
      // A plain name among snapshot picks, without --snapshots, is shown as an instance upstream; the stand-in shows its snapshots.
      shown.push(...instance.taken.map((snapshot) => ({ instance, snapshot })));
      continue;
    }
    const snapshot = instance.taken.find((s) => s.name === pick.snapshot);
    if (snapshot === undefined) errors.push(`No such snapshot: ${pick.name}.${pick.snapshot}`);
    else shown.push({ instance, snapshot });
  }
  if (errors.length > 0) return ctx.failure("info", "The following errors occurred:", errors.join("\n"));
  if (format === "json") ctx.out(jsonOf(shown));
  else if (format === "table") ctx.out(tableOf(shown));
  else {
    ctx.err(`The simulated multipass shows snapshot details as json or table only, not ${format}\n`);
    return EXIT.commandLine;
  }
  return EXIT.ok;
}
