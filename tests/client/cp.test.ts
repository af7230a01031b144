/**
 * The client's side of cp without a cluster: operands, the progress line,
 * where a copy lands (cp(1)'s rules), local files as a tar that GNU tar
 * reads, and GNU tar's output extracted beside the target — renamed into
 * place only when whole, removed otherwise.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseOperand } from "../../lib/client/cp.ts";
import { checkSources, LocalExtract, placeLocal, tarOf } from "../../lib/client/cp-local.ts";
import { formatCopyProgress } from "../../lib/client/cp-progress.ts";

const dirs: string[] = [];
function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), "mv-cpc-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function gnuTar(args: string[], cwd: string): Promise<Uint8Array> {
  const proc = Bun.spawn(["tar", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  const bytes = new Uint8Array(await new Response(proc.stdout).arrayBuffer());
  expect(await proc.exited).toBe(0);
  return bytes;
}

function tree(root: string): string {
  const dir = join(root, "tree");
  mkdirSync(join(dir, "sub"), { recursive: true });
  writeFileSync(join(dir, "secret"), "s\n", { mode: 0o600 });
  writeFileSync(join(dir, "sub", "tool"), "#!/bin/sh\n", { mode: 0o755 });
  symlinkSync("secret", join(dir, "alias"));
  chmodSync(dir, 0o750);
  return dir;
}

const mode = (path: string) => lstatSync(path).mode & 0o7777;

describe("cp operands and progress", () => {
  test("NAME[@NODE]:PATH is remote, '-' is stdio, anything with a slash before the colon is local", () => {
    expect(parseOperand("-")).toEqual({ kind: "stdio" });
    expect(parseOperand("web:logs/a")).toEqual({ kind: "remote", ref: "web", path: "logs/a" });
    expect(parseOperand("web@n1:")).toEqual({ kind: "remote", ref: "web@n1", path: "" });
    expect(parseOperand("./web:x")).toEqual({ kind: "local", path: "./web:x" });
    expect(parseOperand("/tmp/a:b")).toEqual({ kind: "local", path: "/tmp/a:b" });
    expect(() => parseOperand("we_b!:x")).toThrow(/Invalid instance name/);
  });

  test("the progress line: bar, percentage, bytes and rate; cut to the window", () => {
    expect(formatCopyProgress("a → web:", 512 * 1024 * 1024, 1024 * 1024 * 1024, 2000, 120)).toBe("a → web: [##########          ]  50% 512.0MiB/1.0GiB 256.0MiB/s");
    expect(formatCopyProgress("a → web:", 1024, null, 1000, 120)).toBe("a → web: 1.0KiB 1.0KiB/s");
    const narrow = formatCopyProgress("a-very-long-source-name.bin → web:somewhere/deep", 10, 100, 1000, 60);
    expect(narrow.length).toBeLessThanOrEqual(59);
    expect(narrow).toStartWith("…");
  });
});

describe("cp placement, as cp(1)", () => {
  test("into a directory, as a new name, and the refusals", async () => {
    const root = temp();
    mkdirSync(join(root, "dir"));
    writeFileSync(join(root, "file"), "x");
    expect(await placeLocal(join(root, "dir"), false, false)).toEqual({ into: true, dir: join(root, "dir"), make: null });
    expect(await placeLocal(join(root, "new"), false, false)).toEqual({ into: false, path: join(root, "new"), make: null });
    await expect(placeLocal(join(root, "file"), true, false)).rejects.toThrow(/file: Not a directory/);
    await expect(placeLocal(join(root, "missing"), true, false)).rejects.toThrow(/No such directory \(use -p/);
    await expect(placeLocal(join(root, "a", "b"), false, false)).rejects.toThrow(/a: No such directory/);
    await expect(placeLocal(join(root, "file", "x"), false, false)).rejects.toThrow(/file: Not a directory/);
    // -p decides what to make; nothing is made before the copy has arrived whole.
    expect(await placeLocal(join(root, "a", "b"), false, true)).toEqual({ into: false, path: join(root, "a", "b"), make: join(root, "a") });
    expect(await placeLocal(join(root, "many"), true, true)).toEqual({ into: true, dir: join(root, "many"), make: join(root, "many") });
    await expect(placeLocal(join(root, "file", "x", "y"), false, true)).rejects.toThrow(/file: Not a directory/);
    expect(readdirSync(root).sort()).toEqual(["dir", "file"]);
  });

  test("sources are checked before anything is sent", async () => {
    const root = temp();
    const dir = tree(root);
    await expect(checkSources([join(root, "nothere")], false)).rejects.toThrow(/nothere: No such file or directory/);
    await expect(checkSources([dir], false)).rejects.toThrow(/is a directory \(use -r/);
    await expect(checkSources([join(dir, "secret"), join(root, "tree", "secret")], false)).rejects.toThrow(/Two sources are named "secret"/);
    expect(await checkSources([dir], true)).toBe(2 + 10);
  });
});

describe("cp local tar", () => {
  test("GNU tar extracts what tarOf streams from disk", async () => {
    const root = temp();
    const dir = tree(root);
    const chunks: Uint8Array[] = [];
    for await (const chunk of tarOf([dir, join(root, "tree", "sub", "tool")])) chunks.push(Uint8Array.from(chunk));
    const out = temp();
    writeFileSync(join(out, "a.tar"), Buffer.concat(chunks));
    await gnuTar(["-xpf", "a.tar"], out);
    expect(mode(join(out, "tree"))).toBe(0o750);
    expect(mode(join(out, "tree", "secret"))).toBe(0o600);
    expect(mode(join(out, "tool"))).toBe(0o755);
    expect(readlinkSync(join(out, "tree", "alias"))).toBe("secret");
  });

  test("a local file that shrinks while it is sent is an error, not a short member", async () => {
    const root = temp();
    const file = join(root, "shrinks.bin");
    writeFileSync(file, Buffer.alloc(1024 * 1024, 5));
    const stream = tarOf([file]);
    await stream.next();
    await stream.next();
    truncateSync(file, 1000);
    await expect(
      (async () => {
        for (;;) if ((await stream.next()).done) break;
      })(),
    ).rejects.toThrow(/shrinks\.bin: changed while being copied/);
  });

  test("GNU tar's output extracted beside the target, then renamed into place with its modes", async () => {
    const src = temp();
    tree(src);
    const bytes = await gnuTar(["--format=pax", "-cf", "-", "tree"], src);
    const dest = temp();
    const extract = await LocalExtract.create({ into: false, path: join(dest, "copy"), make: null });
    for (let at = 0; at < bytes.length; at += 1000) await extract.push(bytes.subarray(at, at + 1000));
    expect(readdirSync(dest)).toEqual([expect.stringMatching(/^\.multiverse-cp\./)]);
    await extract.commit();
    expect(readdirSync(dest)).toEqual(["copy"]);
    expect(mode(join(dest, "copy"))).toBe(0o750);
    expect(mode(join(dest, "copy", "secret"))).toBe(0o600);
    expect(mode(join(dest, "copy", "sub", "tool"))).toBe(0o755);
    expect(readFileSync(join(dest, "copy", "secret"), "utf8")).toBe("s\n");
    expect(readlinkSync(join(dest, "copy", "alias"))).toBe("secret");
  });

  test("-p makes the missing parents when the stream has arrived whole", async () => {
    const src = temp();
    writeFileSync(join(src, "f"), "data");
    const bytes = await gnuTar(["--format=pax", "-cf", "-", "f"], src);
    const dest = temp();
    const placement = await placeLocal(join(dest, "x", "y", "g"), false, true);
    const extract = await LocalExtract.create(placement);
    await extract.push(bytes);
    expect(readdirSync(dest)).toEqual([expect.stringMatching(/^\.multiverse-cp\./)]);
    await extract.commit();
    expect(readFileSync(join(dest, "x", "y", "g"), "utf8")).toBe("data");
    expect(readdirSync(dest)).toEqual(["x"]);
  });

  test("a stream cut short, or one that climbs out, leaves nothing behind", async () => {
    const src = temp();
    writeFileSync(join(src, "big"), Buffer.alloc(100_000, 1));
    const bytes = await gnuTar(["--format=pax", "-cf", "-", "big"], src);
    const dest = temp();
    writeFileSync(join(dest, "big"), "old");
    const cut = await LocalExtract.create({ into: true, dir: join(dest, "made", "by", "p"), make: join(dest, "made", "by", "p") });
    await cut.push(bytes.subarray(0, 50_000));
    await expect(cut.commit()).rejects.toThrow(/cut short/);
    await cut.abort();
    expect(readdirSync(dest)).toEqual(["big"]);
    expect(readFileSync(join(dest, "big"), "utf8")).toBe("old");

    mkdirSync(join(src, "in"));
    const evil = await gnuTar(["--format=pax", "-P", "-cf", "-", "../big"], join(src, "in"));
    const refused = await LocalExtract.create({ into: true, dir: dest, make: null });
    await expect(refused.push(evil)).rejects.toThrow(/climbs out/);
    await refused.abort();
    expect(readdirSync(dest)).toEqual(["big"]);
  });
});
