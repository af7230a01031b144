/**
 * An environment's file as the client reads it before anything is sent
 * (issue 17): the YAML (or `-`, stdin), each `cloudInitFile` read relative
 * to the file's folder and put in as `cloudInit`, the whole checked with the
 * master's own parser (errors name the file and line: `lab.yaml:12: …`), and
 * the values of the `{{ env.NAME }}` its templates use taken from the
 * client's environment. Every failure here is a usage error: exit 2, and the
 * master has been asked nothing.
 */
import { readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { readYamlDocument, MAX_YAML_BYTES, type YamlDocument } from "../cli/yaml-document.ts";
import { AppError, messageOf, usageError } from "../core/errors.ts";
import { formatBytes } from "../core/format.ts";
import { templateRefs } from "../core/template.ts";
import { cloudInitFiles, parseEnvironmentDocument, withCloudInitFiles } from "../protocol/environment-document.ts";
import type { Environment, EnvironmentAction, EnvironmentRequest } from "../protocol/environments.ts";
import { MAX_CLOUD_INIT_BYTES } from "../protocol/operations.ts";
import type { ClientContext } from "./context.ts";
import { readFleetStdin } from "./fleet.ts";

/** An environment's file, read and checked. */
export interface EnvironmentFile {
  /** What errors and messages call it: the path as given, or `stdin`. */
  source: string;
  /** The document as JSON, each `cloudInitFile` read into `cloudInit`: what is sent. */
  document: unknown;
  environment: Environment;
  /** Where each `{{ env.NAME }}` is first used: `lab.yaml:12`, `k3s-agent.yaml:3`. */
  envUses: Map<string, string>;
}

/** The text of the file, or of stdin for `-`. @throws AppError E_USAGE */
async function readText(ctx: ClientContext, path: string): Promise<string> {
  if (path === "-") {
    if (ctx.terminal.stdinIsTTY) throw usageError("-f - reads the environment's file from stdin, which is a terminal here: pipe the file in, or give its path");
    const bytes = await readFleetStdin(ctx.terminal, MAX_YAML_BYTES, "an environment's file is at most that");
    return new TextDecoder().decode(bytes);
  }
  return readBounded(path, MAX_YAML_BYTES, `Cannot read the environment's file "${path}"`);
}

function readBounded(path: string, limit: number, cannot: string): string {
  try {
    const size = statSync(path).size;
    if (size > limit) throw usageError(`${cannot}: it is ${formatBytes(size)}, over the ${formatBytes(limit)} allowed`);
    return readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw usageError(`${cannot}: ${messageOf(error)}`);
  }
}

/**
 * Reads each `cloudInitFile` the document names, relative to the folder of
 * the YAML file (the working directory for stdin).
 * @throws AppError E_USAGE `lab.yaml:LINE: cannot read cloudInitFile "…": why`
 */
function readCloudInitFiles(doc: YamlDocument, source: string, base: string): Map<number, { path: string; text: string }> {
  const files = new Map<number, { path: string; text: string }>();
  for (const { index, path } of cloudInitFiles(doc.value)) {
    const line = doc.lineOf(["instances", index, "cloudInitFile"]);
    const at = `${source}${line === null ? "" : `:${line}`}`;
    files.set(index, { path, text: readBounded(resolve(base, path), MAX_CLOUD_INIT_BYTES, `${at}: cannot read cloudInitFile "${path}"`) });
  }
  return files;
}

/** Where each env name is first used: the YAML line of an inline cloud-init, or the line in its cloudInitFile. */
function envUsesOf(doc: YamlDocument, text: string, source: string, files: Map<number, { path: string; text: string }>): Map<string, string> {
  const uses = new Map<string, string>();
  const lines = text.split("\n");
  const instances = (doc.value as { instances?: unknown } | null)?.instances;
  if (!Array.isArray(instances)) return uses;
  instances.forEach((entry: unknown, index) => {
    const file = files.get(index);
    const inline = (entry as { cloudInit?: unknown } | null)?.cloudInit;
    const template = file?.text ?? (typeof inline === "string" ? inline : "");
    for (const ref of safeRefs(template)) {
      if (ref.kind !== "env" || uses.has(ref.name)) continue;
      if (file) uses.set(ref.name, `${file.path}:${ref.line}`);
      else {
        // An inline template's lines follow its key's: find the expression as written from there.
        const start = doc.lineOf(["instances", index, "cloudInit"]) ?? 1;
        const found = lines.findIndex((l, i) => i >= start - 1 && l.includes(ref.text));
        uses.set(ref.name, `${source}:${found >= 0 ? found + 1 : start}`);
      }
    }
  });
  return uses;
}

/** A template's references; none for one the document's parser has already refused. */
function safeRefs(template: string) {
  try {
    return templateRefs(template);
  } catch {
    return [];
  }
}

/**
 * Reads and checks an environment's file.
 * @throws AppError E_USAGE: unreadable, not YAML, refused by the schema (with its line), a cloudInitFile unreadable
 */
export async function readEnvironmentFile(ctx: ClientContext, path: string): Promise<EnvironmentFile> {
  const source = path === "-" ? "stdin" : path;
  const text = await readText(ctx, path);
  const doc = readYamlDocument(text, source);
  const files = readCloudInitFiles(doc, source, path === "-" ? resolve(".") : dirname(resolve(path)));
  const document = withCloudInitFiles(doc.value, new Map([...files].map(([index, f]) => [index, f.text])));
  const environment = parseEnvironmentDocument(document, { lineOf: doc.lineOf, source });
  return { source, document, environment, envUses: envUsesOf(doc, text, source, files) };
}

/** The `{{ env.NAME }}` the file uses that the client's environment does not set, each with where it is first used. */
export function unsetEnv(ctx: Pick<ClientContext, "env">, file: EnvironmentFile): { name: string; where: string }[] {
  return file.environment.envNames.filter((name) => ctx.env[name] === undefined).map((name) => ({ name, where: file.envUses.get(name) ?? file.source }));
}

/**
 * The values of the `{{ env.NAME }}` the file's templates use, from the
 * client's environment: only those names are sent.
 * @throws AppError E_USAGE naming the first variable that is not set, and where the file uses it
 */
export function envValues(ctx: Pick<ClientContext, "env">, file: EnvironmentFile): Record<string, string> {
  const [unset] = unsetEnv(ctx, file);
  if (unset !== undefined) {
    const { name, where } = unset;
    throw usageError(`${where}: the environment variable ${name} is not set ({{ env.${name} }} uses it): set it, e.g. ${name}=… multiverse …`, { details: { variable: name } });
  }
  return Object.fromEntries(file.environment.envNames.map((name) => [name, ctx.env[name] ?? ""]));
}

/** The body of `POST /api/v1/environments` for the file. */
export function environmentRequest(action: EnvironmentAction, file: EnvironmentFile, env: Record<string, string>, flags: { confirm?: boolean; purge?: boolean } = {}): EnvironmentRequest {
  return { action, document: file.document, env, confirm: flags.confirm ?? false, purge: flags.purge ?? false };
}
