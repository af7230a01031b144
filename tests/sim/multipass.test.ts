/**
 * Tests of the simulated `multipass` (lib/sim/multipass): every test spawns
 * the real executable with an argv array in its own MULTIPASS_SIM_DIR and checks
 * stdout, stderr and the exit code against CONTRACT.md and tests/fixtures.
 */

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { REALISTIC_TIMING, resolveTiming } from "../../lib/sim/timing.ts";

const STAND_IN = join(import.meta.dir, "..", "..", "lib", "sim", "multipass");
const FIXTURES = join(import.meta.dir, "..", "fixtures");
const BIN = join(import.meta.dir, "..", "..", "node_modules", ".bin");
/** The spinner's clear-line sequence (ESC[2K ESC[0A ESC[0E) as a regular-expression source. */
const CL_RE = "\\x1b\\[2K\\x1b\\[0A\\x1b\\[0E";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let dir = "";

function env(extra: Record<string, string> = {}): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) base[key] = value;
  return { ...base, PATH: `${BIN}:${base.PATH ?? ""}`, MULTIPASS_SIM_DIR: dir, ...extra };
}

function spawnMp(args: readonly string[], stdin?: string): ReturnType<typeof Bun.spawn> {
  return Bun.spawn([STAND_IN, ...args], {
    env: env(),
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
}

async function mp(args: readonly string[], stdin?: string, extraEnv: Record<string, string> = {}): Promise<Result> {
  const child = Bun.spawn([STAND_IN, ...args], {
    env: env(extraEnv),
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}

function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), "utf8");
}

function configure(config: Record<string, unknown>): void {
  writeFileSync(join(dir, "config.json"), JSON.stringify({ stepMs: 10, ...config }));
}

function seed(state: Record<string, unknown>): void {
  writeFileSync(join(dir, "state.json"), JSON.stringify(state));
}

async function listed(): Promise<Array<{ name: string; state: string; ipv4: string[]; release: string }>> {
  const result = await mp(["list", "--format", "json"]);
  expect(result.code).toBe(0);
  return (JSON.parse(result.stdout) as { list: Array<{ name: string; state: string; ipv4: string[]; release: string }> })
    .list;
}

/** The fields of one `info --format json` instance that these tests look at. */
interface InfoItem {
  cpu_count: string;
  disks: { sda1: { total?: string; used?: string } };
  image_hash: string;
  ipv4: string[];
  load: number[];
  memory: { total?: number; used?: number };
  mounts: Record<string, { source_path: string }>;
  release: string;
}

async function infoOf(name: string): Promise<InfoItem> {
  const result = await mp(["info", name, "--format", "json"]);
  expect(result.code).toBe(0);
  const item = (JSON.parse(result.stdout) as { info: Record<string, InfoItem> }).info[name];
  if (item === undefined) throw new Error(`info has no "${name}"`);
  return item;
}

async function stateOf(name: string): Promise<string | undefined> {
  return (await listed()).find((item) => item.name === name)?.state;
}

/** Polls `check` until it holds; fails after `ms`. */
async function waitFor(check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await Bun.sleep(20);
  }
}

/** `pid cmdline` of the live processes of this test's simulated host (tagged MULTIPASS_SIM_DIR=dir), zombies aside. */
function hostProcesses(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/environ`, "latin1").includes(`MULTIPASS_SIM_DIR=${dir}\u0000`)) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "latin1").replaceAll("\u0000", " ").trim();
      if (cmd !== "") found.push(`${pid} ${cmd}`);
    } catch {
      // Gone while looking.
    }
  }
  return found;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** PATH of an SSH session on an Ubuntu guest. */
const GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games:/snap/bin";

const WEB = {
  name: "web",
  state: "Running",
  image: "24.04",
  imageRelease: "24.04 LTS",
  imageHash: "2b5f91a3c7d04e8f6a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f",
  cpus: 2,
  memory: 2014076928,
  ipv4: ["10.115.213.25", "192.168.1.50"],
  mounts: [
    { source: "/home/alice/project", target: "/home/ubuntu/project", uidMappings: ["1000:default"], gidMappings: ["1000:default"] },
  ],
  runtime: { load: [0.08, 0.03, 0], memoryUsed: 287965184, diskUsed: 2015903744, diskTotal: 5062496256, release: "Ubuntu 24.04.3 LTS" },
};
const DB = {
  name: "db",
  state: "Stopped",
  image: "22.04",
  imageHash: "9e4c7a1f3b5d2e8c0a6f4b2d9e7c5a3f1b8d6e4c2a0f9e7d5c3b1a8f6e4d2c0b",
  snapshots: 2,
};
const OLD_BOX = {
  name: "old-box",
  state: "Deleted",
  imageHash: "2b5f91a3c7d04e8f6a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f",
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "mp-sim-"));
  configure({});
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("JSON documents are byte-exact (1.16 layout)", () => {
  test("empty list and info", async () => {
    expect(await mp(["list", "--format", "json"])).toEqual({ code: 0, stdout: fixture("list_empty.json"), stderr: "" });
    expect(await mp(["info", "--format", "json"])).toEqual({ code: 0, stdout: fixture("info_empty.json"), stderr: "" });
  });

  test("list and info of running, stopped and deleted instances", async () => {
    seed({ instances: [WEB, DB, OLD_BOX] });
    expect((await mp(["list", "--format", "json"])).stdout).toBe(fixture("list_3_instances.v1.16.json"));
    expect((await mp(["ls", "--format=json"])).stdout).toBe(fixture("list_3_instances.v1.16.json"));
    expect((await mp(["info", "--format", "json"])).stdout).toBe(fixture("info_all.v1.16.json"));
    expect((await mp(["info", "web", "--format", "json"])).stdout).toBe(fixture("info_running.v1.16.json"));
    expect((await mp(["info", "--format", "json", "db"])).stdout).toBe(fixture("info_stopped.v1.16.json"));
    expect((await mp(["info", "old-box", "--format", "json"])).stdout).toBe(fixture("info_deleted.v1.16.json"));
  });

  test("upstream unit-test documents: relative mount targets, explicit maps", async () => {
    seed({
      instances: [
        {
          name: "foo",
          state: "Running",
          imageRelease: "16.04 LTS",
          imageHash: "1797c5c82016c1e65f4008fcf89deae3a044ef76087a9ec5b907c6d64a3609ac",
          cpus: 1,
          memory: 1503238554,
          ipv4: ["10.168.32.2", "200.3.123.29"],
          mounts: [
            { source: "/home/user/foo", target: "foo", uidMappings: ["1000:1000"], gidMappings: ["1000:1000"] },
            { source: "/home/user/test_dir", target: "test_dir", uidMappings: ["1000:1000"], gidMappings: ["1000:1000"] },
          ],
          runtime: { load: [0.45, 0.51, 0.15], memoryUsed: 60817408, diskUsed: 1288490188, diskTotal: 5153960756, release: "Ubuntu 16.04.3 LTS" },
        },
      ],
    });
    expect((await mp(["info", "--format", "json"])).stdout).toBe(fixture("ut.v1.16.3.single_instance_info_reply.json"));
  });

  test("version, and version with the daemon down", async () => {
    expect(await mp(["version", "--format", "json"])).toEqual({ code: 0, stdout: fixture("version.json"), stderr: "" });
    expect(await mp(["version"])).toEqual({ code: 0, stdout: "multipass   1.16.3\nmultipassd  1.16.3\n", stderr: "" });
    configure({ fault: "down" });
    expect(await mp(["version", "--format", "json"])).toEqual({
      code: 0,
      stdout: fixture("version_client_only.json"),
      stderr: "",
    });
    expect(await mp(["--version"])).toEqual({ code: 0, stdout: "multipass   1.16.3\n", stderr: "" });
  });

  test("running instances get plausible runtime figures without overrides", async () => {
    seed({ instances: [{ name: "plain", state: "Running", cpus: 3, memory: 2147483648, disk: 10737418240, ipv4: ["10.229.37.9"] }] });
    const info = await infoOf("plain");
    expect(info.cpu_count).toBe("3");
    expect(info.memory.total).toBe(2147483648);
    expect(info.memory.used).toBeGreaterThan(0);
    expect(info.memory.used).toBeLessThan(2147483648);
    expect(Number(info.disks.sda1.total)).toBeLessThan(10737418240);
    expect(Number(info.disks.sda1.total)).toBeGreaterThan(10737418240 * 0.9);
    expect(typeof info.disks.sda1.used).toBe("string");
    expect(info.load).toHaveLength(3);
    expect(info.release).toBe("Ubuntu 24.04.3 LTS");
    expect(info.ipv4).toEqual(["10.229.37.9"]);
  });
});

describe("tables", () => {
  test("list and info tables use the 1.16 widths, sorted by name", async () => {
    seed({ instances: [WEB, DB, OLD_BOX] });
    expect((await mp(["list"])).stdout).toBe(
      "Name                    State             IPv4             Image\n" +
        "db                      Stopped           --               Ubuntu 22.04 LTS\n" +
        "old-box                 Deleted           --               Ubuntu 24.04 LTS\n" +
        "web                     Running           10.115.213.25    Ubuntu 24.04 LTS\n" +
        "                                          192.168.1.50\n",
    );
    const web = await mp(["info", "web"]);
    expect(web.stdout).toBe(
      "Name:           web\nState:          Running\nSnapshots:      0\nIPv4:           10.115.213.25\n" +
        "                192.168.1.50\nRelease:        Ubuntu 24.04.3 LTS\n" +
        "Image hash:     2b5f91a3c7d0 (Ubuntu 24.04 LTS)\nCPU(s):         2\nLoad:           0.08 0.03 0.00\n" +
        "Disk usage:     1.9GiB out of 4.7GiB\nMemory usage:   274.6MiB out of 1.9GiB\n" +
        "Mounts:         /home/alice/project => /home/ubuntu/project\n" +
        "                    UID map: 1000:default\n                    GID map: 1000:default\n",
    );
    const all = await mp(["info"]);
    expect(all.stdout.split("\n\n").map((block) => block.split("\n")[0])).toEqual([
      "Name:           db",
      "Name:           old-box",
      "Name:           web",
    ]);
    expect(all.stdout).toContain("Name:           db\nState:          Stopped\nSnapshots:      2\nIPv4:           --\n");
  });

  test("empty tables and CSV", async () => {
    expect((await mp(["list"])).stdout).toBe("No instances found.\n");
    expect((await mp(["info"])).stdout).toBe("No instances found.\n");
    seed({ instances: [WEB, DB] });
    expect((await mp(["list", "--format", "csv"])).stdout).toBe(
      'Name,State,IPv4,IPv6,Release,AllIPv4\ndb,Stopped,,,Ubuntu 22.04 LTS,""\n' +
        'web,Running,10.115.213.25,,Ubuntu 24.04 LTS,"10.115.213.25,192.168.1.50"\n',
    );
  });
});

describe("launch", () => {
  test("launch makes a Running instance; progress is spinner noise on stdout", async () => {
    const result = await mp(["launch", "--name", "web", "-c", "2", "-m", "2G", "-d", "8G"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/Launched: web\n/);
    expect(result.stdout).toContain("\rRetrieving image: 100%");
    expect(result.stdout).toContain("\rVerifying image: 100%");
    const [item] = await listed();
    expect(item).toMatchObject({ name: "web", state: "Running", release: "Ubuntu 24.04 LTS" });
    expect(item?.ipv4[0]).toMatch(/^127\.\d+\.\d+\.\d+$/);
    const info = await infoOf("web");
    expect(info.cpu_count).toBe("2");
    expect(info.memory.total).toBe(2 * 1024 ** 3);
    expect(info.image_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  test("exact spinner bytes for a launch from the image cache", async () => {
    seed({ instances: [], imagesCached: ["release:22.04"] });
    const result = await mp(["launch", "jammy", "-n", "b"]);
    expect(result.code).toBe(0);
    const frames = "(?:\\x08[|/\\-\\\\])+";
    const phase = (message: string): string => `${CL_RE}${message}  ${frames}\\x08 ${CL_RE}`;
    const expected = new RegExp(
      "^" +
        ["Creating b", "Preparing image for b", "Configuring b", "Starting b"].map(phase).join("") +
        phase("Waiting for initialization to complete") +
        "Launched: b\\n" +
        CL_RE +
        "$",
    );
    expect(result.stdout).toMatch(expected);
    expect(result.stdout).not.toContain("Retrieving image");
    expect((await listed())[0]).toMatchObject({ name: "b", state: "Running", release: "Ubuntu 22.04 LTS" });
  });

  test("the instance shows Starting, then Running before launch returns", async () => {
    configure({ stepMs: 400 });
    const launch = spawnMp(["launch", "-n", "slow"]);
    let exited = false;
    void launch.exited.then(() => (exited = true));
    await waitFor(async () => (await stateOf("slow")) === "Starting", 10_000);
    await waitFor(async () => (await stateOf("slow")) === "Running", 10_000);
    expect(exited).toBe(false);
    expect(await launch.exited).toBe(0);
  });

  test("a random adjective-animal name when --name is omitted, default image 24.04", async () => {
    const result = await mp(["launch"]);
    expect(result.code).toBe(0);
    const name = /Launched: (\S+)/.exec(result.stdout)?.[1] ?? "";
    expect(name).toMatch(/^[a-z]+-[a-z]+$/);
    expect(await stateOf(name)).toBe("Running");
  });

  test("the primary instance gets the home mount", async () => {
    const result = await mp(["launch", "-n", "primary"]);
    expect(result.stdout).toMatch(new RegExp(`Launched: primary\\nMounted '${homedir()}' into 'primary:Home'\\n`));
    const info = await infoOf("primary");
    expect(info.mounts.Home?.source_path).toBe(homedir());
  });

  test("client-side errors exit 1 with the exact texts", async () => {
    const cases: Array<[string[], string]> = [
      [["launch", "-c", "0"], "Error: invalid CPU count '0', need a positive integer value.\n"],
      [["launch", "--cpus", "two"], "Error: invalid CPU count 'two', need a positive integer value.\n"],
      [["launch", "daily:foo:bar"], "Invalid remote and source image name supplied\n"],
      [["launch", "a", "b"], "Too many arguments supplied\n"],
      [["launch", "--timeout", "0"], "error: --timeout value has to be a positive integer\n"],
      [["launch", "--memory"], "Missing value after '--memory'.\n"],
      [["launch", "--bogus"], "Unknown option 'bogus'.\n"],
      [["launch", "-xy"], "Unknown options: x, y.\n"],
      [["launch", "--cloud-init", "/nonexistent/user-data.yaml"], "Could not load cloud-init configuration: bad file: /nonexistent/user-data.yaml\nPlease ensure that Multipass can read it.\n"],
      [["launch", "--mount", "/nonexistent/src:/x"], 'Mount source path "/nonexistent/src" does not exist\n'],
    ];
    for (const [args, stderr] of cases) expect(await mp(args)).toEqual({ code: 1, stdout: "", stderr });
    const size = await mp(["launch", "-m", "1.5"]);
    expect(size.code).toBe(1);
    expect(size.stdout).toBe("");
    expect(size.stderr).toMatch(
      /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\] \[error\] \[client\] Caught an unhandled exception: 1\.5 is not a valid memory size - need a non-negative integer \(in base 10\) or a decimal followed by K, M, or G \(e\.g\. 1234B, 42MiB, 0\.5G\)\n$/,
    );
    expect((await mp(["launch", "-d", "1T"])).stderr).toContain("1T is not a valid memory size");
    expect(await listed()).toEqual([]);
  });

  test("cloud-init files are checked for readability and YAML syntax", async () => {
    const good = join(dir, "good.yaml");
    writeFileSync(good, "#cloud-config\npackages:\n  - jq\n");
    expect((await mp(["launch", "-n", "ci", "--cloud-init", good])).code).toBe(0);
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "packages:\nthis is: fine\nbut this line is not\n");
    const result = await mp(["launch", "-n", "ci2", "--cloud-init", bad]);
    expect(result.code).toBe(1);
    expect(result.stderr).toStartWith("Could not load cloud-init configuration: ");
    expect((await mp(["launch", "-n", "ci3", "--cloud-init", "-"], "#cloud-config\nruncmd: []\n")).code).toBe(0);
  });

  test("daemon-side errors exit 2", async () => {
    seed({ instances: [WEB, OLD_BOX] });
    const failure = async (args: string[], stderr: string): Promise<void> => {
      const result = await mp(args);
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 2, stderr });
    };
    await failure(["launch", "-n", "1foo"], "launch failed: Invalid arguments supplied\nInvalid instance name supplied: 1foo\n");
    await failure(["launch", "-n", "ok", "-m", "100M"], "launch failed: Invalid arguments supplied\nInvalid memory size value supplied: 100M.\n");
    await failure(["launch", "-n", "ok", "-d", "300M"], "launch failed: Invalid arguments supplied\nInvalid disk size value supplied: 300M.\n");
    await failure(["launch", "-n", "foo-", "-m", "100M", "-d", "300M"], "launch failed: Invalid arguments supplied\nInvalid instance name supplied: foo-\n");
    await failure(["launch", "-n", "web"], 'launch failed: instance "web" already exists\n');
    await failure(["launch", "-n", "old-box"], 'launch failed: instance "old-box" already exists\n');
    await failure(["launch", "bogus", "-n", "x"], 'launch failed: Unable to find an image matching "bogus" in remote "".\n');
    expect((await mp(["launch", "-n", "tiny", "-m", "128M", "-d", "512M"])).code).toBe(0);
  });

  test("--timeout: the client gives up with exit 5, the daemon carries on", async () => {
    configure({ stepMs: 1500 });
    const result = await mp(["launch", "-n", "late", "--timeout", "1"]);
    expect(result.code).toBe(5);
    expect(result.stderr).toBe("Timed out waiting for instance launch.\n");
    expect(await stateOf("late")).toBe("Running");
  });
});

describe("lifecycle", () => {
  test("stop, start, suspend, restart, delete, recover, purge", async () => {
    seed({ instances: [{ ...WEB, mounts: [] }] });
    const ok = async (args: string[]): Promise<Result> => {
      const result = await mp(args);
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 0, stderr: "" });
      return result;
    };
    expect((await ok(["stop", "web"])).stdout).toMatch(new RegExp(`^${CL_RE}Stopping web  `));
    expect(await listed()).toEqual([{ name: "web", state: "Stopped", ipv4: [], release: "Ubuntu 24.04 LTS" }]);
    await ok(["stop", "web"]);
    expect((await ok(["start", "web"])).stdout).toContain("Starting web  ");
    expect(await stateOf("web")).toBe("Running");
    await ok(["start", "web"]);
    await ok(["suspend", "web"]);
    expect(await stateOf("web")).toBe("Suspended");
    await ok(["suspend", "web"]);
    const stopSuspended = await mp(["stop", "web"]);
    expect([stopSuspended.code, stopSuspended.stderr]).toEqual([
      2,
      "stop failed: Cannot shut down suspended instance web.\nUse --force to power it off.\n",
    ]);
    const restartIdle = await mp(["restart", "web"]);
    expect([restartIdle.code, restartIdle.stderr]).toEqual([
      2,
      "restart failed: Instance 'web' is already running, but in an unknown state.\nTry to stop and start it instead.\n",
    ]);
    await ok(["stop", "--force", "web"]);
    expect(await stateOf("web")).toBe("Stopped");
    await ok(["start"].concat("web"));
    expect((await ok(["restart", "web"])).stdout).toContain("Restarting web  ");
    expect(await stateOf("web")).toBe("Running");
    expect((await ok(["delete", "web"])).stdout).toBe("");
    expect(await listed()).toEqual([{ name: "web", state: "Deleted", ipv4: [], release: "Ubuntu 24.04 LTS" }]);
    await ok(["delete", "web"]);
    await ok(["recover", "web"]);
    expect(await stateOf("web")).toBe("Stopped");
    await ok(["recover", "web"]);
    await ok(["delete", "web"]);
    await ok(["purge"]);
    expect(await listed()).toEqual([]);
  });

  test("delete --purge, --all, and deleted instances keep a suspended state", async () => {
    seed({ instances: [{ name: "a", state: "Suspended" }, { name: "b", state: "Running" }, { name: "c", state: "Stopped" }] });
    expect((await mp(["delete", "--all"])).code).toBe(0);
    expect((await listed()).map((i) => i.state)).toEqual(["Deleted", "Deleted", "Deleted"]);
    expect((await mp(["recover", "--all"])).code).toBe(0);
    expect((await listed()).map((i) => [i.name, i.state])).toEqual([["a", "Suspended"], ["b", "Stopped"], ["c", "Stopped"]]);
    expect((await mp(["delete", "--purge", "a", "c"])).code).toBe(0);
    expect((await listed()).map((i) => i.name)).toEqual(["b"]);
  });

  test("stop --time delays the shutdown; --cancel cancels it; due shutdowns happen", async () => {
    seed({ instances: [{ name: "w", state: "Running", ipv4: ["10.229.37.5"] }] });
    expect((await mp(["stop", "w", "--time", "+5"])).code).toBe(0);
    expect(await stateOf("w")).toBe("Delayed Shutdown");
    expect((await listed())[0]?.ipv4).toEqual(["10.229.37.5"]);
    expect((await mp(["stop", "w", "-c"])).code).toBe(0);
    expect(await stateOf("w")).toBe("Running");
    seed({ instances: [{ name: "w", state: "Delayed Shutdown", shutdownAt: Date.now() - 1 }] });
    expect(await stateOf("w")).toBe("Stopped");
    expect((await mp(["stop", "w", "--time", "x"])).stderr).toBe("Time must be in digit form\n");
    expect((await mp(["stop", "w", "--time", "1", "--cancel"])).stderr).toBe(
      "Cannot set 'time' and 'cancel' options at the same time\n",
    );
    expect((await mp(["stop", "w", "--force", "--cancel"])).stderr).toBe(
      "Cannot set 'force' along with 'time' or 'cancel' options at the same time\n",
    );
  });

  test("missing and deleted names", async () => {
    seed({ instances: [WEB, OLD_BOX] });
    const check = async (args: string[], stderr: string, code = 2): Promise<void> => {
      const result = await mp(args);
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code, stderr });
    };
    const errs = 'The following errors occurred:\ninstance "nope" does not exist\ninstance "old-box" is deleted\n';
    await check(["stop", "nope", "old-box"], `stop failed: ${errs}`);
    await check(["restart", "nope", "old-box"], `restart failed: ${errs}`);
    await check(["suspend", "nope", "old-box"], `suspend failed: ${errs}`);
    await check(
      ["start", "nope", "old-box"],
      "start failed: instance(s) missing\nInstance 'nope' does not exist.\n" +
        "Instance 'old-box' is deleted. Use 'recover' to recover it or 'purge' to permanently delete it.\n\n",
    );
    await check(["info", "nope", "web", "zz"], 'info failed: The following errors occurred:\ninstance "nope" does not exist\ninstance "zz" does not exist\n');
    expect((await mp(["info", "nope"])).stdout).toBe("");
    await check(["delete", "nope"], 'delete failed: The following errors occurred:\ninstance "nope" does not exist\n');
    await check(["recover", "nope"], 'recover failed: The following errors occurred:\ninstance "nope" does not exist\n');
    await check(["delete"], "Name argument or --all is required\n", 1);
    await check(["recover"], "Name argument or --all is required\n", 1);
    await check(["start", "web", "--all"], "Cannot specify name when --all option set\n", 1);
    await check(["stop", "a", "b", "--all"], "Cannot specify names when --all option set\n", 1);
    await check(["purge", "x"], "This command takes no arguments\n", 1);
    expect(await stateOf("web")).toBe("Running");
  });

  test("start with no name launches a missing primary instance", async () => {
    const result = await mp(["start"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Starting primary  ");
    expect(result.stdout).toContain("Launched: primary\n");
    expect(await stateOf("primary")).toBe("Running");
    expect((await mp(["stop"])).code).toBe(0);
    expect(await stateOf("primary")).toBe("Stopped");
  });
});

describe("exec", () => {
  beforeEach(() => seed({ instances: [{ name: "web", state: "Running", ipv4: ["10.229.37.2"] }] }));

  test("exit codes pass through; stdout and stderr stay separate", async () => {
    for (const status of [0, 1, 3, 42]) {
      const result = await mp(["exec", "web", "--", "sh", "-c", `echo out; echo err >&2; exit ${status}`]);
      expect(result).toEqual({ code: status, stdout: "out\n", stderr: "err\n" });
    }
    const missing = await mp(["exec", "web", "--", "no-such-command-xyz"]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain("no-such-command-xyz");
    expect((await mp(["exec", "web", "--", "sh", "-c", "kill -9 $$"])).code).toBe(255);
  });

  test("argv is preserved exactly; runs in the instance home as ubuntu", async () => {
    const args = ["a b", "$HOME", "it's", 'say "hi"', "", "back\\slash", "*", "x;y", "multi\nline", "é"];
    const result = await mp(["exec", "web", "--", "printf", "[%s]\\n", ...args]);
    expect(result.stdout).toBe(args.map((arg) => `[${arg}]\n`).join(""));
    const home = join(dir, "instances", "web", "home");
    const where = await mp(["exec", "web", "--", "bash", "-c", 'echo "$HOME|$USER|$(pwd)"']);
    expect(where.stdout).toBe(`${home}|ubuntu|${home}\n`);
    mkdirSync(join(home, "sub"));
    expect((await mp(["exec", "web", "-d", "/home/ubuntu/sub", "--", "pwd"])).stdout).toBe(`${join(home, "sub")}\n`);
  });

  test("stdin is piped to the command", async () => {
    expect(await mp(["exec", "web", "--", "tr", "a-z", "A-Z"], "hello\n")).toEqual({ code: 0, stdout: "HELLO\n", stderr: "" });
  });

  test("exit 4 re-runs the whole exec (1.16 bug), logging each run", async () => {
    const counter = join(dir, "counter");
    const script = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; echo run$n; [ $n -ge 3 ] || exit 4`;
    const result = await mp(["exec", "web", "--", "bash", "-c", script]);
    expect(result).toEqual({ code: 0, stdout: "run1\nrun2\nrun3\n", stderr: "" });
    expect(readFileSync(counter, "utf8")).toBe("3\n");
    const runs = readFileSync(join(dir, "calls.log"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { argv: string[] })
      .filter((entry) => entry.argv[0] === "exec");
    expect(runs).toHaveLength(3);
    expect(runs.every((entry) => entry.argv.at(-1) === script)).toBe(true);
  });

  test("errors: missing (twice without -d/-n), deleted, inner options, argument counts", async () => {
    seed({ instances: [{ name: "gone", state: "Deleted" }] });
    const missing = 'exec failed: The following errors occurred:\ninstance "nope" does not exist\n';
    expect(await mp(["exec", "nope", "--", "true"])).toEqual({ code: 2, stdout: "", stderr: missing + missing });
    expect(await mp(["exec", "-n", "nope", "--", "true"])).toEqual({ code: 2, stdout: "", stderr: missing });
    expect(await mp(["exec", "nope", "-d", "/tmp", "--", "true"])).toEqual({ code: 2, stdout: "", stderr: missing });
    expect((await mp(["exec", "gone", "--", "true"])).stderr).toBe(
      'exec failed: The following errors occurred:\ninstance "gone" is deleted\n',
    );
    expect(await mp(["exec", "web", "ls", "-la"])).toEqual({
      code: 1,
      stdout: "",
      stderr:
        'Unknown options: l, a.\n\nOptions to the inner command should come after "--", like this:\nmultipass exec <instance> -- <command>\n',
    });
    expect((await mp(["exec", "web"])).stderr).toBe("Wrong number of arguments\n");
    expect((await mp(["exec", "web", "-d", "/x", "-n", "--", "true"])).stderr).toBe(
      "Options --working-directory and --no-map-working-directory clash\n",
    );
  });

  test("a stopped instance is started first, with the start spinner on stdout", async () => {
    seed({ instances: [{ name: "web", state: "Stopped" }] });
    const result = await mp(["exec", "web", "--", "echo", "hi"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^${CL_RE}Starting web  .*hi\\n$`, "s"));
    expect(await stateOf("web")).toBe("Running");
  });

  test("SIGTERM to the stand-in hangs up the command; no process is left behind", async () => {
    const pidFile = join(dir, "pid");
    const child = spawnMp(["exec", "web", "--", "bash", "-c", `echo $$ > ${pidFile}; sleep 30; echo never`]);
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").endsWith("\n"));
    const pid = Number(readFileSync(pidFile, "utf8"));
    child.kill("SIGTERM");
    await child.exited;
    expect(child.signalCode).toBe("SIGTERM");
    await waitFor(() => !isAlive(pid), 3000);
  });

  test("the command gets a guest's environment, none of the caller's", async () => {
    const leaky = { LEAKY_SECRET: "from-the-worker", TERM: "xterm-256color" };
    const home = join(dir, "instances", "web", "home");
    for (const [args, stdin] of [[["exec", "web", "--", "env"], undefined], [["shell", "web"], "env\n"]] as const) {
      const result = await mp(args, stdin, leaky);
      expect(result.code).toBe(0);
      const vars = Object.fromEntries(result.stdout.trim().split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
      expect(vars).toMatchObject({ HOME: home, USER: "ubuntu", LOGNAME: "ubuntu", SHELL: "/bin/bash", PWD: home, PATH: GUEST_PATH });
      // No PTY, no TERM; bash adds SHLVL and `_` itself; MULTIPASS_SIM_DIR tags the host's processes.
      const allowed = ["HOME", "USER", "LOGNAME", "SHELL", "PWD", "PATH", "LANG", "MULTIPASS_SIM_DIR", "SHLVL", "_"];
      expect(Object.keys(vars).filter((key) => !allowed.includes(key))).toEqual([]);
    }
  });

  test("SIGKILL of the stand-in still ends the command (parent-death signal)", async () => {
    const pidFile = join(dir, "pid");
    const child = spawnMp(["exec", "web", "--", "bash", "-c", `echo $$ > ${pidFile}; exec sleep 30`]);
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").endsWith("\n"));
    const pid = Number(readFileSync(pidFile, "utf8"));
    child.kill("SIGKILL");
    await child.exited;
    await waitFor(() => !isAlive(pid), 3000);
  });

  test("SIGKILL of the stand-in ends the command's whole group, grandchildren too, and its guard leaves with them", async () => {
    const pidFile = join(dir, "pid");
    const child = spawnMp(["exec", "web", "--", "bash", "-c", `sleep 30 & echo $! > ${pidFile}; wait`]);
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").endsWith("\n"));
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    child.kill("SIGKILL");
    await child.exited;
    await waitFor(() => !isAlive(grandchild), 3000);
    await waitFor(() => hostProcesses().length === 0, 3000);
  });

  test("a command that ends by itself leaves nothing of the stand-in's behind", async () => {
    expect((await mp(["exec", "web", "--", "true"])).code).toBe(0);
    expect(hostProcesses()).toEqual([]);
  });
});

describe("shell", () => {
  test("without a TTY it runs the script from stdin and always exits 0 (1.16)", async () => {
    seed({ instances: [{ name: "web", state: "Running" }] });
    const result = await mp(["shell", "web"], 'echo "in $(basename $(dirname $HOME))"\nexit 3\n');
    expect(result).toEqual({ code: 0, stdout: "in web\n", stderr: "" });
    expect((await mp(["sh", "web"], "exit 1\n")).code).toBe(0);
  });

  test("a missing primary is launched; other missing names are errors", async () => {
    const result = await mp(["shell"], "echo inside\n");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Launched: primary\n");
    expect(result.stdout).toEndWith("inside\n");
    expect(await mp(["connect", "nope"], "")).toEqual({
      code: 2,
      stdout: "",
      stderr: 'shell failed: The following errors occurred:\ninstance "nope" does not exist\n',
    });
    expect((await mp(["shell", "a", "b"])).stderr).toBe("Too many arguments given\n");
  });
});

/** A stand-in run on a pseudo-terminal, as a user at a keyboard would run it. */
function onTerminal(
  args: readonly string[],
  extraEnv: Record<string, string> = {},
): {
  send(text: string): void;
  waitFor(text: string, from?: number): Promise<void>;
  mark(): number;
  exited: Promise<number>;
} {
  let screen = "";
  const decoder = new TextDecoder();
  const child = Bun.spawn([STAND_IN, ...args], {
    env: env(extraEnv),
    terminal: { cols: 100, rows: 30, data: (_terminal, data) => (screen += decoder.decode(data)) },
  });
  return {
    send: (text) => child.terminal?.write(text),
    waitFor: (text, from = 0) => waitFor(() => screen.slice(from).includes(text)),
    mark: () => screen.length,
    exited: child.exited,
  };
}

describe("on a terminal", () => {
  beforeEach(() => seed({ instances: [{ name: "web", state: "Running" }] }));

  test("shell is interactive; Ctrl-C interrupts the foreground job, not the session", async () => {
    const session = onTerminal(["shell", "web"]);
    await session.waitFor("ubuntu@web:~$ ");
    session.send("echo hi-$((40+2)); sleep 30\n");
    await session.waitFor("hi-42");
    const before = session.mark();
    session.send("\x03");
    await session.waitFor("ubuntu@web:~$ ", before);
    session.send("sleep 30 &\njobs\n");
    await session.waitFor("Running");
    session.send("kill %1; exit 3\n");
    expect(await session.exited).toBe(0);
  });

  test("exec on a terminal gets the caller's TERM and nothing else of its environment", async () => {
    const session = onTerminal(["exec", "web", "--", "bash", "-c", 'echo "term=$TERM secret=${LEAKY_SECRET:-none}."'], {
      TERM: "xterm-256color",
      LEAKY_SECRET: "from-the-worker",
    });
    await session.waitFor("term=xterm-256color secret=none.");
    expect(await session.exited).toBe(0);
  });

  test("exec: Ctrl-C reaches the command, which dies of it (255)", async () => {
    const session = onTerminal(["exec", "web", "--", "bash", "-c", "echo ready; exec sleep 30"]);
    await session.waitFor("ready");
    session.send("\x03");
    expect(await session.exited).toBe(255);
  });
});

describe("mounts", () => {
  test("a --mount source is visible at its target; purging leaves the source alone", async () => {
    const source = join(dir, "project");
    mkdirSync(source);
    writeFileSync(join(source, "README"), "hello from the host\n");
    const launch = await mp(["launch", "-n", "dev", "--mount", `${source}:/home/ubuntu/project`]);
    expect(launch.stdout).toContain(`Launched: dev\nMounted '${source}' into 'dev:/home/ubuntu/project'\n`);
    expect((await mp(["exec", "dev", "--", "cat", "project/README"])).stdout).toBe("hello from the host\n");
    const info = await infoOf("dev");
    expect(info.mounts["/home/ubuntu/project"]?.source_path).toBe(source);
    expect((await mp(["delete", "--purge", "dev"])).code).toBe(0);
    expect(existsSync(join(dir, "instances", "dev"))).toBe(false);
    expect(readFileSync(join(source, "README"), "utf8")).toBe("hello from the host\n");
  });
});

describe("get", () => {
  test("instance and client settings", async () => {
    seed({ instances: [{ name: "web", cpus: 2, memory: 536870912, disk: 5368709120 }] });
    expect((await mp(["get", "local.web.cpus"])).stdout).toBe("2\n");
    expect((await mp(["get", "local.web.memory"])).stdout).toBe("512.0MiB\n");
    expect((await mp(["get", "local.web.disk"])).stdout).toBe("5.0GiB\n");
    expect((await mp(["get", "client.primary-name"])).stdout).toBe("primary\n");
    expect((await mp(["get", "local.bridged-network"])).stdout).toBe("<empty>\n");
    expect((await mp(["get", "--raw", "local.bridged-network"])).stdout).toBe("\n");
    expect(await mp(["get", "local.nope.cpus"])).toEqual({
      code: 2,
      stdout: "",
      stderr: "get failed: Cannot obtain instance settings; instance: nope; reason: No such instance\n",
    });
    expect(await mp(["get", "foo.bar"])).toEqual({ code: 1, stdout: "", stderr: "Unrecognized settings key: 'foo.bar'\n" });
    expect((await mp(["get", "a", "b"])).stderr).toBe("Need at most one setting key.\n");
  });
});

describe("command line", () => {
  test("help, no command, unknown command and formats", async () => {
    const help = await mp(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toStartWith("Usage: multipass [options] <command>\n");
    const bare = await mp([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe(help.stdout);
    expect((await mp(["help"])).stdout).toBe(help.stdout);
    const launchHelp = await mp(["launch", "--help"]);
    expect(launchHelp.code).toBe(0);
    expect(launchHelp.stdout).toStartWith("Usage: multipass launch [options]");
    expect(await mp(["frobnicate"])).toEqual({
      code: 1,
      stdout: `Error: Unknown command or alias 'frobnicate' (try "multipass help" or "multipass aliases")\n`,
      stderr: "",
    });
    expect(await mp(["list", "--format", "xml"])).toEqual({ code: 1, stdout: "", stderr: "Invalid format type given.\n" });
    expect(await mp(["list", "extra"])).toEqual({ code: 1, stdout: "", stderr: "This command takes no arguments\n" });
    expect(await mp(["stop", "--force=yes"])).toEqual({ code: 1, stdout: "", stderr: "Unexpected value after '--force'.\n" });
  });

  test("the call log records every argv", async () => {
    await mp(["list"]);
    await mp(["exec", "nope", "--", "echo", "a b"]);
    const lines = readFileSync(join(dir, "calls.log"), "utf8").trim().split("\n");
    const entries = lines.map((line) => JSON.parse(line) as { time: string; pid: number; argv: string[] });
    expect(entries.map((entry) => entry.argv)).toEqual([["list"], ["exec", "nope", "--", "echo", "a b"]]);
    expect(entries.every((entry) => !Number.isNaN(Date.parse(entry.time)) && entry.pid > 0)).toBe(true);
  });
});

describe("faults", () => {
  test("down: every daemon command fails like an unreachable socket", async () => {
    configure({ fault: "down" });
    const socket = (command: string): string => `${command} failed: cannot connect to the multipass socket\n`;
    expect(await mp(["list", "--format", "json"])).toEqual({ code: 2, stdout: "", stderr: socket("list") });
    expect(await mp(["info"])).toEqual({ code: 2, stdout: "", stderr: socket("info") });
    for (const command of ["launch", "start", "stop", "delete", "recover"]) {
      const args = command === "delete" || command === "recover" ? [command, "x"] : [command];
      const result = await mp(args);
      expect([command, result.code, result.stderr]).toEqual([command, 2, socket(command)]);
    }
    expect((await mp(["exec", "x", "--", "true"])).stderr).toBe(socket("exec") + socket("exec"));
    expect((await mp(["launch", "-c", "0"])).code).toBe(1);
  });

  test("hang: commands never finish, except version", async () => {
    configure({ fault: "hang" });
    const child = spawnMp(["list", "--format", "json"]);
    const outcome = await Promise.race([child.exited, Bun.sleep(700).then(() => "still running")]);
    expect(outcome).toBe("still running");
    child.kill("SIGKILL");
    await child.exited;
    expect((await mp(["version", "--format", "json"])).stdout).toBe(fixture("version.json"));
  });

  test("garbage: JSON output is not JSON, exit 0; tables stay normal", async () => {
    seed({ instances: [DB] });
    configure({ fault: "garbage" });
    const result = await mp(["list", "--format", "json"]);
    expect(result.code).toBe(0);
    expect(() => JSON.parse(result.stdout)).toThrow();
    const info = await mp(["info", "--format", "json"]);
    expect(() => JSON.parse(info.stdout)).toThrow();
    expect((await mp(["list"])).stdout).toContain("db                      Stopped");
  });
});

describe("concurrency", () => {
  test("20 concurrent launches of distinct names all succeed", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `vm${i}`);
    const results = await Promise.all(names.map((name) => mp(["launch", "-n", name])));
    expect(results.map((r) => [r.code, r.stderr])).toEqual(names.map(() => [0, ""]));
    const list = await listed();
    expect(list.map((item) => item.name).sort()).toEqual([...names].sort());
    expect(list.every((item) => item.state === "Running")).toBe(true);
    expect(new Set(list.map((item) => item.ipv4[0])).size).toBe(20);
  });

  test("two concurrent launches of one name: one wins, one is refused", async () => {
    const results = await Promise.all([mp(["launch", "-n", "twin"]), mp(["launch", "-n", "twin"])]);
    expect(results.map((r) => r.code).sort()).toEqual([0, 2]);
    const loser = results.find((r) => r.code === 2);
    expect(loser?.stderr).toMatch(/^launch failed: instance "twin" (already exists|is being prepared)\n$/);
    expect((await listed()).map((item) => item.name)).toEqual(["twin"]);
  });

  test("a lock left by a dead process is broken", async () => {
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    writeFileSync(join(dir, "state.lock"), String(dead.pid));
    expect((await mp(["launch", "-n", "after-crash"])).code).toBe(0);
    expect(existsSync(join(dir, "state.lock"))).toBe(false);
  });
});

/** The lines of ssh.log: one per SSH-backed lookup. */
function sshLookups(): Array<{ command: string; instance: string }> {
  const path = join(dir, "ssh.log");
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { command: string; instance: string })
    .map(({ command, instance }) => ({ command, instance }));
}

describe("timing profiles", () => {
  test("a launch shows every phase in order: Retrieving moves, Verifying and the silent phases only spin", async () => {
    configure({
      timing: {
        creating: 100,
        retrievingImage: 600,
        verifyingImage: 250,
        preparingImage: 100,
        configuring: 100,
        starting: 250,
        waitingForInitialization: 250,
      },
    });
    const started = Date.now();
    const result = await mp(["launch", "-n", "web"]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1650);
    expect(result.code).toBe(0);
    const percents = [...result.stdout.matchAll(/\rRetrieving image: (\d+)%/g)].map((match) => Number(match[1]));
    expect(percents.length).toBeGreaterThanOrEqual(5);
    expect(percents.every((percent, i) => i === 0 || percent > (percents[i - 1] ?? 0))).toBe(true);
    expect(percents.at(-1)).toBe(100);
    const frames = (least: number): string => `(?:\\x08[|/\\-\\\\]){${least},}`;
    const phase = (message: string, least = 1): string => `${CL_RE}${message}  ${frames(least)}\\x08 ${CL_RE}`;
    const expected = new RegExp(
      "^" +
        phase("Creating web") +
        `(?:${CL_RE}\\rRetrieving image: \\d+%)+` +
        phase("Verifying image: ", 2) +
        phase("Preparing image for web") +
        phase("Configuring web") +
        phase("Starting web", 2) +
        phase("Waiting for initialization to complete", 2) +
        "Launched: web\\n" +
        CL_RE +
        "$",
    );
    expect(result.stdout).toMatch(expected);
  });

  test("the realistic preset, partial profiles over stepMs, and what is ignored", () => {
    expect(REALISTIC_TIMING).toEqual({
      creating: 3000,
      retrievingImage: 20_000,
      verifyingImage: 5000,
      preparingImage: 3000,
      configuring: 3000,
      starting: 20_000,
      waitingForInitialization: 30_000,
      start: 15_000,
      stop: 10_000,
      restart: 25_000,
      suspend: 8000,
      delete: 8000,
      listPerRunningVm: 300,
      infoPerRunningVm: 1500,
    });
    expect(resolveTiming("realistic", 10)).toEqual({ timing: REALISTIC_TIMING, profiled: true });
    const partial = resolveTiming({ stop: 500, creating: -1, bogus: 7 }, 10);
    expect(partial.profiled).toBe(true);
    expect(partial.timing).toMatchObject({ stop: 500, creating: 10, start: 10, delete: 0, listPerRunningVm: 0, infoPerRunningVm: 0 });
    expect(resolveTiming({ preset: "realistic", stop: 500 }, 10).timing).toEqual({ ...REALISTIC_TIMING, stop: 500 });
    expect(resolveTiming(undefined, 150)).toMatchObject({ profiled: false, timing: { creating: 150, delete: 0 } });
    expect(resolveTiming("glacial", 150).profiled).toBe(false);
  });

  test('"timing": "realistic" in config.json: a list pays 300 ms per running instance', async () => {
    configure({ timing: "realistic" });
    seed({ instances: [WEB, DB] });
    const started = Date.now();
    expect((await mp(["list", "--format", "json"])).code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(sshLookups()).toEqual([{ command: "list", instance: "web" }]);
  });
});

describe("the daemon serialises", () => {
  const A = { name: "a", state: "Running", ipv4: ["10.229.37.2"] };
  const B = { name: "b", state: "Running", ipv4: ["10.229.37.3"] };

  test("list, info, get and version started during a stop answer only after it", async () => {
    seed({ instances: [A, B] });
    configure({ timing: { stop: 1500 } });
    const stopStarted = Date.now();
    const stop = spawnMp(["stop", "a"]);
    const busy = join(dir, "daemon.busy");
    await waitFor(() => existsSync(busy));
    expect(JSON.parse(readFileSync(busy, "utf8"))).toMatchObject({ pid: stop.pid, command: "stop" });
    const queued = ["list", "info", "get", "version"].map(async (command) => {
      const args = command === "get" ? ["get", "local.a.cpus"] : command === "version" ? ["version"] : [command, "--format", "json"];
      const result = await mp(args);
      return { command, result, doneAfter: Date.now() - stopStarted };
    });
    const answers = await Promise.all(queued);
    expect(await stop.exited).toBe(0);
    for (const { command, result, doneAfter } of answers) {
      expect([command, result.code, result.stderr]).toEqual([command, 0, ""]);
      expect([command, doneAfter >= 1500]).toEqual([command, true]);
    }
    // They answered with the state the stop left behind, not the one they arrived in.
    const list = JSON.parse(answers[0]?.result.stdout ?? "") as { list: Array<{ name: string; state: string }> };
    expect(list.list.map((item) => [item.name, item.state])).toEqual([["a", "Stopped"], ["b", "Running"]]);
    const info = JSON.parse(answers[1]?.result.stdout ?? "") as { info: Record<string, { state: string }> };
    expect(info.info.a?.state).toBe("Stopped");
    expect(existsSync(busy)).toBe(false);
  });

  test("two stops run one after the other, and stop --all stops one instance after another", async () => {
    seed({ instances: [A, B] });
    configure({ timing: { stop: 300, start: 10 } });
    let started = Date.now();
    const both = await Promise.all([mp(["stop", "a"]), mp(["stop", "b"])]);
    expect(both.map((result) => result.code)).toEqual([0, 0]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect((await mp(["start", "--all"])).code).toBe(0);
    started = Date.now();
    expect((await mp(["stop", "--all"])).code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect((await listed()).map((item) => item.state)).toEqual(["Stopped", "Stopped"]);
  });

  test("delete of a running instance takes its time and list waits for it", async () => {
    seed({ instances: [A, { name: "idle", state: "Stopped" }] });
    configure({ timing: { delete: 800 } });
    const started = Date.now();
    const remove = spawnMp(["delete", "a", "idle"]);
    await waitFor(() => existsSync(join(dir, "daemon.busy")));
    const list = await listed();
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    expect(list.map((item) => [item.name, item.state])).toEqual([["a", "Deleted"], ["idle", "Deleted"]]);
    expect(await remove.exited).toBe(0);
  });

  test("a marker left by a dead process, or long past its end, does not hold anyone up", async () => {
    seed({ instances: [A] });
    configure({ timing: { stop: 10 } });
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    const busy = join(dir, "daemon.busy");
    writeFileSync(busy, JSON.stringify({ pid: dead.pid, command: "stop", until: Date.now() + 60_000 }));
    const started = Date.now();
    expect((await mp(["list"])).code).toBe(0);
    writeFileSync(busy, JSON.stringify({ pid: process.pid, command: "stop", until: Date.now() - 60_000 }));
    expect((await mp(["version"])).code).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect((await mp(["stop", "a"])).code).toBe(0);
    expect(existsSync(busy)).toBe(false);
  });
});

describe("SSH lookups", () => {
  test("--no-ipv4 lists no addresses and looks nothing up; list and info log one lookup per running instance", async () => {
    seed({ instances: [WEB, DB] });
    const json = await mp(["list", "--no-ipv4", "--format", "json"]);
    expect(json.code).toBe(0);
    expect(json.stdout).toContain('"ipv4": [\n            ],\n            "name": "web"');
    expect((JSON.parse(json.stdout) as { list: Array<{ ipv4: string[] }> }).list.map((item) => item.ipv4)).toEqual([[], []]);
    expect((await mp(["list", "--no-ipv4"])).stdout).toBe(
      "Name                    State             IPv4             Image\n" +
        "db                      Stopped           --               Ubuntu 22.04 LTS\n" +
        "web                     Running           --               Ubuntu 24.04 LTS\n",
    );
    expect(await mp(["list", "--no-ipv4", "--snapshots"])).toEqual({
      code: 1,
      stdout: "",
      stderr: "IP addresses are not applicable in conjunction with listing snapshots\n",
    });
    expect(sshLookups()).toEqual([]);
    expect((await mp(["list"])).stdout).toContain("web                     Running           10.115.213.25");
    expect(sshLookups()).toEqual([{ command: "list", instance: "web" }]);
    await mp(["info", "--format", "json"]);
    await mp(["info", "--no-runtime-information"]);
    await mp(["info", "db"]);
    expect(sshLookups()).toEqual([
      { command: "list", instance: "web" },
      { command: "info", instance: "web" },
    ]);
  });

  test("info pays its per-instance cost", async () => {
    seed({ instances: [WEB, { ...WEB, name: "web2" }, DB] });
    configure({ timing: { infoPerRunningVm: 300 } });
    const started = Date.now();
    expect((await mp(["info"])).code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(sshLookups().map((lookup) => lookup.instance)).toEqual(["web", "web2"]);
  });
});
