/**
 * The client-side half of `launch`: everything the 1.16 client checks before it
 * sends the request (argument counts, image syntax, CPUs, size syntax, cloud-init,
 * networks, mount sources, timeout). All failures here exit 1.
 */

import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { QtParse } from "./args.ts";
import { EXIT, type SimContext } from "./context.ts";
import { invalidSizeMessage, logTimestamp, parseQtInt, parseSize, parseTimeout } from "./values.ts";

/** A launch request as the client sends it to the daemon (sizes still as typed). */
export interface LaunchRequest {
  readonly image?: string;
  readonly name?: string;
  readonly cpus?: number;
  readonly memory?: string;
  readonly disk?: string;
  readonly timeout?: number;
  readonly mounts?: ReadonlyArray<{ readonly source: string; readonly target: string }>;
  readonly networks?: number;
  /** The cloud-init document read from a file or stdin (not from a URL). */
  readonly userData?: string;
}

/** Reads `--timeout`; prints the error and returns null when it is not a positive integer. */
export function timeoutOption(ctx: SimContext, args: QtParse): number | undefined | null {
  const text = args.value("timeout");
  if (text === undefined) return undefined;
  const seconds = parseTimeout(text);
  if (seconds === null) ctx.err("error: --timeout value has to be a positive integer\n");
  return seconds;
}

/** A deliberately small YAML sanity check standing in for yaml-cpp's parser. */
function yamlProblem(text: string): string | null {
  if (text.includes("\0")) return "yaml-cpp: error at line 1, column 1: control characters are not allowed";
  if (text.trimStart().startsWith("#cloud-config")) return null;
  const lines = text.split("\n");
  const meaningful = lines.filter((line) => line.trim() !== "" && !line.trimStart().startsWith("#"));
  if (meaningful.length <= 1 && !/[[\]{}]/.test(text)) return null;
  for (const [index, line] of lines.entries()) {
    if (line.trim() === "" || /^\s/.test(line) || /^(#|---|\.\.\.|- |-$)/.test(line)) continue;
    if (!/^[^\s:#][^:]*:(\s|$)/.test(line)) {
      return `yaml-cpp: error at line ${index + 1}, column 1: illegal map value`;
    }
  }
  const opens = (text.match(/[[{]/g) ?? []).length;
  const closes = (text.match(/[\]}]/g) ?? []).length;
  return opens === closes ? null : `yaml-cpp: error at line ${lines.length}, column 1: end of map flow not found`;
}

/** The document of `--cloud-init VALUE` (null for a URL), or the error message. */
function loadCloudInit(value: string): { text: string | null } | { error: string } {
  const prefix = "Could not load cloud-init configuration: ";
  if (value.startsWith("http://") || value.startsWith("https://")) return { text: null };
  let text: string;
  try {
    if (value === "-") {
      text = readFileSync(0, "utf8");
    } else {
      const stat = statSync(value);
      if (!stat.isFile() && !stat.isFIFO()) throw new Error("not a file");
      text = readFileSync(value, "utf8");
    }
  } catch {
    return { error: `${prefix}bad file: ${value}\nPlease ensure that Multipass can read it.` };
  }
  const problem = yamlProblem(text);
  return problem === null ? { text } : { error: `${prefix}${problem}` };
}

function networkError(spec: string): string | null {
  const fields = spec.split(",").filter((part) => part !== "");
  let name = "";
  for (const field of fields) {
    const pair = field.split("=").filter((part) => part !== "");
    if (pair.length === 2) {
      const key = (pair[0] ?? "").toLowerCase();
      const value = pair[1] ?? "";
      if (key === "name") name = value;
      else if (key === "mode") {
        if (!["auto", "manual"].includes(value.toLowerCase())) return `Bad network mode '${value}', need 'auto' or 'manual'`;
      } else if (key === "mac") {
        if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(value)) return `Invalid MAC address: ${value}`;
      } else return `Bad network field: ${key}`;
    } else if (pair.length === 1 && fields.length === 1) {
      name = pair[0] ?? "";
    } else {
      return `Bad network field definition: ${field}`;
    }
  }
  return name === "" ? "Bad network definition, need at least a 'name' field" : null;
}

function mountRoute(spec: string): { source: string; target: string } | string {
  const colon = spec.indexOf(":");
  const given = colon === -1 ? spec : spec.slice(0, colon);
  try {
    const stat = statSync(given);
    if (!stat.isDirectory()) return `Mount source path "${given}" is not a directory`;
  } catch {
    return `Mount source path "${given}" does not exist`;
  }
  const source = resolve(given);
  return { source, target: colon === -1 || colon === spec.length - 1 ? source : spec.slice(colon + 1) };
}

/**
 * Validates `launch`'s arguments like the 1.16 client. Returns the request, or
 * the exit code after printing the error.
 */
export function parseLaunchArgs(ctx: SimContext, args: QtParse): LaunchRequest | number {
  const usage = (text: string): number => (ctx.err(`${text}\n`), EXIT.commandLine);
  if (args.positionals.length > 1) return usage("Too many arguments supplied");
  const image = args.positionals[0];
  const isUrl = image !== undefined && /^(https?|file):\/\//.test(image);
  if (image !== undefined && !isUrl && image.split(":").length > 2) {
    return usage("Invalid remote and source image name supplied");
  }
  let cpus: number | undefined;
  const cpuText = args.value("cpus");
  if (cpuText !== undefined) {
    const parsed = parseQtInt(cpuText);
    if (parsed === null || parsed < 1) return usage(`Error: invalid CPU count '${cpuText}', need a positive integer value.`);
    cpus = parsed;
  }
  if (args.isSet("mem")) {
    if (args.isSet("memory")) {
      return usage(
        'error: Invalid option(s) used for memory allocation. Please use "--memory" to specify amount of memory to allocate.',
      );
    }
    ctx.err(
      'warning: "--mem" long option will be deprecated in favour of "--memory" in a future release. ' +
        "Please update any scripts, etc.\n",
    );
  }
  const memory = args.value("memory") ?? args.value("mem");
  const disk = args.value("disk");
  for (const size of [memory, disk]) {
    if (size !== undefined && parseSize(size) === null) {
      ctx.err(`${logTimestamp()} [error] [client] Caught an unhandled exception: ${invalidSizeMessage(size)}\n`);
      return EXIT.commandLine;
    }
  }
  const cloudInitValue = args.value("cloud-init");
  const cloudInit = cloudInitValue === undefined ? { text: null } : loadCloudInit(cloudInitValue);
  if ("error" in cloudInit) return usage(cloudInit.error);
  const networks = [...args.values("network")];
  if (args.isSet("bridged")) networks.push("bridged");
  for (const spec of networks) {
    const problem = networkError(spec);
    if (problem !== null) return usage(`error: ${problem}`);
  }
  const mounts: Array<{ source: string; target: string }> = [];
  for (const spec of args.values("mount")) {
    const route = mountRoute(spec);
    if (typeof route === "string") return usage(route);
    mounts.push(route);
  }
  const timeout = timeoutOption(ctx, args);
  if (timeout === null) return EXIT.commandLine;
  const request: LaunchRequest = {
    ...(image === undefined ? {} : { image }),
    ...(args.value("name") === undefined ? {} : { name: args.value("name") }),
    ...(cpus === undefined ? {} : { cpus }),
    ...(memory === undefined ? {} : { memory }),
    ...(disk === undefined ? {} : { disk }),
    ...(timeout === undefined ? {} : { timeout }),
    mounts,
    networks: networks.length,
    ...(cloudInit.text === null ? {} : { userData: cloudInit.text }),
  };
  return request;
}
