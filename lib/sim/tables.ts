/**
 * Human and other non-JSON outputs of `list`, `info` and `version`: the 1.16
 * table formatter (fixed widths), the CSV formatter, and an approximation of the
 * yaml-cpp output (structure right, emitter quirks not reproduced).
 */

import { humanSize } from "./values.ts";
import { humanOrder, imageTitle, type InstanceView } from "./views.ts";
import type { SimMount } from "./state.ts";

/** `list` as a table: Name max(24, longest + 3) wide, State 18, IPv4 17, Image unpadded. */
export function listTable(views: readonly InstanceView[], primary: string): string {
  if (views.length === 0) return "No instances found.\n";
  const nameWidth = Math.max(24, "Name".length + 3, ...views.map((view) => view.name.length + 3));
  const row = (name: string, state: string, ip: string, image: string): string =>
    `${name.padEnd(nameWidth)}${state.padEnd(18)}${ip.padEnd(17)}${image}\n`;
  let text = row("Name", "State", "IPv4", "Image");
  for (const view of humanOrder(views, primary)) {
    text += row(view.name, view.state, view.ipv4[0] ?? "--", imageTitle(view));
    for (const ip of view.ipv4.slice(1)) text += `${"".padEnd(nameWidth)}${"".padEnd(18)}${ip}\n`;
  }
  return text;
}

function usage(used: string, total: string): string {
  return used === "" || total === "" ? "--" : `${humanSize(Number(used))} out of ${humanSize(Number(total))}`;
}

function sortedMounts(mounts: readonly SimMount[]): SimMount[] {
  return [...mounts].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}

function mountLines(mounts: readonly SimMount[]): string {
  if (mounts.length === 0) return "--\n";
  const longest = Math.max(...mounts.map((mount) => mount.source.length));
  return sortedMounts(mounts)
    .map((mount, index) => {
      let text = `${index === 0 ? "" : "".padEnd(16)}${mount.source.padEnd(longest)} => ${mount.target}\n`;
      if (mount.uidMappings.length > 0) text += `${"UID map: ".padStart(29)}${mount.uidMappings.join(", ")}\n`;
      if (mount.gidMappings.length > 0) text += `${"GID map: ".padStart(29)}${mount.gidMappings.join(", ")}\n`;
      return text;
    })
    .join("");
}

function instanceDetails(view: InstanceView): string {
  const line = (label: string, value: string): string => `${label.padEnd(16)}${value}\n`;
  let text = line("Name:", view.name) + line("State:", view.state) + (view.snapshots === null ? "" : line("Snapshots:", String(view.snapshots)));
  text += line("IPv4:", view.ipv4[0] ?? "--");
  for (const ip of view.ipv4.slice(1)) text += line("", ip);
  text += line("Release:", view.currentRelease === "" ? "--" : view.currentRelease);
  const hash =
    view.imageHash === ""
      ? "Not Available"
      : view.imageHash.slice(0, 12) + (view.imageRelease === "" ? "" : ` (Ubuntu ${view.imageRelease})`);
  text += line("Image hash:", hash);
  text += line("CPU(s):", view.cpuCount === "" ? "--" : view.cpuCount);
  text += line("Load:", view.load === "" ? "--" : view.load);
  text += line("Disk usage:", usage(view.diskUsage, view.diskTotal));
  text += line("Memory usage:", usage(view.memoryUsage, view.memoryTotal));
  return text + "Mounts:".padEnd(16) + mountLines(view.mounts);
}

/** `info` as a table: blocks separated by a blank line, primary first then by name. */
export function infoTable(views: readonly InstanceView[], primary: string): string {
  if (views.length === 0) return "No instances found.\n";
  return humanOrder(views, primary).map(instanceDetails).join("\n");
}

/** `list --format csv`. */
export function listCsv(views: readonly InstanceView[], primary: string): string {
  const rows = humanOrder(views, primary).map(
    (view) => `${view.name},${view.state},${view.ipv4[0] ?? ""},,${imageTitle(view)},"${view.ipv4.join(",")}"\n`,
  );
  return "Name,State,IPv4,IPv6,Release,AllIPv4\n" + rows.join("");
}

/** `info --format csv` (nothing at all when there are no instances). */
export function infoCsv(views: readonly InstanceView[], primary: string): string {
  if (views.length === 0) return "";
  const header =
    "Name,State,Ipv4,Ipv6,Release,Image hash,Image release,Load,Disk usage,Disk total,Memory usage,Memory total," +
    `Mounts,AllIPv4,CPU(s)${views.some((view) => view.snapshots === null) ? "" : ",Snapshots"}\n`;
  const rows = humanOrder(views, primary).map((view) => {
    const fields = [view.name, view.state, view.ipv4[0] ?? "", "", view.currentRelease, view.imageHash];
    fields.push(view.imageRelease, view.load, view.diskUsage, view.diskTotal, view.memoryUsage, view.memoryTotal);
    const mounts = sortedMounts(view.mounts)
      .map((mount) => `${mount.source} => ${mount.target}`)
      .join(";");
    return `${fields.join(",")},${mounts},${view.ipv4.join(";")},${view.cpuCount}${view.snapshots === null ? "" : `,${view.snapshots}`}\n`;
  });
  return header + rows.join("");
}

function yamlScalar(value: string): string {
  return value === "" ? "~" : /^[\w./@+-][\w ./:@+-]*$/.test(value) && !value.endsWith(" ") ? value : JSON.stringify(value);
}

function yamlList(indent: string, items: readonly string[]): string {
  return items.length === 0 ? " []\n" : "\n" + items.map((item) => `${indent}- ${yamlScalar(item)}\n`).join("");
}

/** `list --format yaml` (approximation of yaml-cpp's block style). */
export function listYaml(views: readonly InstanceView[], primary: string): string {
  if (views.length === 0) return "{}\n";
  return humanOrder(views, primary)
    .map(
      (view) =>
        `${view.name}:\n  - state: ${view.state}\n    ipv4:${yamlList("      ", view.ipv4)}` +
        `    release: ${yamlScalar(view.imageRelease === "" ? "Not Available" : view.imageRelease)}\n`,
    )
    .join("");
}

function yamlInstance(view: InstanceView): string {
  let text = `${view.name}:\n  - state: ${view.state}\n${view.snapshots === null ? "" : `    snapshot_count: ${view.snapshots}\n`}`;
  text += `    image_hash: ${yamlScalar(view.imageHash)}\n    image_release: ${yamlScalar(view.imageRelease)}\n`;
  text += `    release: ${yamlScalar(view.currentRelease)}\n    cpu_count: ${yamlScalar(view.cpuCount)}\n`;
  if (view.load !== "") text += `    load:${yamlList("      ", view.load.split(" "))}`;
  text += `    disks:\n      - sda1:\n          used: ${yamlScalar(view.diskUsage)}\n          total: ${yamlScalar(view.diskTotal)}\n`;
  text += `    memory:\n      usage: ${yamlScalar(view.memoryUsage)}\n      total: ${yamlScalar(view.memoryTotal)}\n`;
  text += `    ipv4:${yamlList("      ", view.ipv4)}`;
  if (view.mounts.length === 0) return text + "    mounts: ~\n";
  text += "    mounts:\n";
  for (const mount of sortedMounts(view.mounts)) {
    text += `      ${yamlScalar(mount.target)}:\n`;
    if (mount.uidMappings.length > 0) text += `        uid_mappings:${yamlList("          ", mount.uidMappings)}`;
    if (mount.gidMappings.length > 0) text += `        gid_mappings:${yamlList("          ", mount.gidMappings)}`;
    text += `        source_path: ${yamlScalar(mount.source)}\n`;
  }
  return text;
}

/** `info --format yaml` (approximation of yaml-cpp's block style). */
export function infoYaml(views: readonly InstanceView[], primary: string): string {
  return "errors:\n  - ~\n" + humanOrder(views, primary).map(yamlInstance).join("");
}

/** `version` in any format; `daemon` is null when the daemon did not answer. */
export function versionText(format: string, client: string, daemon: string | null): string {
  if (format === "csv") return `Multipass,Multipassd,Title,Description,URL\n${client},${daemon ?? ""},,,\n`;
  if (format === "yaml") return `multipass: ${client}\n${daemon === null ? "" : `multipassd: ${daemon}\n`}`;
  return `${"multipass".padEnd(12)}${client}\n${daemon === null ? "" : `${"multipassd".padEnd(12)}${daemon}\n`}`;
}
