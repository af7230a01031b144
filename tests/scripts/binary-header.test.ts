/**
 * The build's header check: crafted headers of every format, then real
 * executables — this machine's bun always, and dist/ (or MULTIVERSE_BIN_DIR)
 * and the cached cross-compile runtimes when a build has made them.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { expectedHeader, headerMismatch, hostTarget, readBinaryHeader, TARGETS, type Target } from "../../scripts/binary-header.ts";
import { binaryName, firstBytes } from "../../scripts/build.ts";
import { RUNTIME_PACKAGES, runtimeFile } from "../../scripts/runtimes.ts";

const ROOT = resolve(import.meta.dir, "../..");

function elf(machine: number, options: { cls?: number; data?: number } = {}): Uint8Array {
  const b = new Uint8Array(64);
  b.set([0x7f, 0x45, 0x4c, 0x46, options.cls ?? 2, options.data ?? 1, 1]);
  new DataView(b.buffer).setUint16(18, machine, true);
  return b;
}

function machO(cpu: number, commands: number[] = [0x19, 0x1d]): Uint8Array {
  const b = new Uint8Array(32 + commands.length * 16);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0xfeedfacf, true);
  v.setUint32(4, cpu, true);
  v.setUint32(16, commands.length, true);
  commands.forEach((cmd, i) => {
    v.setUint32(32 + i * 16, cmd, true);
    v.setUint32(36 + i * 16, 16, true);
  });
  return b;
}

function pe(machine: number, at = 0x80, signature = 0x50450000): Uint8Array {
  const b = new Uint8Array(at + 24);
  const v = new DataView(b.buffer);
  b.set([0x4d, 0x5a]);
  v.setUint32(0x3c, at, true);
  v.setUint32(at, signature, false);
  v.setUint16(at + 4, machine, true);
  return b;
}

describe("readBinaryHeader over crafted headers", () => {
  test.each([
    ["ELF x86-64", elf(0x3e), { format: "elf", arch: "x64" }],
    ["ELF aarch64", elf(0xb7), { format: "elf", arch: "arm64" }],
    ["ELF RISC-V", elf(0xf3), { format: "elf", arch: "unknown (0xf3)" }],
    ["Mach-O x86_64", machO(0x01000007), { format: "mach-o", arch: "x64", signed: true }],
    ["Mach-O arm64", machO(0x0100000c), { format: "mach-o", arch: "arm64", signed: true }],
    ["Mach-O arm64 unsigned", machO(0x0100000c, [0x19, 0x2]), { format: "mach-o", arch: "arm64", signed: false }],
    ["PE x64", pe(0x8664), { format: "pe", arch: "x64" }],
    ["PE arm64", pe(0xaa64, 0x100), { format: "pe", arch: "arm64" }],
  ] as const)("%s", (_name, bytes, header) => {
    expect(readBinaryHeader(bytes)).toEqual(header);
  });

  test.each([
    ["empty", new Uint8Array(0), "Truncated executable header: 0 bytes"],
    ["a script", new TextEncoder().encode("#!/usr/bin/env bun\n"), "Not an executable: starts with 23 21 2f 75"],
    ["32-bit ELF", elf(0x3e, { cls: 1 }), "Not a 64-bit ELF (EI_CLASS 1)"],
    ["big-endian ELF", elf(0x3e, { data: 2 }), "Not a little-endian ELF (EI_DATA 2)"],
    ["truncated ELF", elf(0x3e).subarray(0, 10), "Truncated ELF header: 10 bytes"],
    ["32-bit Mach-O", new Uint8Array([0xce, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]), "A 32-bit Mach-O, not a 64-bit one"],
    ["universal Mach-O", new Uint8Array([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]), "A universal (fat) Mach-O, not a single-architecture one"],
    ["MZ without PE", pe(0x8664, 0x80, 0x4e450000), 'No "PE\\0\\0" signature at 0x80'],
    ["PE header past the bytes", pe(0x8664).subarray(0, 0x60), "Truncated PE header: 96 bytes"],
  ])("refuses %s", (_name, bytes, message) => {
    expect(() => readBinaryHeader(bytes)).toThrow(message);
  });
});

describe("headerMismatch", () => {
  test("each target accepts its own header and names what it found otherwise", () => {
    const headers: Record<Target, Uint8Array> = {
      "linux-x64": elf(0x3e),
      "linux-arm64": elf(0xb7),
      "darwin-x64": machO(0x01000007),
      "darwin-arm64": machO(0x0100000c),
      "windows-x64": pe(0x8664),
    };
    for (const target of TARGETS) {
      for (const [other, bytes] of Object.entries(headers)) {
        const result = headerMismatch(bytes, target);
        if (other === target) expect(result).toBeNull();
        else expect(result).toStartWith(`expected ${expectedHeader(target).format} ${expectedHeader(target).arch}, found `);
      }
    }
    expect(headerMismatch(elf(0xb7), "linux-x64")).toBe("expected elf x64, found elf arm64");
    expect(headerMismatch(pe(0xaa64), "windows-x64")).toBe("expected pe x64, found pe arm64");
  });

  test("an unsigned Mach-O is refused; garbage is explained", () => {
    expect(headerMismatch(machO(0x0100000c, [0x19]), "darwin-arm64")).toBe("a Mach-O without a code signature, which macOS on Apple Silicon refuses to run");
    expect(headerMismatch(new Uint8Array(8), "linux-x64")).toBe("expected elf x64: Not an executable: starts with 00 00 00 00");
  });
});

test.each([
  ["linux", "x64", "linux-x64"],
  ["linux", "arm64", "linux-arm64"],
  ["darwin", "arm64", "darwin-arm64"],
  ["win32", "x64", "windows-x64"],
  ["win32", "arm64", null],
  ["freebsd", "x64", null],
] as const)("hostTarget(%p, %p) is %p", (platform, arch, target) => {
  expect(hostTarget(platform, arch)).toBe(target);
});

test("binary names carry the target, and .exe on Windows", () => {
  expect(binaryName("worker", "linux-arm64")).toBe("multiverse-worker-linux-arm64");
  expect(binaryName("client", "windows-x64")).toBe("multiverse-client-windows-x64.exe");
});

describe("real executables", () => {
  const host = hostTarget(process.platform, process.arch);

  test.skipIf(host === null)("the bun running these tests is this machine's target", () => {
    expect(headerMismatch(firstBytes(process.execPath), host!)).toBeNull();
  });

  const binDir = process.env["MULTIVERSE_BIN_DIR"] ?? join(ROOT, "dist");
  const built = TARGETS.flatMap((target) =>
    (["master", "worker", "client"] as const).map((role) => ({ target, path: join(binDir, binaryName(role, target)) })),
  ).filter(({ path }) => existsSync(path));
  if (built.length === 0) console.log(`binary-header: no executables in ${binDir} (run npm run build); only crafted headers and bun itself checked`);
  test.each(built.map(({ target, path }) => [path, target] as const))("%s is a %s executable and no other", (path, target) => {
    const bytes = firstBytes(path);
    for (const other of TARGETS) expect(headerMismatch(bytes, other) === null).toBe(other === target);
  });

  const cache = join(ROOT, "node_modules/.cache/multiverse-runtimes");
  const runtimes = existsSync(cache)
    ? TARGETS.flatMap((target) =>
        readdirSync(cache)
          .filter((dir) => dir.startsWith(`${RUNTIME_PACKAGES[target].replace("@oven/", "")}-`))
          .map((dir) => [join(cache, dir, runtimeFile(target)), target] as const),
      ).filter(([path]) => existsSync(path))
    : [];
  test.each(runtimes)("the cached runtime %s is a %s executable", (path, target) => {
    expect(headerMismatch(firstBytes(path), target)).toBeNull();
  });
});
