import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeTarHeader, memberComponents, TAR_END, tarPadding, type TarEntry, type TarEvent } from "../../lib/core/tar.ts";
import { TarDecoder } from "../../lib/core/tar-decode.ts";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "mv-tar-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface Member {
  entry: TarEntry;
  data?: Uint8Array;
}

function archive(members: Member[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const { entry, data } of members) {
    parts.push(encodeTarHeader(entry));
    if (data) parts.push(data, tarPadding(data.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

/** Decodes `bytes` fed in the given chunks; returns each member with its data joined. */
function decode(chunks: Uint8Array[]): { members: { entry: TarEntry; data: Buffer }[]; ended: boolean } {
  const decoder = new TarDecoder();
  const members: { entry: TarEntry; data: Buffer }[] = [];
  let data: Buffer[] = [];
  let ended = false;
  const take = (events: TarEvent[]) => {
    for (const event of events) {
      if (event.kind === "entry") data = [];
      if (event.kind === "data") data.push(Buffer.from(event.bytes));
      if (event.kind === "entry-end") members.push({ entry: lastEntry!, data: Buffer.concat(data) });
      if (event.kind === "end") ended = true;
      if (event.kind === "entry") lastEntry = event.entry;
    }
  };
  let lastEntry: TarEntry | undefined;
  for (const chunk of chunks) take(decoder.push(chunk));
  decoder.finish();
  return { members, ended };
}

const file = (name: string, text: string, mode = 0o644): Member => {
  const data = new TextEncoder().encode(text);
  return { entry: { name, type: "file", mode, size: data.length, mtime: 1_700_000_000, linkname: "" }, data };
};
const dir = (name: string, mode = 0o755): Member => ({ entry: { name, type: "directory", mode, size: 0, mtime: 1_700_000_000, linkname: "" } });
const link = (name: string, target: string): Member => ({ entry: { name, type: "symlink", mode: 0o777, size: 0, mtime: 1_700_000_000, linkname: target } });

const longName = `${"d".repeat(90)}/${"e".repeat(90)}/${"f".repeat(95)}.txt`;
const veryLong = Array.from({ length: 12 }, (_, i) => `part${i}-${"x".repeat(40)}`).join("/");
const sample: Member[] = [
  dir("top", 0o750),
  file("top/a.txt", "hello\n", 0o600),
  file("top/run.sh", "#!/bin/sh\necho hi\n".repeat(100), 0o755),
  file("top/empty", "", 0o644),
  file(`top/${longName}`, "long name (ustar prefix)"),
  file(`top/${veryLong}`, "very long name (pax path)"),
  file("top/naïve €.txt", "non-ASCII name (pax path)"),
  link("top/link", "a.txt"),
  link("top/far", "x/".repeat(80) + "target"),
];

describe("tar codec", () => {
  test("round trip: every member, mode, link target and byte comes back", () => {
    const bytes = archive(sample);
    const { members, ended } = decode([bytes]);
    expect(ended).toBe(true);
    expect(members.map((m) => [m.entry.name, m.entry.type, m.entry.mode, m.entry.linkname])).toEqual(sample.map((m) => [m.entry.name, m.entry.type, m.entry.mode, m.entry.linkname]));
    for (const [i, m] of members.entries()) expect(m.data.equals(Buffer.from(sample[i]!.data ?? new Uint8Array()))).toBe(true);
  });

  test("a chunk boundary at every offset gives the same members", () => {
    const bytes = archive(sample.slice(0, 6));
    const whole = decode([bytes]);
    for (let cut = 1; cut < bytes.length; cut += 1) {
      const split = decode([bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(split.members.length).toBe(whole.members.length);
      expect(split.members.map((m) => m.data.toString("latin1")).join("|")).toBe(whole.members.map((m) => m.data.toString("latin1")).join("|"));
    }
    // And byte by byte.
    const bytewise = decode([...bytes].map((b) => Uint8Array.of(b)));
    expect(bytewise.members.map((m) => m.entry.name)).toEqual(whole.members.map((m) => m.entry.name));
  });

  test("sizes of 8 GiB and more go in a pax header, and are read back", () => {
    const size = 9 * 1024 ** 3 + 7;
    const header = encodeTarHeader({ name: "big.img", type: "file", mode: 0o644, size, mtime: 0, linkname: "" });
    expect(Buffer.from(header).toString("latin1")).toContain(` size=${size}\n`);
    const events = new TarDecoder().push(header);
    expect(events[0]).toEqual({ kind: "entry", entry: { name: "big.img", type: "file", mode: 0o644, size, mtime: 0, linkname: "" } });
  });

  test("a header whose checksum does not match is refused", () => {
    const bytes = archive([file("a.txt", "x")]);
    bytes[10] = 0x41;
    expect(() => decode([bytes])).toThrow(/checksum does not match/);
    expect(() => decode([new TextEncoder().encode("not a tar stream at all".repeat(40))])).toThrow(/checksum/);
  });

  test("a stream cut short is an error, not a quiet end", () => {
    const bytes = archive([file("a.txt", "x".repeat(2000))]);
    expect(() => decode([bytes.subarray(0, 1000)])).toThrow(/cut short/);
  });

  test("names that are absolute or climb out are refused, to write and to extract", () => {
    for (const name of ["/etc/passwd", "../x", "a/../../x", "a/..", ""]) expect(() => memberComponents(name)).toThrow(/absolute|climbs out|empty/);
    expect(memberComponents("./a//b/./c")).toEqual(["a", "b", "c"]);
    expect(() => encodeTarHeader({ name: "../x", type: "file", mode: 0o644, size: 0, mtime: 0, linkname: "" })).toThrow(/Cannot archive/);
  });
});

describe("tar codec against GNU tar", () => {
  test("GNU tar extracts what the encoder writes: names, modes, data, links", async () => {
    const dest = tempDir();
    const tarFile = join(tempDir(), "out.tar");
    writeFileSync(tarFile, archive(sample));
    const proc = Bun.spawn(["tar", "-xpf", tarFile, "-C", dest], { stderr: "pipe" });
    expect(await proc.exited, await new Response(proc.stderr).text()).toBe(0);
    expect(lstatSync(join(dest, "top")).mode & 0o7777).toBe(0o750);
    expect(lstatSync(join(dest, "top/a.txt")).mode & 0o7777).toBe(0o600);
    expect(lstatSync(join(dest, "top/run.sh")).mode & 0o7777).toBe(0o755);
    expect(readFileSync(join(dest, "top/run.sh"), "utf8")).toBe("#!/bin/sh\necho hi\n".repeat(100));
    expect(readFileSync(join(dest, "top", longName), "utf8")).toBe("long name (ustar prefix)");
    expect(readFileSync(join(dest, "top", veryLong), "utf8")).toBe("very long name (pax path)");
    expect(readFileSync(join(dest, "top/naïve €.txt"), "utf8")).toBe("non-ASCII name (pax path)");
    expect(readlinkSync(join(dest, "top/link"))).toBe("a.txt");
    expect(readlinkSync(join(dest, "top/far"))).toBe("x/".repeat(80) + "target");
    expect(lstatSync(join(dest, "top/a.txt")).mtimeMs).toBe(1_700_000_000_000);
  });

  test("the decoder reads what tar --format=pax -cf - writes", async () => {
    const src = tempDir();
    mkdirSync(join(src, "tree", "sub"), { recursive: true });
    chmodSync(join(src, "tree", "sub"), 0o750);
    writeFileSync(join(src, "tree", "secret"), "s3cret\n", { mode: 0o600 });
    writeFileSync(join(src, "tree", "sub", "tool"), Buffer.alloc(70_000, 7), { mode: 0o755 });
    mkdirSync(join(src, "tree", ...veryLong.split("/").slice(0, -1)), { recursive: true });
    writeFileSync(join(src, "tree", veryLong), "deep");
    writeFileSync(join(src, "tree", "naïve €.txt"), "utf8");
    symlinkSync("secret", join(src, "tree", "alias"));
    const proc = Bun.spawn(["tar", "--format=pax", "-cf", "-", "-C", src, "tree"], { stdout: "pipe" });
    const bytes = new Uint8Array(await new Response(proc.stdout).arrayBuffer());
    expect(await proc.exited).toBe(0);
    // Odd chunks, as a socket delivers them.
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += 777) chunks.push(bytes.subarray(at, at + 777));
    const { members } = decode(chunks);
    const byName = new Map(members.map((m) => [m.entry.name, m]));
    expect(byName.get("tree/sub")?.entry).toMatchObject({ type: "directory", mode: 0o750 });
    expect(byName.get("tree/secret")?.entry).toMatchObject({ type: "file", mode: 0o600 });
    expect(byName.get("tree/secret")?.data.toString()).toBe("s3cret\n");
    expect(byName.get("tree/sub/tool")?.data.equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect(byName.get(`tree/${veryLong}`)?.data.toString()).toBe("deep");
    expect(byName.get("tree/naïve €.txt")?.data.toString()).toBe("utf8");
    expect(byName.get("tree/alias")?.entry).toMatchObject({ type: "symlink", linkname: "secret" });
  });

  test("a member that climbs out, written by GNU tar -P, is refused", async () => {
    const base = tempDir();
    mkdirSync(join(base, "in"));
    writeFileSync(join(base, "outside"), "x");
    const proc = Bun.spawn(["tar", "--format=pax", "-P", "-cf", "-", "../outside"], { cwd: join(base, "in"), stdout: "pipe" });
    const bytes = new Uint8Array(await new Response(proc.stdout).arrayBuffer());
    expect(await proc.exited).toBe(0);
    expect(() => decode([bytes])).toThrow(/climbs out/);
  });
});
