/**
 * The docs name only files that exist, and no path outside the repository:
 * the READMEs' paths into lib/, tests/ and scripts/, and every `name.ts` a
 * comment in lib/, the entries or scripts/ mentions.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === "node_modules" || name.startsWith(".")) return [];
    if (statSync(path).isDirectory()) return filesUnder(path, keep);
    return keep(name) ? [path] : [];
  });
}

const SOURCES = [...filesUnder(join(ROOT, "lib"), (n) => n.endsWith(".ts")), ...filesUnder(join(ROOT, "scripts"), (n) => n.endsWith(".ts")), ...["master.ts", "worker.ts", "client.ts"].map((n) => join(ROOT, n))];
const DOCS = [join(ROOT, "README.md"), join(ROOT, "lib", "sim", "README.md")];

/** The `a/b.ts`-like names in a comment line (words ending in .ts), without the import specifiers. */
export function tsNamesIn(comment: string): string[] {
  return [...comment.matchAll(/(?<![\w./-])((?:[\w.-]+\/)*[\w-]+\.ts)\b/g)].map((m) => m[1]!);
}

/** The text of every comment of a source file (line and block comments). */
function commentsOf(source: string): string[] {
  return [...source.matchAll(/\/\*[\s\S]*?\*\/|(?<![:"'`\w])\/\/[^\n]*/g)].map((m) => m[0]);
}

/** Whether a name a comment of `file` mentions is a file: a path from the file's own folder, from lib/ or from the root. */
function exists(file: string, name: string): boolean {
  return [dirname(file), join(ROOT, "lib"), ROOT].some((base) => existsSync(join(base, name)));
}

describe("docs", () => {
  test("the name scanner finds file names in prose", () => {
    expect(tsNamesIn("see `multipass/cli.ts` and audit-log.ts, not foo.tsx or x.ts.bak")).toEqual(["multipass/cli.ts", "audit-log.ts", "x.ts"]);
  });

  test("every file a comment names exists", () => {
    const missing = SOURCES.flatMap((file) =>
      commentsOf(readFileSync(file, "utf8"))
        .flatMap(tsNamesIn)
        .filter((name) => !exists(file, name))
        .map((name) => `${relative(ROOT, file)} names ${name}`),
    );
    expect(missing).toEqual([]);
  });

  test("every path into lib/, tests/ or scripts/ that the READMEs name exists", () => {
    const missing = DOCS.flatMap((doc) =>
      [...readFileSync(doc, "utf8").matchAll(/(?<![\w/.-])((?:lib|tests|scripts)\/[\w./-]*[\w-])/g)]
        .map((m) => m[1]!)
        .filter((path) => !path.includes("…") && !existsSync(join(ROOT, path)))
        .map((path) => `${relative(ROOT, doc)} names ${path}`),
    );
    expect(missing).toEqual([]);
  });

  test("no doc or comment names a path outside the repository", () => {
    const outside = [...DOCS, ...SOURCES].filter((file) => /\/work\/|\.\.\/shared\//.test(readFileSync(file, "utf8"))).map((f) => relative(ROOT, f));
    expect(outside).toEqual([]);
  });
});
