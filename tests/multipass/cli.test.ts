import { afterAll, describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "../../lib/core/errors.ts";
import { DAEMON_BOUND_MS } from "../../lib/core/timers.ts";
import { buildArgv, createMultipassCli, DEFAULT_TIMEOUTS_MS, type Runner } from "../../lib/multipass/cli.ts";
import { classifyFailure, commandOf, summarizeStderr } from "../../lib/multipass/failure.ts";
import { MAX_OUTPUT_BYTES, runProcess, type RunOptions, type RunResult } from "../../lib/multipass/run.ts";
import { type LaunchProgress } from "../../lib/protocol/instances.ts";
import { LOGIN_SHELL, MultipassError, type ExecRequest, type MultipassErrorKind } from "../../lib/multipass/driver.ts";
import type { ExecSpawner, ExecSpawnOptions } from "../../lib/multipass/exec.ts";
import { wrapCommand, wrapLoginShell } from "../../lib/multipass/exec-status.ts";

const fixture = (name: string): string => readFileSync(join(import.meta.dir, "..", "fixtures", name), "utf8");
const MP = "/snap/bin/multipass";

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

async function multipassError(promise: Promise<unknown>, kind: MultipassErrorKind): Promise<MultipassError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(MultipassError);
  if (!(error instanceof MultipassError)) throw error;
  expect(error.kind).toBe(kind);
  return error;
}

describe("buildArgv", () => {
  test.each([
    ["list", buildArgv.list(), ["list", "--format", "json"]],
    ["list with addresses", buildArgv.list({ noIpv4: false }), ["list", "--format", "json"]],
    ["list without addresses (no SSH)", buildArgv.list({ noIpv4: true }), ["list", "--no-ipv4", "--format", "json"]],
    ["info of all", buildArgv.info(), ["info", "--format", "json"]],
    ["info of two", buildArgv.info(["web", "db"]), ["info", "--format", "json", "--", "web", "db"]],
    ["version", buildArgv.version(), ["version", "--format", "json"]],
    ["get", buildArgv.get("local.driver"), ["get", "local.driver", "--raw"]],
    ["get an instance key", buildArgv.get("local.web-1.cpus"), ["get", "local.web-1.cpus", "--raw"]],
    ["start", buildArgv.start(["web"]), ["start", "--", "web"]],
    ["start two", buildArgv.start(["web", "db"]), ["start", "--", "web", "db"]],
    ["stop", buildArgv.stop(["web"]), ["stop", "--", "web"]],
    ["stop --force", buildArgv.stop(["web"], { force: true }), ["stop", "--force", "--", "web"]],
    ["stop force false", buildArgv.stop(["web"], { force: false }), ["stop", "--", "web"]],
    ["restart", buildArgv.restart(["web"]), ["restart", "--", "web"]],
    ["suspend", buildArgv.suspend(["a", "b"]), ["suspend", "--", "a", "b"]],
    ["delete", buildArgv.delete(["web"]), ["delete", "--", "web"]],
    ["delete --purge", buildArgv.delete(["web"], { purge: true }), ["delete", "--purge", "--", "web"]],
    ["recover", buildArgv.recover(["web"]), ["recover", "--", "web"]],
    ["purge", buildArgv.purge(), ["purge"]],
    [
      "exec",
      buildArgv.exec("web", ["bash", "-c", "echo $HOME"]),
      ["exec", "web", "--no-map-working-directory", "--", "bash", "-c", "echo $HOME"],
    ],
    ["exec of options", buildArgv.exec("web", ["--help"]), ["exec", "web", "--no-map-working-directory", "--", "--help"]],
    ["launch, name only", buildArgv.launch({ name: "web" }), ["launch", "--name", "web"]],
    [
      "launch, everything",
      buildArgv.launch({
        name: "web",
        image: "daily:25.10",
        cpus: 2,
        memory: "1.5G",
        disk: "20GiB",
        cloudInit: "#cloud-config\npackages: [git]\n",
        timeoutSeconds: 600,
        networks: ["bridged", "name=eth1,mode=manual,mac=52:54:00:12:34:56"],
      }),
      [
        "launch",
        "--name",
        "web",
        "--cpus",
        "2",
        "--memory",
        "1536M",
        "--disk",
        "20G",
        "--cloud-init",
        "-",
        "--timeout",
        "600",
        "--network",
        "bridged",
        "--network",
        "name=eth1,mode=manual,mac=52:54:00:12:34:56",
        "--",
        "daily:25.10",
      ],
    ],
    ["launch with one network", buildArgv.launch({ name: "w", networks: ["eth1"] }), ["launch", "--name", "w", "--network", "eth1"]],
    ["launch with no networks", buildArgv.launch({ name: "w", networks: [] }), ["launch", "--name", "w"]],
    ["launch at 1.16's minimums on 1.16", buildArgv.launch({ name: "w", memory: "128M", disk: "512M" }, "1.16.3"), ["launch", "--name", "w", "--memory", "128M", "--disk", "512M"]],
    ["launch at 1.17's minimums on 1.17", buildArgv.launch({ name: "w", memory: "512M", disk: "1G" }, "1.17.0"), ["launch", "--name", "w", "--memory", "512M", "--disk", "1G"]],
    [
      "launch of a URL",
      buildArgv.launch({ name: "u", image: "https://example.com/x.img", memory: "512m" }),
      ["launch", "--name", "u", "--memory", "512M", "--", "https://example.com/x.img"],
    ],
  ] as const)("%s", (_, argv, expected) => {
    expect(argv).toEqual([...expected]);
  });

  test.each([
    ["a name that is an option", () => buildArgv.start(["--all"]), 'Invalid instance name "--all"'],
    ["an invalid name", () => buildArgv.stop(["1foo"]), 'Invalid instance name "1foo"'],
    ["no names (would be the primary)", () => buildArgv.start([]), "multipass start needs at least one instance name"],
    ["no names to delete", () => buildArgv.delete([], { purge: true }), "multipass delete needs at least one instance name"],
    ["an info name with a snapshot", () => buildArgv.info(["web.snap1"]), 'Invalid instance name "web.snap1"'],
    ["a key that is an option", () => buildArgv.get("--keys"), 'Invalid setting key "--keys"'],
    ["an empty key", () => buildArgv.get(""), 'Invalid setting key ""'],
    ["exec without a command", () => buildArgv.exec("web", []), 'multipass exec needs a command to run in "web"'],
    ["exec in an option", () => buildArgv.exec("-v", ["ls"]), 'Invalid instance name "-v"'],
    ["launch name", () => buildArgv.launch({ name: "web_1" }), 'Invalid instance name "web_1"'],
    ["launch image option", () => buildArgv.launch({ name: "w", image: "--help" }), 'Invalid image "--help"'],
    ["launch size", () => buildArgv.launch({ name: "w", memory: "1T" }), 'Invalid memory size "1T"'],
    ["launch disk", () => buildArgv.launch({ name: "w", disk: "-5G" }), 'Invalid disk size "-5G"'],
    ["launch memory below 1.16's minimum", () => buildArgv.launch({ name: "w", memory: "64M" }), 'Invalid memory size "64M": the minimum is 128M'],
    ["launch memory below 1.17's minimum", () => buildArgv.launch({ name: "w", memory: "256M" }, "1.17.0"), 'Invalid memory size "256M": the minimum is 512M on Multipass 1.17.0'],
    ["launch disk below 1.17's minimum", () => buildArgv.launch({ name: "w", disk: "768M" }, "1.17.1"), 'Invalid disk size "768M": the minimum is 1G on Multipass 1.17.1'],
    ["launch cpus", () => buildArgv.launch({ name: "w", cpus: 0 }), "Invalid CPU count 0"],
    ["launch timeout", () => buildArgv.launch({ name: "w", timeoutSeconds: 1.5 }), "Invalid timeout 1.5"],
    ["launch network mode", () => buildArgv.launch({ name: "w", networks: ["name=eth1,mode=on"] }), `Invalid network spec "name=eth1,mode=on": Bad network mode 'on'`],
    ["launch network with no name", () => buildArgv.launch({ name: "w", networks: ["mode=auto"] }), `Invalid network spec "mode=auto": Bad network definition, need at least a 'name' field`],
    ["launch with nine networks", () => buildArgv.launch({ name: "w", networks: Array(9).fill("bridged") }), "Too many networks (9; at most 8)"],
  ])("rejects %s", (_, build, message) => {
    let thrown: unknown;
    try {
      build();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AppError);
    if (!(thrown instanceof AppError)) return;
    expect(thrown.code).toBe("E_USAGE");
    expect(thrown.message).toStartWith(message);
  });
});

// ---- the driver over a fake runner -----------------------------------------------------------

interface Call {
  argv: string[];
  options: RunOptions;
}
type Reply = Partial<RunResult> & { chunks?: string[]; error?: unknown };

/** A Runner that records its calls and answers from `reply`; `chunks` go through onStdout. */
function fakeRunner(reply: (argv: string[]) => Reply = () => ({})): { run: Runner; calls: Call[] } {
  const calls: Call[] = [];
  const run: Runner = async (argv, options) => {
    calls.push({ argv, options });
    const answer = reply(argv);
    if (answer.error !== undefined) throw answer.error;
    for (const chunk of answer.chunks ?? []) options.onStdout?.(chunk);
    return {
      exitCode: answer.exitCode ?? 0,
      stdout: answer.stdout ?? (answer.chunks ?? []).join(""),
      stderr: answer.stderr ?? "",
    };
  };
  return { run, calls };
}

/** An exec spawner that records what it was asked to start and starts nothing. */
function fakeSpawner(): { spawn: ExecSpawner; calls: { argv: string[]; options: ExecSpawnOptions }[] } {
  const calls: { argv: string[]; options: ExecSpawnOptions }[] = [];
  const spawn: ExecSpawner = (argv, options) => {
    calls.push({ argv, options });
    return { write: () => true, endInput() {}, resize() {}, pauseOutput() {}, resumeOutput() {}, hangUp() {}, exited: Promise.resolve(0) };
  };
  return { spawn, calls };
}

function execRequest(instance: string, command: ExecRequest["command"]): ExecRequest {
  return { instance, command, env: {}, term: "xterm", terminal: null, onOutput: () => {} };
}

const CLEAR = "\x1b[2K\x1b[0A\x1b[0E";

describe("createMultipassCli", () => {
  test("list runs `list --format json`, patient past the daemon's 300 s bound, and parses it", async () => {
    const { run, calls } = fakeRunner(() => ({ stdout: fixture("list_3_instances.v1.16.json") }));
    const signal = new AbortController().signal;
    const list = await createMultipassCli({ command: [MP], run }).list({ signal });
    expect(list.map((item) => `${item.name}:${item.state}`)).toEqual(["web:Running", "db:Stopped", "old-box:Deleted"]);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.argv).toEqual([MP, "list", "--format", "json"]);
    // It may queue behind a stop for the daemon's whole bound, then SSH into every running VM.
    expect(calls[0]?.options.timeoutMs).toBe(DAEMON_BOUND_MS + 120_000);
    expect(calls[0]?.options.signal).toBe(signal);
  });

  test("list --no-ipv4: no addresses, no SSH into the instances", async () => {
    const { run, calls } = fakeRunner(() => ({ stdout: fixture("list_3_instances.v1.16.json").replace(/"\d+\.\d+\.\d+\.\d+"/g, '"N/A"') }));
    const list = await createMultipassCli({ run }).list({ noIpv4: true });
    expect(calls[0]?.argv).toEqual(["multipass", "list", "--no-ipv4", "--format", "json"]);
    expect(list.map((item) => item.ipv4)).toEqual([[], [], []]);
  });

  test("every call that may queue behind a stop waits longer than the daemon's bound", () => {
    for (const command of ["list", "info", "get", "version", "start", "stop", "restart", "suspend", "delete", "recover", "purge"] as const) {
      expect(DEFAULT_TIMEOUTS_MS[command]).toBeGreaterThan(DAEMON_BOUND_MS);
    }
  });

  test("a call's own timeoutMs wins over the configured one, and is checked", async () => {
    const { run, calls } = fakeRunner(() => ({ stdout: fixture("list_empty.json") }));
    const multipass = createMultipassCli({ run, timeouts: { list: 10_000 } });
    await multipass.list();
    await multipass.list({ timeoutMs: 400_000 });
    expect(calls.map((call) => call.options.timeoutMs)).toEqual([10_000, 400_000]);
    await expect(multipass.list({ timeoutMs: 0 })).rejects.toThrow("Invalid timeout for multipass list: 0 ms");
  });

  test("info passes names after -- and parses both layouts", async () => {
    const { run, calls } = fakeRunner((argv) => ({
      stdout: fixture(argv.includes("web") ? "info_running.main.json" : "info_all.v1.16.json"),
    }));
    const multipass = createMultipassCli({ run });
    const [web] = await multipass.info(["web"]);
    expect(web?.cpus).toBe(2);
    expect((await multipass.info()).map((info) => info.name)).toEqual(["db", "old-box", "web"]);
    expect(calls.map((call) => call.argv)).toEqual([
      ["multipass", "info", "--format", "json", "--", "web"],
      ["multipass", "info", "--format", "json"],
    ]);
    expect(calls[0]?.options.timeoutMs).toBe(DAEMON_BOUND_MS + 120_000);
  });

  test("version reports a missing daemon as null", async () => {
    const { run } = fakeRunner(() => ({ stdout: fixture("version_client_only.json") }));
    expect(await createMultipassCli({ run }).version()).toEqual({ client: "1.16.3", daemon: null });
  });

  test("get returns the raw value without its newline", async () => {
    const { run, calls } = fakeRunner(() => ({ stdout: "qemu\n" }));
    expect(await createMultipassCli({ run }).get("local.driver")).toBe("qemu");
    expect(calls[0]?.argv).toEqual(["multipass", "get", "local.driver", "--raw"]);
  });

  test.each([
    ["start", (m: ReturnType<typeof createMultipassCli>) => m.start(["web"]), ["start", "--", "web"]],
    ["stop", (m: ReturnType<typeof createMultipassCli>) => m.stop(["web"], { force: true }), ["stop", "--force", "--", "web"]],
    ["restart", (m: ReturnType<typeof createMultipassCli>) => m.restart(["web"]), ["restart", "--", "web"]],
    ["suspend", (m: ReturnType<typeof createMultipassCli>) => m.suspend(["web"]), ["suspend", "--", "web"]],
    ["delete", (m: ReturnType<typeof createMultipassCli>) => m.delete(["web"], { purge: true }), ["delete", "--purge", "--", "web"]],
    ["recover", (m: ReturnType<typeof createMultipassCli>) => m.recover(["web"]), ["recover", "--", "web"]],
    ["purge", (m: ReturnType<typeof createMultipassCli>) => m.purge(), ["purge"]],
  ] as const)("%s ignores the spinner on stdout and succeeds on exit 0", async (command, act, args) => {
    const { run, calls } = fakeRunner(() => ({ chunks: [`${CLEAR}Stopping web  \b/\b-`, `\b ${CLEAR}`] }));
    await expect(act(createMultipassCli({ run }))).resolves.toBeUndefined();
    expect(calls[0]?.argv).toEqual(["multipass", ...args]);
    expect(calls[0]?.options.timeoutMs).toBe(DEFAULT_TIMEOUTS_MS[command]);
    expect(calls[0]?.options.timeoutMs).toBe(360_000);
  });

  test("launch streams progress, returns the Launched: name, and waits 20 minutes by default", async () => {
    const stream = [
      `${CLEAR}Creating web  \b/\b-`,
      `\b ${CLEAR}\rRetrieving image: 5`,
      `0%${CLEAR}\rRetrieving image: 100%${CLEAR}Starting web  \b/`,
      `\b ${CLEAR}Launched: web in zo`,
      "ne1\n",
    ];
    const { run, calls } = fakeRunner(() => ({ chunks: stream }));
    const events: LaunchProgress[] = [];
    const result = await createMultipassCli({ run }).launch(
      { name: "web", image: "24.04", memory: "2G" },
      { onProgress: (progress) => events.push(progress) },
    );
    expect(result).toEqual({ name: "web" });
    expect(events).toEqual([
      { phase: "Creating", percent: null, text: "Creating web" },
      { phase: "Retrieving image", percent: 50, text: "Retrieving image: 50%" },
      { phase: "Retrieving image", percent: 100, text: "Retrieving image: 100%" },
      { phase: "Starting", percent: null, text: "Starting web" },
    ]);
    expect(calls[0]?.argv).toEqual(["multipass", "launch", "--name", "web", "--memory", "2G", "--", "24.04"]);
    expect(calls[0]?.options.timeoutMs).toBe(20 * 60_000);
  });

  test("launch with its own --timeout waits that long plus a minute", async () => {
    const { run, calls } = fakeRunner(() => ({ stdout: "Launched: w\n" }));
    await createMultipassCli({ run, timeouts: { launch: 5 } }).launch({ name: "w", timeoutSeconds: 300 });
    expect(calls[0]?.argv).toEqual(["multipass", "launch", "--name", "w", "--timeout", "300"]);
    expect(calls[0]?.options.timeoutMs).toBe(360_000);
  });

  test("launch checks sizes against the minimums of the daemon version it last read", async () => {
    let daemon = "1.16.3";
    const { run, calls } = fakeRunner((argv) => (argv.includes("version") ? { stdout: `{"multipass": "${daemon}", "multipassd": "${daemon}"}\n` } : { stdout: "Launched: w\n" }));
    const multipass = createMultipassCli({ run });
    await multipass.launch({ name: "w", memory: "256M" });
    await multipass.version();
    await multipass.launch({ name: "w", memory: "256M" });
    daemon = "1.17.0";
    await multipass.version();
    const error = await multipassError(multipass.launch({ name: "w", memory: "256M" }), "invalid-arguments");
    expect(error.code).toBe("E_USAGE");
    expect(error.message).toBe('Invalid memory size "256M": the minimum is 512M on Multipass 1.17.0');
    expect(calls.filter((c) => c.argv.includes("launch"))).toHaveLength(2);
  });

  test("launch falls back to the requested name when the Launched: line is missing", async () => {
    const { run } = fakeRunner(() => ({ stdout: "" }));
    expect(await createMultipassCli({ run }).launch({ name: "w" })).toEqual({ name: "w" });
  });

  test("timeouts can be overridden per command", async () => {
    const { run, calls } = fakeRunner(() => ({ stdout: fixture("list_empty.json") }));
    const multipass = createMultipassCli({ run, timeouts: { list: 1234, stop: 99 } });
    await multipass.list();
    await multipass.stop(["a"]);
    await multipass.start(["a"]);
    expect(calls.map((call) => call.options.timeoutMs)).toEqual([1234, 99, 360_000]);
  });

  test.each([0, -1, Number.NaN, Infinity, 2 ** 31])("rejects the timeout override %p", (ms) => {
    expect(() => createMultipassCli({ timeouts: { info: ms } })).toThrow(`Invalid timeout for multipass info: ${ms} ms`);
  });

  test("a non-zero exit is classified from stderr, with argv and stderr kept", async () => {
    const stderr = 'stop failed: The following errors occurred:\ninstance "ghost" does not exist\n';
    const { run } = fakeRunner(() => ({ exitCode: 2, stderr }));
    const error = await multipassError(createMultipassCli({ run }).stop(["ghost"]), "not-found");
    expect(error.code).toBe("E_NOT_FOUND");
    expect(error.message).toBe(
      'multipass stop failed (exit 2): stop failed: The following errors occurred: instance "ghost" does not exist',
    );
    expect(error.argv).toEqual(["multipass", "stop", "--", "ghost"]);
    expect(error.exitCode).toBe(2);
    expect(error.stderr).toBe(stderr);
  });

  test("exit 0 with output that does not parse is bad-output naming the command", async () => {
    const { run } = fakeRunner(() => ({ stdout: '{"list": [{"name": "web"}]}' }));
    const error = await multipassError(createMultipassCli({ run }).list(), "bad-output");
    expect(error.message).toBe("multipass list printed unexpected output: $.list[0].state is missing");
    expect(error.argv).toEqual(["multipass", "list", "--format", "json"]);
  });

  test("invalid arguments reject before any process runs", async () => {
    const { run, calls } = fakeRunner();
    const multipass = createMultipassCli({ run });
    const promise = multipass.start(["-rf"]);
    expect(promise).toBeInstanceOf(Promise);
    const error = await multipassError(promise, "invalid-arguments");
    expect(error.code).toBe("E_USAGE");
    expect(error.message).toStartWith('Invalid instance name "-rf"');
    await multipassError(multipass.launch({ name: "ok", memory: "lots" }), "invalid-arguments");
    await multipassError(multipass.stop([]), "invalid-arguments");
    expect(calls).toHaveLength(0);
  });

  test("runner errors pass through, and anything else becomes a MultipassError", async () => {
    const timeout = new MultipassError({ kind: "timeout", message: "multipass list timed out after 15s", argv: ["multipass", "list"], exitCode: null, stderr: "" });
    const first = fakeRunner(() => ({ error: timeout }));
    expect(await rejection(createMultipassCli({ run: first.run }).list())).toBe(timeout);
    const second = fakeRunner(() => ({ error: new Error("boom") }));
    const error = await multipassError(createMultipassCli({ run: second.run }).purge(), "failed");
    expect(error.message).toBe("multipass purge failed: boom");
  });

  test("exec puts the binary first and the wrapped command after --", () => {
    const spawner = fakeSpawner();
    const multipass = createMultipassCli({ command: [MP], run: fakeRunner().run, spawnExec: spawner.spawn });
    multipass.exec(execRequest("web", ["ls", "-la"]));
    const [call] = spawner.calls;
    expect(call?.argv).toEqual([MP, "exec", "web", "--no-map-working-directory", "--", ...wrapCommand(["ls", "-la"], call?.options.nonce ?? "")]);
    expect(call?.options).toMatchObject({ term: "xterm", terminal: null });
    expect(() => multipass.exec(execRequest("--web", ["ls"]))).toThrow(MultipassError);
    expect(spawner.calls).toHaveLength(1);
  });

  test("exec of the login shell runs the wrapped shell under the terminal asked for", () => {
    const spawner = fakeSpawner();
    const multipass = createMultipassCli({ command: [MP], run: fakeRunner().run, spawnExec: spawner.spawn });
    multipass.exec({ ...execRequest("web", LOGIN_SHELL), terminal: { cols: 100, rows: 30 } });
    const [call] = spawner.calls;
    expect(call?.argv).toEqual([MP, "exec", "web", "--no-map-working-directory", "--", ...wrapLoginShell(call?.options.nonce ?? "")]);
    expect(call?.options.terminal).toEqual({ cols: 100, rows: 30 });
  });

  describe("a command of several words (the worker acting as multipass)", () => {
    const SELF = ["/usr/bin/bun", "/opt/multiverse/worker.ts", "--act-as-multipass=/tmp/sim"];

    test("every call and exec put the whole prefix first", async () => {
      const { run, calls } = fakeRunner(() => ({ stdout: fixture("list_empty.json") }));
      const spawner = fakeSpawner();
      const multipass = createMultipassCli({ command: SELF, run, spawnExec: spawner.spawn });
      await multipass.list();
      expect(calls[0]?.argv).toEqual([...SELF, "list", "--format", "json"]);
      multipass.exec(execRequest("web", ["id"]));
      const [call] = spawner.calls;
      expect(call?.argv).toEqual([...SELF, "exec", "web", "--no-map-working-directory", "--", ...wrapCommand(["id"], call?.options.nonce ?? "")]);
    });

    test("messages still name the multipass command, not the script", async () => {
      const failing = fakeRunner(() => ({ exitCode: 2, stderr: "restart failed: cannot connect to the multipass socket\n" }));
      const failed = await multipassError(createMultipassCli({ command: SELF, run: failing.run }).restart(["web"]), "daemon-unreachable");
      expect(failed.message).toBe("multipass restart failed (exit 2): restart failed: cannot connect to the multipass socket");
      expect(failed.argv).toEqual([...SELF, "restart", "--", "web"]);

      const garbage = fakeRunner(() => ({ stdout: "not json" }));
      const bad = await multipassError(createMultipassCli({ command: SELF, run: garbage.run }).list(), "bad-output");
      expect(bad.message).toStartWith("multipass list printed unexpected output");

      const slow = fakeRunner((argv) => ({ error: new MultipassError({ kind: "timeout", message: `multipass ${commandOf(argv)} timed out after 10s`, argv, exitCode: null, stderr: "" }) }));
      const late = await multipassError(createMultipassCli({ command: SELF, run: slow.run }).list(), "timeout");
      expect(late.message).toBe("multipass list timed out after 10s");
    });

    test("an empty command is refused", () => {
      expect(() => createMultipassCli({ command: [] })).toThrow("The multipass command must name a binary");
      expect(() => createMultipassCli({ command: [""] })).toThrow("The multipass command must name a binary");
    });
  });
});

// ---- classification from the exact strings of CONTRACT.md -------------------------------------

describe("classifyFailure", () => {
  test.each([
    ["list", 2, "list failed: cannot connect to the multipass socket\n", "daemon-unreachable", "list failed: cannot connect to the multipass socket"],
    ["list", 2, "list failed: multipass socket access denied\n", "daemon-unreachable", "list failed: multipass socket access denied"],
    ["info", 2, 'info failed: The following errors occurred:\ninstance "ghost" does not exist\n', "not-found", 'info failed: The following errors occurred: instance "ghost" does not exist'],
    ["stop", 2, 'stop failed: The following errors occurred:\ninstance "old" is deleted\n', "deleted", 'stop failed: The following errors occurred: instance "old" is deleted'],
    ["start", 2, "start failed: instance(s) missing\nInstance 'ghost' does not exist.\nInstance 'old' is deleted. Use 'recover' to recover it or 'purge' to permanently delete it.\n\n", "not-found", "start failed: instance(s) missing; Instance 'ghost' does not exist. Instance 'old' is deleted. Use 'recover' to recover it or 'purge' to permanently delete it."],
    ["start", 2, "start failed: instance(s) missing\nInstance 'old' is deleted. Use 'recover' to recover it or 'purge' to permanently delete it.\n", "deleted", undefined],
    ["launch", 2, 'launch failed: instance "web" already exists\n', "already-exists", 'launch failed: instance "web" already exists'],
    ["launch", 2, 'launch failed: instance "web" is being prepared\n', "being-prepared", 'launch failed: instance "web" is being prepared'],
    ["launch", 2, "launch failed: Invalid arguments supplied\nInvalid instance name supplied: 1foo\n", "invalid-arguments", "launch failed: Invalid arguments supplied; Invalid instance name supplied: 1foo"],
    ["launch", 2, "launch failed: Invalid arguments supplied\nInvalid memory size value supplied: 100M.\n", "invalid-arguments", "launch failed: Invalid arguments supplied; Invalid memory size value supplied: 100M."],
    // Exit 1 after our own validation (sizes are parsed exactly as multipass does): the host's fault.
    ["launch", 1, "[2026-08-21T10:15:30.123] [error] [client] Caught an unhandled exception: 1.5 is not a valid memory size - need a non-negative integer (in base 10) or a decimal followed by K, M, or G (e.g. 1234B, 42MiB, 0.5G)\n", "command-line", "1.5 is not a valid memory size - need a non-negative integer (in base 10) or a decimal followed by K, M, or G (e.g. 1234B, 42MiB, 0.5G)"],
    ["launch", 5, "Timed out waiting for instance launch.\n", "timeout", "Timed out waiting for instance launch."],
    ["start", 5, "Timed out waiting for instance to start.\n", "timeout", "Timed out waiting for instance to start."],
    ["launch", 2, "launch failed: The following errors occurred:\nweb: timed out waiting for response\n", "timeout", "launch failed: The following errors occurred: web: timed out waiting for response"],
    // The user's image: a 400 to the caller, not a node fault.
    ["launch", 2, 'launch failed: Unable to find an image matching "nope" in remote "".\n', "invalid-arguments", 'launch failed: Unable to find an image matching "nope" in remote "".'],
    ["launch", 1, "Could not load cloud-init configuration: bad file\nPlease ensure that Multipass can read it.\n", "invalid-arguments", "Could not load cloud-init configuration: bad file; Please ensure that Multipass can read it."],
    ["launch", 2, 'launch failed: Remote "" is unknown or unreachable.\n', "invalid-arguments", 'launch failed: Remote "" is unknown or unreachable.'],
    ["launch", 2, 'launch failed: Remote "daily" is unknown or unreachable. If image mirror is enabled, please confirm it is valid.\n', "invalid-arguments", 'launch failed: Remote "daily" is unknown or unreachable. If image mirror is enabled, please confirm it is valid.'],
    ["launch", 2, "launch failed: Requested disk (536870912 bytes) below minimum for this image (3758096384 bytes)\n", "invalid-arguments", "launch failed: Requested disk (536870912 bytes) below minimum for this image (3758096384 bytes)"],
    ["stop", 2, "stop failed: Cannot shut down suspended instance web.\nUse --force to power it off.\n", "failed", "stop failed: Cannot shut down suspended instance web. Use --force to power it off."],
    ["restart", 2, "restart failed: Instance 'web' is not running\n", "failed", "restart failed: Instance 'web' is not running"],
    ["get", 2, "get failed: Cannot obtain instance settings; instance: ghost; reason: No such instance\n", "not-found", "get failed: Cannot obtain instance settings; instance: ghost; reason: No such instance"],
    ["list", 1, "Unknown option 'x'.\n", "command-line", "Unknown option 'x'."],
    ["launch", 1, "Invalid remote and source image name supplied\n", "command-line", "Invalid remote and source image name supplied"],
    ["start", 1, "Name argument or --all is required\nNote: the primary instance is disabled.\n", "command-line", "Name argument or --all is required; Note: the primary instance is disabled."],
    ["launch", 1, "error: Bad network mode 'x', need 'auto' or 'manual'\n", "command-line", "error: Bad network mode 'x', need 'auto' or 'manual'"],
    ["stop", 2, "stop failed: The QEMU process did not finish within 300000 milliseconds after being shutdown\n", "failed", undefined],
    ["delete", 137, "", "failed", undefined],
  ] as const)("%s exit %p: %j → %s", (command, exitCode, stderr, kind, summary) => {
    const argv = ["multipass", command, "--", "web"];
    const error = classifyFailure(argv, exitCode, stderr);
    expect(error).toBeInstanceOf(MultipassError);
    expect(error.kind).toBe(kind);
    expect(error.argv).toBe(argv);
    expect(error.exitCode).toBe(exitCode);
    expect(error.stderr).toBe(stderr);
    if (summary !== undefined) expect(error.message).toBe(`multipass ${command} failed (exit ${exitCode}): ${summary}`);
  });

  test.each([
    ["the user's input (400)", "launch", 2, 'launch failed: Remote "" is unknown or unreachable.\n', "E_USAGE", 400],
    ["the user's input (400)", "launch", 2, "launch failed: Requested disk (1 bytes) below minimum for this image (2 bytes)\n", "E_USAGE", 400],
    ["the user's input (400)", "launch", 2, "launch failed: Invalid arguments supplied\nInvalid disk size value supplied: 300M.\n", "E_USAGE", 400],
    ["a host-side fault (502)", "list", 1, "Unknown option 'no-ipv4'.\n", "E_MULTIPASS", 502],
    ["a host-side fault (502)", "launch", 1, "[2026-08-21T10:15:30.123] [error] [client] Caught an unhandled exception: boom\n", "E_MULTIPASS", 502],
  ] as const)("who must act: %s for %s exit %p: %j", (_, command, exitCode, stderr, code, status) => {
    const error = classifyFailure(["multipass", command], exitCode, stderr);
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
    // Multipass's own words reach the caller.
    expect(error.message).toContain(summarizeStderr(stderr));
  });

  test("the brief's example message", () => {
    const error = classifyFailure(["multipass", "list", "--format", "json"], 2, "list failed: cannot connect to the multipass socket\n");
    expect(error.message).toBe("multipass list failed (exit 2): list failed: cannot connect to the multipass socket");
    expect(error.code).toBe("E_MULTIPASS");
  });

  test("no stderr at all still says what failed", () => {
    expect(classifyFailure(["multipass", "delete", "--", "web"], 137, "").message).toBe(
      "multipass delete failed (exit 137) with no error output",
    );
  });

  test("summaries drop log prefixes, escapes and blank lines, and stay short", () => {
    expect(summarizeStderr("\n[2026-08-21T10:15:30.123] [error] [daemon] \x1b[31mbad\x1b[0m thing\r\n\n  second  \n")).toBe(
      "bad thing; second",
    );
    const many = Array.from({ length: 10 }, (_, i) => `line ${i}`).join("\n");
    expect(summarizeStderr(many)).toBe("line 0; line 1; line 2; line 3; line 4; line 5 …");
    expect(summarizeStderr("x".repeat(500))).toBe(`${"x".repeat(300)}…`);
  });

  test.each([
    [["multipass", "list", "--format", "json"], "list"],
    [["multipass", "-v", "info"], "info"],
    [["multipass"], "?"],
  ] as const)("commandOf(%j) = %p", (argv, command) => {
    expect(commandOf(argv)).toBe(command);
  });
});

// ---- the real runner -------------------------------------------------------------------------

let scratch: string | undefined;
/** A `multipass` that says so on stderr, then becomes `sleep 10` (exec, so SIGKILL reaches the sleeper). */
function sleepyMultipass(): string {
  scratch ??= mkdtempSync(join(tmpdir(), "multipass-cli-test-"));
  const path = join(scratch, "multipass");
  writeFileSync(path, "#!/bin/sh\necho about to sleep >&2\nexec sleep 10\n", { mode: 0o755 });
  return path;
}
afterAll(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

describe("runProcess", () => {
  test("collects stdout, stderr and the exit status of an argv (no shell)", async () => {
    expect(await runProcess(["sh", "-c", "printf out; printf err >&2; exit 3"], { timeoutMs: 10_000 })).toEqual({
      exitCode: 3,
      stdout: "out",
      stderr: "err",
    });
    expect((await runProcess(["echo", "$HOME;", "`id`"], { timeoutMs: 10_000 })).stdout).toBe("$HOME; `id`\n");
  });

  test("streams stdout to onStdout in order", async () => {
    const chunks: string[] = [];
    const result = await runProcess(["sh", "-c", "printf a; sleep 0.05; printf 'ü'; sleep 0.05; printf c"], {
      timeoutMs: 10_000,
      onStdout: (chunk) => chunks.push(chunk),
    });
    expect(chunks.join("")).toBe("aüc");
    expect(result.stdout).toBe("aüc");
  });

  test("stdin is empty unless given", async () => {
    expect((await runProcess(["cat"], { timeoutMs: 10_000 })).stdout).toBe("");
    expect((await runProcess(["cat"], { timeoutMs: 10_000, stdin: "hello\n" })).stdout).toBe("hello\n");
  });

  test("a process killed by a signal reports 128 + N", async () => {
    expect((await runProcess(["sh", "-c", "kill -9 $$"], { timeoutMs: 10_000 })).exitCode).toBe(137);
  });

  test("output is capped per stream", async () => {
    const result = await runProcess(["head", "-c", String(MAX_OUTPUT_BYTES + 100_000), "/dev/zero"], { timeoutMs: 20_000 });
    expect(result.exitCode).toBe(0);
    expect(result.stdout.length).toBe(MAX_OUTPUT_BYTES);
  });

  test("a missing binary is not-installed", async () => {
    const error = await multipassError(runProcess(["/nonexistent/multipass", "list"], { timeoutMs: 1000 }), "not-installed");
    expect(error.message).toBe('multipass not found at "/nonexistent/multipass"');
    expect(error.code).toBe("E_MULTIPASS");
  });

  test("a timeout kills the process with SIGKILL", async () => {
    const started = performance.now();
    const argv = [sleepyMultipass(), "list", "--format", "json"];
    const error = await multipassError(runProcess(argv, { timeoutMs: 200 }), "timeout");
    expect(performance.now() - started).toBeLessThan(1500);
    expect(error.message).toBe("multipass list timed out after 0.2s");
    expect(error.code).toBe("E_TIMEOUT");
    expect(error.argv).toBe(argv);
    expect(error.exitCode).toBeNull();
    expect(error.stderr).toBe("about to sleep\n");
  });

  test("aborting kills the process", async () => {
    const controller = new AbortController();
    const started = performance.now();
    setTimeout(() => controller.abort(), 100);
    const argv = [sleepyMultipass(), "launch", "--name", "web"];
    const error = await multipassError(runProcess(argv, { timeoutMs: 60_000, signal: controller.signal }), "failed");
    expect(performance.now() - started).toBeLessThan(1500);
    expect(error.message).toBe("multipass launch was aborted");
  });

  test("an already aborted signal starts nothing; a deadline signal is a timeout", async () => {
    const spawn = spyOn(Bun, "spawn");
    try {
      await multipassError(runProcess(["sleep", "10"], { timeoutMs: 1000, signal: AbortSignal.abort() }), "failed");
      expect(spawn).not.toHaveBeenCalled();
    } finally {
      spawn.mockRestore();
    }
    await multipassError(runProcess(["sleep", "10"], { timeoutMs: 60_000, signal: AbortSignal.timeout(100) }), "timeout");
  });

  test("the timer and the abort listener are always cleared", async () => {
    const controller = new AbortController();
    const setTimer = spyOn(globalThis, "setTimeout");
    const clearTimer = spyOn(globalThis, "clearTimeout");
    const removeListener = spyOn(controller.signal, "removeEventListener");
    try {
      await runProcess(["true"], { timeoutMs: 123_456, signal: controller.signal });
      const index = setTimer.mock.calls.findIndex((args) => args[1] === 123_456);
      expect(index).toBeGreaterThanOrEqual(0);
      const timer = setTimer.mock.results[index]?.value;
      expect(clearTimer.mock.calls.some((args) => args[0] === timer)).toBe(true);
      expect(removeListener).toHaveBeenCalledWith("abort", expect.any(Function));
    } finally {
      setTimer.mockRestore();
      clearTimer.mockRestore();
      removeListener.mockRestore();
    }
  });

  test("an onStdout that throws kills the process and rejects with its error", async () => {
    const failure = new Error("listener broke");
    const started = performance.now();
    const error = await rejection(
      runProcess(["sh", "-c", "echo hi; exec sleep 10"], {
        timeoutMs: 60_000,
        onStdout: () => {
          throw failure;
        },
      }),
    );
    expect(error).toBe(failure);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("a grandchild holding the pipes open does not hold up the result", async () => {
    const started = performance.now();
    const result = await runProcess(["sh", "-c", "sleep 6 & echo done"], { timeoutMs: 60_000 });
    expect(result).toEqual({ exitCode: 0, stdout: "done\n", stderr: "" });
    expect(performance.now() - started).toBeLessThan(4500);
  });
});
