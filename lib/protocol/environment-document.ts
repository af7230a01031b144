/**
 * An environment's document (issue 17), checked and expanded into an
 * {@link Environment}: the client runs this before it sends anything (with
 * the YAML's lines, so errors read `lab.yaml:7: instances[1].cpus: …`), and
 * the master runs it again on what arrives.
 *
 * ```yaml
 * name: lab
 * defaults: { image: "24.04", cpus: 1, memory: 1G, disk: 5G }
 * instances:
 *   - name: server
 *   - name: agent
 *     count: 2            # agent-1, agent-2 → lab-agent-1, lab-agent-2
 *     after: [server]
 *     cloudInit: |
 *       #cloud-config
 *       runcmd: [echo "{{ instances.server.ipv4 }}" > /etc/lab-server]
 * ```
 *
 * Pure: no I/O. A `cloudInitFile` is read by the client, which puts its
 * text in as `cloudInit` ({@link cloudInitFiles}, {@link withCloudInitFiles}).
 */
import { usageError } from "../core/errors.ts";
import { MAX_LABELS } from "../core/labels.ts";
import { templateRefs, type TemplateRef } from "../core/template.ts";
import { quoteValue, validateInstanceName } from "../core/validate.ts";
import { ENVIRONMENT_LABEL, type Environment, type EnvironmentMember } from "./environments.ts";
import { expandMembers, type Entry } from "./environment-members.ts";
import {
  checkKeys,
  createReporter,
  kindOf,
  readBoolean,
  readCloudInit,
  readCpus,
  readImage,
  readLabels,
  readNames,
  readNetworks,
  readNode,
  readObject,
  readSize,
  readString,
  readWhole,
  type DocPath,
  type DocumentSource,
  type Reporter,
} from "./environment-fields.ts";

export type { DocPath, DocumentSource } from "./environment-fields.ts";

/** The most instances one environment has, counts expanded. */
export const MAX_ENVIRONMENT_MEMBERS = 200;
/** The largest `count` of one entry. */
export const MAX_COUNT = 100;

const TOP_KEYS = ["name", "defaults", "instances"] as const;
const SETTING_KEYS = ["image", "cpus", "memory", "disk", "network", "labels"] as const;
const ENTRY_KEYS = ["name", ...SETTING_KEYS, "count", "node", "spread", "after", "cloudInit", "cloudInitFile"] as const;

/** How {@link parseEnvironmentDocument} reads a document. */
export interface DocumentOptions extends DocumentSource {
  /**
   * `refuse`: a `cloudInitFile` is an error (the master's reading: the client
   * sends each file's text as `cloudInit`). Otherwise a `cloudInitFile` is
   * checked to be a path and its content is not looked at.
   */
  files?: "refuse";
}

/** What `defaults` and an entry may both say. */
interface Settings {
  image?: string;
  cpus?: number;
  memory?: string;
  disk?: string;
  networks?: string[];
  labels: Record<string, string>;
}

/**
 * Checks a document (as JSON-like data: the YAML read, or what a client
 * sent) and expands it: counts into members, defaults applied, `after` and
 * the instances each cloud-init names resolved to member keys.
 * @throws AppError E_USAGE naming the first problem: `SOURCE:LINE: PATH: why`
 *   (the prefix only with `source` or `lineOf`) — an unknown key, a bad value,
 *   a name too long once prefixed, two entries making the same instance, an
 *   `after` or template reference that names nothing, a cycle, too many members.
 */
export function parseEnvironmentDocument(value: unknown, options: DocumentOptions = {}): Environment {
  const r: Reporter = createReporter(options);
  if (value === null || value === undefined) r.fail([], "is empty: expected a mapping with name and instances");
  const top = readObject(value, [], r, "name, defaults and instances");
  checkKeys(top, TOP_KEYS, [], r);
  if (top["name"] === undefined) r.fail([], "needs a name (the environment's; its instances are called NAME-INSTANCE)");
  const name = r.at(["name"], () => environmentName(readString(top["name"], ["name"], r)));
  const defaults = top["defaults"] === undefined ? { labels: {} } : readDefaults(top["defaults"], r);
  const list = top["instances"];
  if (list === undefined) r.fail([], "needs instances: a list of the instances to launch");
  if (!Array.isArray(list) || list.length === 0) r.fail(["instances"], `must be a list of at least one instance, not ${kindOf(list)}`);
  if (list.length > MAX_ENVIRONMENT_MEMBERS) r.fail(["instances"], `lists ${list.length} entries; an environment has at most ${MAX_ENVIRONMENT_MEMBERS} instances`);
  const entries = list.map((raw, index) => readEntry(raw, index, options, r));
  const total = entries.reduce((sum, e) => sum + (e.count ?? 1), 0);
  if (total > MAX_ENVIRONMENT_MEMBERS) r.fail(["instances"], `makes ${total} instances; an environment has at most ${MAX_ENVIRONMENT_MEMBERS}`);
  const members = expandMembers(name, entries, r).map((m) => member(name, defaults, m.entry, m.key, m.after));
  const crowded = members.find((m) => Object.keys(m.labels).length > MAX_LABELS);
  if (crowded) r.fail(["instances", entries.find((e) => e.name === crowded.entry)!.index, "labels"], `${quoteValue(crowded.name)} would carry ${Object.keys(crowded.labels).length} labels with the defaults' and ${ENVIRONMENT_LABEL}; at most ${MAX_LABELS}`);
  return { name, members, envNames: namesOf(entries, "env"), secretNames: namesOf(entries, "secret") };
}

function environmentName(text: string): string {
  validateInstanceName(text);
  // The shortest instance name is NAME-X; longer ones are checked when they are made.
  if (text.length > 61) throw usageError(`${quoteValue(text)} is too long: instance names are NAME-INSTANCE, at most 63 characters`);
  return text;
}

function readDefaults(value: unknown, r: Reporter): Settings {
  const o = readObject(value, ["defaults"], r, `any of ${SETTING_KEYS.join(", ")}`);
  checkKeys(o, SETTING_KEYS, ["defaults"], r);
  return readSettings(o, ["defaults"], r);
}

function readSettings(o: Record<string, unknown>, path: DocPath, r: Reporter): Settings {
  const settings: Settings = { labels: {} };
  const at = (key: string): DocPath => [...path, key];
  if (o["image"] !== undefined) settings.image = readImage(o["image"], at("image"), r);
  if (o["cpus"] !== undefined) settings.cpus = readCpus(o["cpus"], at("cpus"), r);
  if (o["memory"] !== undefined) settings.memory = readSize(o["memory"], "memory", at("memory"), r);
  if (o["disk"] !== undefined) settings.disk = readSize(o["disk"], "disk", at("disk"), r);
  if (o["network"] !== undefined) settings.networks = readNetworks(o["network"], at("network"), r);
  if (o["labels"] !== undefined) settings.labels = readLabels(o["labels"], at("labels"), r);
  return settings;
}

function readEntry(raw: unknown, index: number, options: DocumentOptions, r: Reporter): Entry & Settings {
  const path: DocPath = ["instances", index];
  const o = readObject(raw, path, r, "an instance: name, and any of image, cpus, memory, …");
  checkKeys(o, ENTRY_KEYS, path, r);
  const at = (key: string): DocPath => [...path, key];
  if (o["name"] === undefined) r.fail(path, "needs a name");
  const name = r.at(at("name"), () => validateInstanceName(readString(o["name"], at("name"), r)));
  const entry: Entry & Settings = { ...readSettings(o, path, r), index, name, count: null, spread: false, after: [], refs: [] };
  if (o["count"] !== undefined) entry.count = readWhole(o["count"], 1, MAX_COUNT, at("count"), r);
  if (o["node"] !== undefined) entry.node = readNode(o["node"], at("node"), r);
  if (o["spread"] !== undefined) entry.spread = readBoolean(o["spread"], at("spread"), r);
  if (o["after"] !== undefined) entry.after = readNames(o["after"], at("after"), r);
  if (o["cloudInit"] !== undefined && o["cloudInitFile"] !== undefined) {
    r.fail(at("cloudInitFile"), "give cloudInit (the text) or cloudInitFile (a file to read it from), not both");
  }
  if (o["cloudInitFile"] !== undefined) {
    if (options.files === "refuse") r.fail(at("cloudInitFile"), "cloudInitFile cannot be read by the master: the client sends the file's content as cloudInit");
    readString(o["cloudInitFile"], at("cloudInitFile"), r);
  }
  if (o["cloudInit"] !== undefined) {
    entry.cloudInit = readCloudInit(o["cloudInit"], at("cloudInit"), r);
    entry.refs = refsOf(entry.cloudInit, at("cloudInit"), r);
  }
  return entry;
}

function refsOf(text: string, path: DocPath, r: Reporter): TemplateRef[] {
  try {
    return templateRefs(text);
  } catch (error) {
    return r.failWithin(path, error instanceof Error ? error.message : String(error));
  }
}

function member(env: string, defaults: Settings, entry: Entry & Settings, key: string, after: string[]): EnvironmentMember {
  const m: EnvironmentMember = {
    key,
    name: `${env}-${key}`,
    entry: entry.name,
    spread: entry.spread,
    labels: { ...defaults.labels, ...entry.labels, [ENVIRONMENT_LABEL]: env },
    after,
    networks: [...(entry.networks ?? defaults.networks ?? [])],
  };
  const image = entry.image ?? defaults.image;
  const cpus = entry.cpus ?? defaults.cpus;
  const memory = entry.memory ?? defaults.memory;
  const disk = entry.disk ?? defaults.disk;
  if (image !== undefined) m.image = image;
  if (cpus !== undefined) m.cpus = cpus;
  if (memory !== undefined) m.memory = memory;
  if (disk !== undefined) m.disk = disk;
  if (entry.node !== undefined) m.node = entry.node;
  if (entry.cloudInit !== undefined) m.cloudInit = entry.cloudInit;
  return m;
}

function namesOf(entries: readonly Entry[], kind: "env" | "secret"): string[] {
  const names = new Set<string>();
  for (const e of entries) for (const ref of e.refs) if (ref.kind === kind) names.add(ref.name);
  return [...names].sort();
}

/**
 * Every `instances[i].cloudInitFile` of a raw document (as read from YAML,
 * before it is checked), for the client to read: `index` is i, `path` the
 * file as written. Anything not shaped like a document gives none.
 */
export function cloudInitFiles(value: unknown): { index: number; path: string }[] {
  const list = (value as { instances?: unknown } | null)?.instances;
  if (!Array.isArray(list)) return [];
  return list.flatMap((entry: unknown, index) => {
    const file = (entry as { cloudInitFile?: unknown } | null)?.cloudInitFile;
    return typeof file === "string" ? [{ index, path: file }] : [];
  });
}

/**
 * The raw document with each listed entry's `cloudInitFile` replaced by the
 * file's text as `cloudInit` (`texts`: entry index → text); the value given
 * is not changed. Entries not listed, and entries that also give
 * `cloudInit`, are kept as they are.
 */
export function withCloudInitFiles(value: unknown, texts: ReadonlyMap<number, string>): unknown {
  const list = (value as { instances?: unknown } | null)?.instances;
  if (texts.size === 0 || !Array.isArray(list)) return value;
  const instances = list.map((entry: unknown, index) => {
    const text = texts.get(index);
    // An entry that gives both keeps them, for the parser to refuse.
    if (text === undefined || typeof entry !== "object" || entry === null || "cloudInit" in entry) return entry;
    const { cloudInitFile: _read, ...rest } = entry as Record<string, unknown>;
    return { ...rest, cloudInit: text };
  });
  return { ...(value as Record<string, unknown>), instances };
}
