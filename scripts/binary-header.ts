/**
 * What an executable's header says it is: ELF, Mach-O or PE, and for which
 * CPU. Pure (bytes in, facts out), so the build can prove that each output
 * carries the runtime of its target: `bun build --compile` accepts a wrong
 * `--compile-executable-path` without a word.
 */

/** The targets multiverse ships, as `bun build --target=bun-<target>` spells them. */
export const TARGETS = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "windows-x64"] as const;
export type Target = (typeof TARGETS)[number];

export type BinaryFormat = "elf" | "mach-o" | "pe";
export type BinaryArch = "x64" | "arm64";

export interface BinaryHeader {
  format: BinaryFormat;
  arch: BinaryArch | `unknown (${string})`;
  /** Mach-O only: whether it has a code signature load command; Apple Silicon runs nothing without one. */
  signed?: boolean;
}

/** How many bytes from the start of a file {@link readBinaryHeader} may need. */
export const HEADER_BYTES = 4096;

const ELF_MACHINE: Record<number, BinaryArch> = { 0x3e: "x64", 0xb7: "arm64" };
const MACHO_CPU: Record<number, BinaryArch> = { 0x01000007: "x64", 0x0100000c: "arm64" };
const PE_MACHINE: Record<number, BinaryArch> = { 0x8664: "x64", 0xaa64: "arm64" };

const FORMAT_OF: Record<Target, BinaryFormat> = {
  "linux-x64": "elf",
  "linux-arm64": "elf",
  "darwin-x64": "mach-o",
  "darwin-arm64": "mach-o",
  "windows-x64": "pe",
};

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

const LC_CODE_SIGNATURE = 0x1d;

/** Walks a 64-bit Mach-O's load commands (right after its 32-byte header) for LC_CODE_SIGNATURE. */
function hasCodeSignature(view: DataView): boolean {
  const count = view.getUint32(16, true);
  let at = 32;
  for (let i = 0; i < count && at + 8 <= view.byteLength; i++) {
    if (view.getUint32(at, true) === LC_CODE_SIGNATURE) return true;
    const size = view.getUint32(at + 4, true);
    if (size < 8) return false;
    at += size;
  }
  return false;
}

function archOf(table: Record<number, BinaryArch>, value: number): BinaryHeader["arch"] {
  return table[value] ?? `unknown (${hex(value)})`;
}

/**
 * Reads the header of an executable from its first bytes (at least
 * {@link HEADER_BYTES} of them, or the whole file when shorter).
 * @throws Error naming what is wrong when the bytes are no 64-bit little-endian ELF, Mach-O or PE.
 */
export function readBinaryHeader(bytes: Uint8Array): BinaryHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (length: number, what: string): void => {
    if (bytes.length < length) throw new Error(`Truncated ${what} header: ${bytes.length} bytes`);
  };
  need(4, "executable");
  if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    need(20, "ELF");
    if (bytes[4] !== 2) throw new Error(`Not a 64-bit ELF (EI_CLASS ${bytes[4]})`);
    if (bytes[5] !== 1) throw new Error(`Not a little-endian ELF (EI_DATA ${bytes[5]})`);
    return { format: "elf", arch: archOf(ELF_MACHINE, view.getUint16(18, true)) };
  }
  const magic = view.getUint32(0, true);
  if (magic === 0xfeedfacf) {
    need(32, "Mach-O");
    return { format: "mach-o", arch: archOf(MACHO_CPU, view.getUint32(4, true)), signed: hasCodeSignature(view) };
  }
  if (magic === 0xfeedface) throw new Error("A 32-bit Mach-O, not a 64-bit one");
  if (view.getUint32(0, false) === 0xcafebabe) throw new Error("A universal (fat) Mach-O, not a single-architecture one");
  if (bytes[0] === 0x4d && bytes[1] === 0x5a) {
    need(0x40, "MZ");
    const pe = view.getUint32(0x3c, true);
    need(pe + 6, "PE");
    if (view.getUint32(pe, false) !== 0x50450000) throw new Error(`No "PE\\0\\0" signature at ${hex(pe)}`);
    return { format: "pe", arch: archOf(PE_MACHINE, view.getUint16(pe + 4, true)) };
  }
  throw new Error(`Not an executable: starts with ${[...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ")}`);
}

/** What the header of a `target` executable must say. */
export function expectedHeader(target: Target): BinaryHeader {
  const format = FORMAT_OF[target];
  return { format, arch: target.endsWith("arm64") ? "arm64" : "x64", ...(format === "mach-o" ? { signed: true } : {}) };
}

/** Null when `bytes` are a `target` executable, else why not. */
export function headerMismatch(bytes: Uint8Array, target: Target): string | null {
  const want = expectedHeader(target);
  let got: BinaryHeader;
  try {
    got = readBinaryHeader(bytes);
  } catch (error) {
    return `expected ${want.format} ${want.arch}: ${(error as Error).message}`;
  }
  if (got.format !== want.format || got.arch !== want.arch) return `expected ${want.format} ${want.arch}, found ${got.format} ${got.arch}`;
  if (got.format === "mach-o" && got.signed !== true) return "a Mach-O without a code signature, which macOS on Apple Silicon refuses to run";
  return null;
}

/** The target of this machine, or null when multiverse ships none for it. */
export function hostTarget(platform: NodeJS.Platform, arch: string): Target | null {
  const os = platform === "win32" ? "windows" : platform;
  const target = `${os}-${arch}`;
  return (TARGETS as readonly string[]).includes(target) ? (target as Target) : null;
}
