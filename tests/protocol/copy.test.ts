/**
 * The guest side of cp: the copy-out and copy-in scripts run by a real sh
 * in a temporary directory (as exec runs them in the instance's home), and
 * the parsers of the routes' input.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  COPY_STATUS,
  copyInCommand,
  copyInFromQuery,
  copyOutCommand,
  copyOutFromQuery,
  guestPath,
  parseCopyBody,
  parseCopySentinel,
  type CopyInOptions,
} from "../../lib/protocol/copy.ts";

const dirs: string[] = [];
function home(): string {
  const dir = mkdtempSync(join(tmpdir(), "mv-copy-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function run(argv: string[], cwd: string, stdin?: Uint8Array): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const proc = Bun.spawn(argv, { cwd, stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout: new Uint8Array(stdout), stderr };
}

const out = (cwd: string, paths: string[], recursive = true) => run(copyOutCommand(paths, recursive), cwd);
const into = (cwd: string, target: string, tar: Uint8Array, options: Partial<CopyInOptions> = {}) =>
  run(copyInCommand(target, { parents: false, several: false, raw: false, ...options }), cwd, tar);
const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.startsWith(".multiverse-cp."));

function tree(cwd: string): void {
  mkdirSync(join(cwd, "src", "sub"), { recursive: true });
  chmodSync(join(cwd, "src", "sub"), 0o750);
  writeFileSync(join(cwd, "src", "secret"), "s\n", { mode: 0o600 });
  writeFileSync(join(cwd, "src", "sub", "tool"), "#!/bin/sh\n", { mode: 0o755 });
  writeFileSync(join(cwd, "note"), "note\n");
}

describe("copy scripts", () => {
  test("copy-out then copy-in: a directory lands inside an existing directory, modes kept", async () => {
    const cwd = home();
    tree(cwd);
    mkdirSync(join(cwd, "dest"));
    const tar = await out(cwd, ["src", "note"]);
    expect(tar.code).toBe(0);
    expect(tar.stderr).toMatch(/^multiverse-cp:size:\d+\n$/);
    const put = await into(cwd, "dest", tar.stdout, { several: true });
    expect(put.code, put.stderr).toBe(0);
    expect(lstatSync(join(cwd, "dest/src/sub")).mode & 0o7777).toBe(0o750);
    expect(lstatSync(join(cwd, "dest/src/secret")).mode & 0o7777).toBe(0o600);
    expect(lstatSync(join(cwd, "dest/src/sub/tool")).mode & 0o7777).toBe(0o755);
    expect(readFileSync(join(cwd, "dest/note"), "utf8")).toBe("note\n");
    expect(leftovers(join(cwd, "dest"))).toEqual([]);
  });

  test("one source to a name that does not exist is copied as that name; ~/ is the home", async () => {
    const cwd = home();
    tree(cwd);
    const put = await into(cwd, "~/renamed", (await out(cwd, ["~/src"])).stdout);
    expect(put.code, put.stderr).toBe(0);
    expect(readFileSync(join(cwd, "renamed/secret"), "utf8")).toBe("s\n");
    expect(leftovers(cwd)).toEqual([]);
  });

  test("refusals: each its sentinel and status, and the target untouched", async () => {
    const cwd = home();
    tree(cwd);
    const missing = await out(cwd, ["nothere"]);
    expect(missing.code).toBe(COPY_STATUS["not-found"]);
    expect(parseCopySentinel(missing.stderr.trim())).toEqual({ kind: "error", reason: "not-found", path: "nothere" });
    expect((await out(cwd, ["src"], false)).code).toBe(COPY_STATUS["is-directory"]);
    const tar = (await out(cwd, ["note"])).stdout;
    expect((await into(cwd, "note", tar, { several: true })).code).toBe(COPY_STATUS["not-a-directory"]);
    expect((await into(cwd, "a/b/c", tar)).code).toBe(COPY_STATUS["no-such-directory"]);
    expect((await into(cwd, "src", (await out(cwd, ["src/sub/tool"])).stdout)).code).toBe(0);
    const dirOntoFile = await into(cwd, "note", (await out(cwd, ["src"])).stdout);
    expect(dirOntoFile.code).toBe(COPY_STATUS["overwrite-file"]);
    expect(readFileSync(join(cwd, "note"), "utf8")).toBe("note\n");
    expect(leftovers(cwd)).toEqual([]);
  });

  test("-p creates the parents; raw input becomes one file", async () => {
    const cwd = home();
    tree(cwd);
    expect((await into(cwd, "a/b/c", (await out(cwd, ["note"])).stdout, { parents: true })).code).toBe(0);
    expect(readFileSync(join(cwd, "a/b/c"), "utf8")).toBe("note\n");
    expect((await into(cwd, "raw.bin", new TextEncoder().encode("raw bytes"), { raw: true })).code).toBe(0);
    expect(readFileSync(join(cwd, "raw.bin"), "utf8")).toBe("raw bytes");
  });

  test("-p makes nothing when the stream does not arrive whole", async () => {
    const cwd = home();
    writeFileSync(join(cwd, "big"), Buffer.alloc(200_000, 1));
    const tar = (await out(cwd, ["big"])).stdout;
    expect((await into(cwd, "a/b/c", tar.subarray(0, 100_000), { parents: true })).code).not.toBe(0);
    expect((await into(cwd, "many/", tar.subarray(0, 100_000), { parents: true })).code).not.toBe(0);
    expect(readdirSync(cwd)).toEqual(["big"]);
    expect((await into(cwd, "big/x/y", tar, { parents: true })).code).toBe(COPY_STATUS["not-a-directory"]);
  });

  test("a tar stream cut short leaves nothing behind", async () => {
    const cwd = home();
    writeFileSync(join(cwd, "big"), Buffer.alloc(200_000, 1));
    const tar = (await out(cwd, ["big"])).stdout;
    mkdirSync(join(cwd, "dest"));
    const put = await into(cwd, "dest", tar.subarray(0, 100_000));
    expect(put.code).not.toBe(0);
    expect(readdirSync(join(cwd, "dest"))).toEqual([]);
  });
});

describe("copy route input", () => {
  test("paths are checked: none, empty, NUL, too many", () => {
    expect(() => copyOutFromQuery(new URLSearchParams())).toThrow(/No path given/);
    expect(() => copyOutFromQuery(new URLSearchParams("path="))).toThrow(/empty path/);
    expect(() => copyOutFromQuery(new URLSearchParams("path=a%00b"))).toThrow(/NUL/);
    expect(() => copyOutFromQuery(new URLSearchParams(Array.from({ length: 257 }, (): [string, string] => ["path", "x"])))).toThrow(/Too many paths/);
    expect(() => copyOutFromQuery(new URLSearchParams("path=a&recursive=yes"))).toThrow(/Invalid recursive/);
    expect(copyOutFromQuery(new URLSearchParams("path=/etc/hosts&path=rel&recursive=1"))).toEqual({ paths: ["/etc/hosts", "rel"], recursive: true });
    expect(() => copyInFromQuery(new URLSearchParams("path=a&path=b"))).toThrow(/one target path/);
    expect(() => copyInFromQuery(new URLSearchParams("path=a&raw=1&several=1"))).toThrow(/one file/);
    expect(guestPath("~")).toBe(".");
    expect(guestPath("~/x/y")).toBe("x/y");
  });

  test("the instance-to-instance body", () => {
    expect(parseCopyBody({ from: { instance: "web@n1", paths: ["a"] }, to: { instance: "db", path: "~" } })).toEqual({
      from: { instance: { name: "web", node: "n1" }, paths: ["a"], recursive: false },
      to: { instance: { name: "db" }, path: "~", parents: false },
    });
    expect(() => parseCopyBody({ from: { instance: "bad name!", paths: ["a"] }, to: { instance: "db", path: "x" } })).toThrow();
    expect(() => parseCopyBody({ from: { instance: "web", paths: [] }, to: { instance: "db", path: "x" } })).toThrow(/No path/);
  });
});
