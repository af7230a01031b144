import { describe, expect, test } from "bun:test";
import { newNonce, TrailerFilter, wrapCommand, wrapLoginShell } from "../../lib/multipass/exec-status.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const trailer = (nonce: string, code: number) => `\u001b]7770;multiverse-exit;${nonce};${code}\u0007`;

function run(nonce: string, chunks: Uint8Array[]): { out: Buffer; status: number | null } {
  const f = new TrailerFilter(nonce);
  const parts = chunks.map((c) => Buffer.from(f.push(c)));
  parts.push(Buffer.from(f.flush()));
  return { out: Buffer.concat(parts), status: f.status };
}

describe("TrailerFilter", () => {
  const nonce = newNonce();
  const body = "héllo\r\n\u001b[1mbold\u001b[0m";
  const stream = Buffer.concat([enc(body), enc(trailer(nonce, 42))]);

  test("strips the trailer at every chunk boundary and keeps every other byte", () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = run(nonce, [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(r.status).toBe(42);
      expect(r.out.toString()).toBe(body);
    }
    const bytewise = run(nonce, [...stream].map((b) => new Uint8Array([b])));
    expect(bytewise).toEqual({ out: Buffer.from(body), status: 42 });
  });

  test("passes arbitrary binary through untouched, including bytes 0x80-0x9f", () => {
    const binary = new Uint8Array(4096).map((_, i) => (i * 7919) % 256);
    const r = run(nonce, [binary.subarray(0, 1000), binary.subarray(1000)]);
    expect(r.status).toBeNull();
    expect(Buffer.compare(r.out, Buffer.from(binary))).toBe(0);
  });

  test("a trailer with another nonce, or without digits, is not a trailer", () => {
    const forged = trailer("someone-else", 0) + `\u001b]7770;multiverse-exit;${nonce};xx\u0007`;
    const r = run(nonce, [enc(forged)]);
    expect(r.status).toBeNull();
    expect(r.out.toString()).toBe(forged);
  });

  test("an unfinished trailer at the end of the stream is handed back by flush", () => {
    const cut = trailer(nonce, 1).slice(0, 20);
    const r = run(nonce, [enc("x" + cut)]);
    expect(r.out.toString()).toBe("x" + cut);
    expect(r.status).toBeNull();
  });
});

describe("wrappers", () => {
  async function sh(argv: string[]): Promise<{ code: number; stdout: string; stderr: Uint8Array }> {
    const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).bytes(), p.exited]);
    return { code, stdout, stderr };
  }

  test("the remote status comes back through the trailer, and the wrapper never exits 4", async () => {
    for (const status of [0, 1, 2, 3, 4, 127, 255]) {
      const nonce = newNonce();
      const r = await sh(wrapCommand(["sh", "-c", `echo out; echo err >&2; exit ${status}`], nonce));
      const f = new TrailerFilter(nonce);
      const stderr = Buffer.concat([f.push(r.stderr), f.flush()]).toString();
      expect({ status, trailer: f.status, stderr, stdout: r.stdout }).toEqual({ status, trailer: status, stderr: "err\n", stdout: "out\n" });
      expect(r.code).toBe(status === 4 ? 0 : status);
    }
  });

  test("argv passes through with no re-parsing", async () => {
    const args = ["a b", "'q'", '"dq"', "$HOME", "`id`", "*", ""];
    const r = await sh(wrapCommand(["printf", "[%s]", ...args], newNonce()));
    expect(r.stdout).toBe(args.map((a) => `[${a}]`).join(""));
  });

  test("a missing command reports 127", async () => {
    const nonce = newNonce();
    const r = await sh(wrapCommand(["definitely-not-a-command-xyz"], nonce));
    const f = new TrailerFilter(nonce);
    f.push(r.stderr);
    expect(f.status).toBe(127);
  });

  test("the login shell wrapper runs $SHELL -l", () => {
    const argv = wrapLoginShell("n");
    expect(argv.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(argv[2]).toContain('"$SHELL" -l');
  });
});
