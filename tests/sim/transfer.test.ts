/**
 * `transfer` / `copy-files` of the simulated host (lib/sim/transfer.ts) against
 * CONTRACT §4.15 and the 1.16 sources: every argument error (exit 1, nothing
 * touched), every daemon refusal (exit 2, no automatic start), the runtime
 * failures with upstream's texts (exit 2), and byte-exact, mode-keeping round
 * trips of files, trees and the `-` streams, in constant memory.
 */

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createSimHost, STAND_IN, type SimHost } from "./sim-host.ts";

let host: SimHost;
/** The caller's working directory (local paths are relative to it). */
let work = "";
/** The home of instance `web`, i.e. its /home/ubuntu. */
let home = "";

const INSTANCES = [
  { name: "web", state: "Running" },
  { name: "db", state: "Running" },
  { name: "off", state: "Stopped" },
  { name: "sleepy", state: "Suspended" },
  { name: "gone", state: "Deleted" },
  { name: "odd", state: "Unknown" },
];

beforeEach(() => {
  host = createSimHost();
  host.seed({ instances: INSTANCES });
  work = join(host.dir, "work");
  home = join(host.dir, "instances", "web", "home");
  mkdirSync(work);
  mkdirSync(home, { recursive: true });
});

afterEach(() => host.remove());

function transfer(args: readonly string[], stdin?: Uint8Array | string): ReturnType<SimHost["run"]> {
  return host.run(["transfer", ...args], { cwd: work, ...(stdin === undefined ? {} : { stdin }) });
}

/** stderr with each log line's timestamp taken out: `[sftp] message`. */
function logged(stderr: string): string {
  return stderr.replace(/^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\] \[error\] \[sftp\] /gm, "[sftp] ");
}

/** Every path under `root` with its type, permission bits and content or link target. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, prefix: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const stat = lstatSync(path);
      const mode = (stat.mode & 0o7777).toString(8);
      if (stat.isSymbolicLink()) out.push(`${prefix}${name} -> ${readlinkSync(path)}`);
      else if (stat.isDirectory()) {
        out.push(`${prefix}${name}/ ${mode}`);
        walk(path, `${prefix}${name}/`);
      } else out.push(`${prefix}${name} ${mode} ${Bun.hash(readFileSync(path)).toString(16)}`);
    }
  };
  walk(root, "");
  return out;
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o7777;
}


/**
 * Samples a child's peak resident memory (VmHWM, which only grows) until stopped; returns the
 * highest seen, in bytes. Not resourceUsage().maxRSS: Bun reports there the largest of all this
 * process's children so far (it measured 279 MB for a 42 MB stand-in once a big child had run).
 */
function peakOf(pid: number): { stop(): number } {
  let peak = 0;
  const sample = () => {
    try {
      const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
      if (Number.isFinite(kb)) peak = Math.max(peak, kb * 1024);
    } catch {
      // Exited: the last sample holds its peak.
    }
  };
  const timer = setInterval(sample, 20);
  sample();
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

describe("argument errors: exit 1, nothing touched", () => {
  const cases: Array<[string[], string]> = [
    [[], "Not enough arguments given"],
    [["web:a"], "Not enough arguments given"],
    [["a", "b"], "An instance name is needed for either source or destination"],
    [["web:a", "b", "c"], "All sources must be from inside an instance"],
    [["a", "web:b", "web:c"], "Cannot specify an instance name for both source and destination"],
    [["web:a", "web:b"], "Cannot specify an instance name for both source and destination"],
    [["-", "-"], "Only one '-' allowed"],
    [["-", "-", "web:a"], "Only one '-' allowed"],
    [["web:a", "-", "-"], "Only one '-' allowed"],
    [["-", "a", "web:b"], "Only two arguments allowed when using '-'"],
    [["web:a", "web:b", "-"], "Only two arguments allowed when using '-'"],
    [["a", "-"], "Source must be from inside an instance"],
    [["-", "a"], "Target must be inside an instance"],
    [[":a", "b"], "An instance name is needed for either source or destination"],
    [["--bogus", "web:a", "b"], "Unknown option 'bogus'."],
  ];
  for (const [args, message] of cases) {
    test(`transfer ${args.join(" ") || "(nothing)"}`, async () => {
      writeFileSync(join(work, "a"), "local a\n");
      const before = [tree(work), tree(home)];
      const result = await transfer(args, "from stdin");
      expect([result.code, result.stderr, result.stdout.toString()]).toEqual([1, `${message}\n`, ""]);
      expect([tree(work), tree(home)]).toEqual(before);
    });
  }

  test("copy-files is transfer", async () => {
    const result = await host.run(["copy-files", "a"], { cwd: work });
    expect([result.code, result.stderr]).toEqual([1, "Not enough arguments given\n"]);
  });
});

describe("daemon refusals: exit 2, no automatic start", () => {
  const cases: Array<[string[], string]> = [
    [["ghost:a", "."], 'transfer failed: The following errors occurred:\ninstance "ghost" does not exist\n'],
    [["a", "gone:a"], 'transfer failed: The following errors occurred:\ninstance "gone" is deleted\n'],
    [["ghost:a", "gone:b", "."], 'transfer failed: The following errors occurred:\ninstance "gone" is deleted\ninstance "ghost" does not exist\n'],
    [["off:a", "."], 'transfer failed: instance "off" is not running\n'],
    [["-", "sleepy:a"], 'transfer failed: instance "sleepy" is not running\n'],
    [["web:a", "off:b", "."], 'transfer failed: instance "off" is not running\n'],
    [["odd:a", "-"], "transfer failed: Cannot retrieve credentials in unknown state\n"],
  ];
  for (const [args, expected] of cases) {
    test(`transfer ${args.join(" ")}`, async () => {
      writeFileSync(join(work, "a"), "local a\n");
      const before = tree(work);
      const result = await transfer(args);
      expect([result.code, result.stderr, result.stdout.toString()]).toEqual([2, expected, ""]);
      expect(tree(work)).toEqual(before);
    });
  }

  test("a stopped instance stays stopped", async () => {
    await transfer(["off:a", "."]);
    const list = JSON.parse((await host.run(["list", "--format", "json"])).stdout.toString()) as { list: Array<{ name: string; state: string }> };
    expect(list.list.find((i) => i.name === "off")?.state).toBe("Stopped");
  });

  test("a shutdown due within a minute refuses", async () => {
    host.seed({ instances: [{ name: "late", state: "Delayed Shutdown", shutdownAt: Date.now() + 30_000 }] });
    const result = await transfer(["late:a", "."]);
    expect([result.code, result.stderr]).toEqual([
      2,
      "transfer failed: \"late\" is scheduled to shut down in less than a minute, use 'multipass stop --cancel late' to cancel the shutdown.\n",
    ]);
  });

  test("an unreachable daemon", async () => {
    host.configure({ fault: "down" });
    const result = await transfer(["web:a", "."]);
    expect([result.code, result.stderr]).toEqual([2, "transfer failed: cannot connect to the multipass socket\n"]);
  });

  test("the call is logged in calls.log", async () => {
    await transfer(["web:a", "."]);
    const lines = readFileSync(join(host.dir, "calls.log"), "utf8").trim().split("\n");
    expect((JSON.parse(lines.at(-1)!) as { argv: string[] }).argv).toEqual(["transfer", "web:a", "."]);
  });
});

describe("runtime failures: upstream's texts, exit 2", () => {
  beforeEach(() => {
    writeFileSync(join(work, "a"), "local a\n");
    writeFileSync(join(work, "b"), "local b\n");
    mkdirSync(join(work, "dir"));
    writeFileSync(join(home, "f"), "remote f\n");
    writeFileSync(join(home, "g"), "remote g\n");
    mkdirSync(join(home, "rdir"));
  });

  const cases: Array<[string, string[], string]> = [
    ["missing local source", ["missing", "web:"], "[sftp] cannot access missing: No such file or directory\n"],
    ["missing remote source", ["web:missing", "."], "[sftp] cannot open remote file missing: SFTP server: No such file\n"],
    ["local directory without -r", ["dir", "web:"], "[sftp] omitting local directory dir: recursive mode not specified\n"],
    ["remote directory without -r", ["web:rdir/", "."], "[sftp] omitting remote directory rdir/: recursive mode not specified\n"],
    ["several sources, remote target a file", ["a", "b", "web:f"], 'Target "f" is not a directory\n'],
    ["several sources, remote target missing", ["a", "b", "web:nowhere"], 'Target "nowhere" is not a directory\n'],
    ["several sources, local target a file", ["web:f", "web:g", "a"], 'Target "a" is not a directory\n'],
    ["several sources, local target missing", ["web:f", "web:g", "nowhere"], 'Cannot access "nowhere": No such file or directory\n'],
    ["remote parent missing", ["a", "web:no/such/a"], "[sftp] remote target does not exist\n"],
    ["local parent missing", ["web:f", "no/such/f"], "[sftp] local target does not exist\n"],
    ["stdin, remote parent missing", ["-", "web:no/such/f"], "remote target does not exist\n"],
    ["stdout of a missing file", ["web:missing", "-"], "cannot open remote file missing: SFTP server: No such file\n"],
    ["stdout of a directory", ["web:rdir", "-"], "cannot read from remote file rdir: SFTP server: Failure\n"],
    ["directory onto a remote file", ["-r", "dir", "web:f"], "[sftp] cannot overwrite remote non-directory f with directory\n"],
    ["directory onto a local file", ["-r", "web:rdir", "a"], "[sftp] cannot overwrite local non-directory a with directory\n"],
    ["directory, remote parent missing", ["-r", "dir", "web:no/such"], "[sftp] cannot create remote directory no/such: SFTP server: No such file\n"],
    ["directory, local parent missing", ["-r", "web:rdir", "no/such"], "[sftp] cannot create local directory no/such: No such file or directory\n"],
  ];
  for (const [what, args, expected] of cases) {
    test(what, async () => {
      const result = await transfer(args);
      expect([result.code, logged(result.stderr), result.stdout.toString()]).toEqual([2, expected, ""]);
    });
  }

  test("a file onto a remote directory of its name", async () => {
    mkdirSync(join(home, "a"));
    const result = await transfer(["a", "web:."]);
    expect([result.code, logged(result.stderr)]).toEqual([2, '[sftp] cannot overwrite remote directory "./a" with non-directory\n']);
  });

  test("a file onto a local directory of its name", async () => {
    mkdirSync(join(work, "f"));
    const result = await transfer(["web:f", "."]);
    expect([result.code, logged(result.stderr)]).toEqual([2, "[sftp] cannot overwrite local directory ./f with non-directory\n"]);
  });

  test("a missing remote file leaves the empty local file upstream opens first", async () => {
    await transfer(["web:missing", "."]);
    expect(readFileSync(join(work, "missing"), "utf8")).toBe("");
  });

  test("one failing source does not stop the next", async () => {
    const result = await transfer(["missing", "a", "web:rdir"]);
    expect([result.code, logged(result.stderr)]).toEqual([2, "[sftp] cannot access missing: No such file or directory\n"]);
    expect(readFileSync(join(home, "rdir", "a"), "utf8")).toBe("local a\n");
  });
});

describe("copies", () => {
  test("random binary data both ways, byte-exact, mode kept", async () => {
    const data = new Uint8Array(3 * 1024 * 1024 + 17);
    crypto.getRandomValues(data.subarray(0, 65536));
    for (let i = 65536; i < data.length; i += 65536) data.copyWithin(i, 0, 65536);
    writeFileSync(join(work, "blob"), data);
    chmodSync(join(work, "blob"), 0o751);
    expect(await transfer(["blob", "web:"])).toEqual({ code: 0, stdout: Buffer.alloc(0), stderr: "" });
    expect(readFileSync(join(home, "blob")).equals(data)).toBe(true);
    expect(modeOf(join(home, "blob"))).toBe(0o751);
    chmodSync(join(home, "blob"), 0o640);
    expect((await transfer(["web:/home/ubuntu/blob", "back"])).code).toBe(0);
    expect(readFileSync(join(work, "back")).equals(data)).toBe(true);
    expect(modeOf(join(work, "back"))).toBe(0o640);
  });

  test("a tree with modes, links and empty directories, there and back", async () => {
    const d = join(work, "d");
    mkdirSync(join(d, "sub", "deeper"), { recursive: true });
    mkdirSync(join(d, "empty"));
    mkdirSync(join(d, "ro"));
    writeFileSync(join(d, "x.sh"), "#!/bin/sh\necho x\n");
    writeFileSync(join(d, "secret"), "s3cret");
    writeFileSync(join(d, "sub", "deeper", "f"), new Uint8Array([0, 1, 2, 255]));
    writeFileSync(join(d, "ro", "kept"), "inside a read-only directory");
    symlinkSync("x.sh", join(d, "link"));
    chmodSync(join(d, "x.sh"), 0o755);
    chmodSync(join(d, "secret"), 0o600);
    chmodSync(join(d, "empty"), 0o700);
    chmodSync(join(d, "ro"), 0o555);
    chmodSync(d, 0o750);
    const expected = tree(d);

    expect(await transfer(["-r", "d", "web:"])).toEqual({ code: 0, stdout: Buffer.alloc(0), stderr: "" });
    expect(tree(join(home, "d"))).toEqual(expected);
    expect(modeOf(join(home, "d"))).toBe(0o750);

    expect((await transfer(["--recursive", "web:d", "back"])).code).toBe(0);
    expect(tree(join(work, "back"))).toEqual(expected);
    expect(modeOf(join(work, "back"))).toBe(0o750);
    expect((await transfer(["-r", "web:d", "back"])).code).toBe(0);
    expect(tree(join(work, "back", "d"))).toEqual(expected);
  });

  test("-p makes the parents, in both directions", async () => {
    writeFileSync(join(work, "a"), "a");
    expect((await transfer(["-p", "a", "web:x/y/z"])).code).toBe(0);
    expect(readFileSync(join(home, "x", "y", "z"), "utf8")).toBe("a");
    expect((await transfer(["--parents", "web:x/y/z", "p/q/r"])).code).toBe(0);
    expect(readFileSync(join(work, "p", "q", "r"), "utf8")).toBe("a");
  });

  test("several sources into a directory, from two instances", async () => {
    writeFileSync(join(home, "one"), "1");
    mkdirSync(join(host.dir, "instances", "db", "home"), { recursive: true });
    writeFileSync(join(host.dir, "instances", "db", "home", "two"), "2");
    mkdirSync(join(work, "out"));
    expect((await transfer(["web:one", "db:two", "out"])).code).toBe(0);
    expect(tree(join(work, "out")).map((line) => line.split(" ")[0])).toEqual(["one", "two"]);
    expect((await transfer(["out/one", "out/two", "web:"])).code).toBe(0);
  });

  test("a mounted directory is a directory, as on a guest, not the link the stand-in makes", async () => {
    const project = join(host.dir, "project");
    mkdirSync(project);
    writeFileSync(join(project, "README"), "mounted");
    host.seed({ instances: [{ name: "web", state: "Running", mounts: [{ source: project, target: "/home/ubuntu/proj" }] }] });
    writeFileSync(join(work, "a"), "a");
    expect(await transfer(["-p", "a", "web:proj/sub/a"])).toEqual({ code: 0, stdout: Buffer.alloc(0), stderr: "" });
    expect(readFileSync(join(project, "sub", "a"), "utf8")).toBe("a");
    expect((await transfer(["-r", "web:", "back"])).code).toBe(0);
    expect(lstatSync(join(work, "back", "proj")).isDirectory()).toBe(true);
    expect(readFileSync(join(work, "back", "proj", "README"), "utf8")).toBe("mounted");
  });

  test("~ is not expanded: sftp-server takes it as a directory name", async () => {
    writeFileSync(join(work, "a"), "a");
    expect((await transfer(["a", "web:~/a"])).stderr).toMatch(/\[sftp\] remote target does not exist\n$/);
    expect((await transfer(["-p", "a", "web:~/a"])).code).toBe(0);
    expect(readFileSync(join(home, "~", "a"), "utf8")).toBe("a");
  });
});

describe("streams", () => {
  test("stdin into a new file (0664 less the umask), and back out on stdout", async () => {
    const data = crypto.getRandomValues(new Uint8Array(1 << 20));
    expect(await transfer(["-", "web:in.bin"], data)).toEqual({ code: 0, stdout: Buffer.alloc(0), stderr: "" });
    expect(readFileSync(join(home, "in.bin")).equals(Buffer.from(data))).toBe(true);
    expect(modeOf(join(home, "in.bin"))).toBe(0o664 & ~process.umask());
    const out = await transfer(["web:in.bin", "-"]);
    expect([out.code, out.stderr, out.stdout.equals(Buffer.from(data))]).toEqual([0, "", true]);
  });

  test("stdin into a directory becomes stream_output.dat; -p makes parents", async () => {
    expect((await transfer(["-", "web:."], "to a directory")).code).toBe(0);
    expect(readFileSync(join(home, "stream_output.dat"), "utf8")).toBe("to a directory");
    expect((await transfer(["-p", "-", "web:new/dir/f"], "deep")).code).toBe(0);
    expect(readFileSync(join(home, "new", "dir", "f"), "utf8")).toBe("deep");
    expect(existsSync(join(work, "-"))).toBe(false);
  });

  test("1 GiB in and out in constant memory, checksums equal", async () => {
    const size = 1 << 30;
    const chunk = crypto.getRandomValues(new Uint8Array(1 << 16));
    const source = join(work, "big");
    const writer = Bun.file(source).writer();
    const sent = new Bun.CryptoHasher("sha256");
    for (let done = 0; done < size; done += chunk.length) {
      chunk[0] = done & 0xff;
      chunk[1] = (done >>> 8) & 0xff;
      chunk[2] = (done >>> 16) & 0xff;
      writer.write(chunk);
      sent.update(chunk);
      if (done % (1 << 24) === 0) await writer.flush();
    }
    await writer.end();
    const push = Bun.spawn([STAND_IN, "transfer", "-", "web:big"], { env: host.env(), cwd: work, stdin: Bun.file(source), stdout: "ignore", stderr: "pipe" });
    const pushPeak = peakOf(push.pid);
    expect([await push.exited, await new Response(push.stderr).text()]).toEqual([0, ""]);
    const pull = Bun.spawn([STAND_IN, "transfer", "web:big", "-"], { env: host.env(), cwd: work, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const pullPeak = peakOf(pull.pid);
    const received = new Bun.CryptoHasher("sha256");
    let length = 0;
    for await (const part of pull.stdout) {
      received.update(part);
      length += part.length;
    }
    expect([await pull.exited, length, received.digest("hex")]).toEqual([0, size, sent.digest("hex")]);
    // A copy that held the file would need over 1 GiB; the stand-in stays at its own few tens of MB.
    for (const peak of [pushPeak.stop(), pullPeak.stop()]) {
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThan(256 * 1024 * 1024);
    }
  });
});
