/**
 * The folders of lib/ are its architecture: this test reads every import in
 * lib/ and fails naming the file and the forbidden edge. The rules are the
 * README's "Layout": master/, worker/ and client/ never import each other; only
 * worker/ imports the Multipass driver; protocol/ imports only core/; core/
 * and sim/ import nothing else from lib/. It also bundles each entry and checks
 * which folders each executable carries.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { FORBIDDEN_FOLDERS, forbiddenIn, libFoldersOf, ROLES } from "../scripts/bundle-contents.ts";

const ROOT = resolve(import.meta.dir, "..");
const LIB = join(ROOT, "lib");

/** For each folder of lib/, the folders it may import from (itself included). */
export const ALLOWED: Record<string, readonly string[]> = {
  core: ["core"],
  protocol: ["core", "protocol"],
  multipass: ["core", "protocol", "multipass"],
  net: ["core", "protocol", "net"],
  cli: ["core", "cli"],
  master: ["core", "protocol", "net", "cli", "master"],
  worker: ["core", "protocol", "net", "cli", "multipass", "worker"],
  client: ["core", "protocol", "net", "cli", "client"],
  ui: ["core", "protocol", "ui"],
  sim: ["sim"],
};

/** Packages (bare specifiers) each folder may import; a folder not listed here may import any. */
const PACKAGES: Record<string, (specifier: string) => boolean> = {
  core: (s) => s === "node:path",
  protocol: () => false,
  multipass: () => false,
  sim: (s) => s.startsWith("node:"),
};

/** Only the client's tables paint: picocolors is imported nowhere else in lib/. */
const PICOCOLORS_HOME = "client";

export interface Edge {
  file: string;
  specifier: string;
  line: number;
}

/** Every import and export-from specifier of a TypeScript source, with its line. */
export function importsOf(source: string): { specifier: string; line: number }[] {
  const found: { specifier: string; line: number }[] = [];
  const pattern = /(?:^|[\s;])(?:import|export)\s*(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  for (const match of source.matchAll(pattern)) {
    const specifier = match[1] ?? match[2]!;
    const line = source.slice(0, match.index).split("\n").length + (match[0].startsWith("\n") ? 1 : 0);
    found.push({ specifier, line });
  }
  return found;
}

/** Every .ts file under `dir`, and lib/sim's extension-less `multipass` script. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".ts") || (name === "multipass" && dir.endsWith("sim")) ? [path] : [];
  });
}

/** The folder of lib/ a path lies in, `null` outside lib/ or for a file directly in lib/. */
function folderOf(path: string): string | null {
  const rel = relative(LIB, path);
  if (rel.startsWith("..")) return null;
  const parts = rel.split(/[\\/]/);
  return parts.length > 1 ? parts[0]! : null;
}

/** The forbidden edges of one file, as `file:line imports specifier (folder → folder)` lines. */
export function violations(file: string, source: string): string[] {
  const from = folderOf(file);
  const name = relative(ROOT, file);
  if (from === null) return [`${name} lies directly in lib/: every file belongs to a folder of its role`];
  const allowed = ALLOWED[from];
  if (allowed === undefined) return [`${name}: lib/${from}/ is not a known folder (add it to the rules)`];
  const out: string[] = [];
  for (const { specifier, line } of importsOf(source)) {
    if (specifier.startsWith(".")) {
      const target = resolve(dirname(file), specifier);
      const to = folderOf(target);
      if (to === null) {
        if (!(from === "core" && relative(ROOT, target) === "package.json")) out.push(`${name}:${line} imports "${specifier}", outside lib/`);
      } else if (!allowed.includes(to)) {
        out.push(`${name}:${line} imports "${specifier}": ${from}/ → ${to}/ is forbidden`);
      }
    } else {
      const allowPackage = PACKAGES[from];
      if (allowPackage !== undefined && !allowPackage(specifier)) out.push(`${name}:${line} imports package "${specifier}": ${from}/ takes no such dependency`);
      if (specifier === "picocolors" && from !== PICOCOLORS_HOME) out.push(`${name}:${line} imports picocolors outside lib/${PICOCOLORS_HOME}/`);
    }
  }
  return out;
}

describe("the architecture of lib/", () => {
  test("the import scanner sees every form of import", () => {
    const found = importsOf(
      [
        'import { a } from "../core/errors.ts";',
        'import type { B } from "./b.ts";',
        'export { c } from "../net/ws.ts";',
        'import "./side-effect.ts";',
        'const m = await import("../client/commands.ts");',
        "import {\n  d,\n  e,\n} from 'hono';",
      ].join("\n"),
    ).map((i) => i.specifier);
    expect(found).toEqual(["../core/errors.ts", "./b.ts", "../net/ws.ts", "./side-effect.ts", "../client/commands.ts", "hono"]);
  });

  test("a forbidden edge is reported with the file, the line and the folders", () => {
    const file = join(LIB, "master", "example.ts");
    expect(violations(file, 'import { x } from "../core/errors.ts";\nimport { y } from "../client/commands.ts";')).toEqual([
      'lib/master/example.ts:2 imports "../client/commands.ts": master/ → client/ is forbidden',
    ]);
    expect(violations(join(LIB, "protocol", "x.ts"), 'import { z } from "../multipass/driver.ts";\nimport { createHash } from "node:crypto";')).toEqual([
      'lib/protocol/x.ts:1 imports "../multipass/driver.ts": protocol/ → multipass/ is forbidden',
      'lib/protocol/x.ts:2 imports package "node:crypto": protocol/ takes no such dependency',
    ]);
    expect(violations(join(LIB, "sim", "x.ts"), 'import { e } from "../core/errors.ts";')).toEqual([
      'lib/sim/x.ts:1 imports "../core/errors.ts": sim/ → core/ is forbidden',
    ]);
    expect(violations(join(LIB, "loose.ts"), "")).toEqual(["lib/loose.ts lies directly in lib/: every file belongs to a folder of its role"]);
  });

  test("no file in lib/ imports across a forbidden edge", () => {
    const found = sources(LIB).flatMap((file) => violations(file, readFileSync(file, "utf8")));
    expect(found).toEqual([]);
  });
});

describe("what each executable carries", () => {
  for (const role of ROLES) {
    test(`the ${role} bundle pulls in none of lib/${FORBIDDEN_FOLDERS[role].join(", lib/")}`, async () => {
      const folders = await libFoldersOf(role);
      expect(folders).toContain("core");
      expect(folders).toContain(role === "worker" ? "multipass" : role);
      expect(forbiddenIn(role, folders)).toEqual([]);
    });
  }

  test("a forbidden folder in a bundle is named", () => {
    expect(forbiddenIn("client", ["cli", "client", "core", "multipass", "worker"])).toEqual(["multipass", "worker"]);
    expect(forbiddenIn("worker", ["client", "core", "multipass", "worker"])).toEqual(["client"]);
  });
});
