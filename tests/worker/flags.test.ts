/**
 * The worker's flags: defaults, which join token wins, what excludes what,
 * the warnings, and that every bad flag is a usage error (exit 2).
 */
import { describe, expect, test } from "bun:test";
import { AppError, usageError } from "../../lib/core/errors.ts";
import { parseJson } from "../../lib/core/parse.ts";
import { defaultSimDir, parseWorkerFlags, simConfigWithTiming, type FlagContext, type WorkerArgs } from "../../lib/worker/flags.ts";

const BASE: WorkerArgs = { master: "localhost:1337", multipass: "multipass", simulate: false, "poll-interval": "2s" };

/** A context whose files are canned: `reads` records what was read. */
function contextFor(overrides: Partial<FlagContext> = {}) {
  const reads: string[] = [];
  const warnings: string[] = [];
  const context: FlagContext = {
    env: {},
    platform: "linux",
    hostname: "box.example.org",
    home: "/home/ada",
    cwd: "/work",
    execPath: "/usr/bin/bun",
    entryPath: "/opt/multiverse/worker.ts",
    simTimingPresets: ["realistic"],
    read: {
      certificate: (path, what) => (reads.push(`${what}:${path}`), `PEM of ${path}`),
      serverTls: (cert, key) => (cert === undefined ? null : (reads.push(`tls:${cert}:${key}`), { cert: `PEM of ${cert}`, key: `PEM of ${key}` })),
      tokenFile: (path) => (reads.push(`token:${path}`), `token-from-${path}`),
    },
    warn: (message) => warnings.push(message),
    ...overrides,
  };
  return { context, reads, warnings };
}

function usageErrorOf(run: () => unknown): AppError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(AppError);
  if (!(caught instanceof AppError)) throw new Error("expected an AppError");
  expect(caught.code).toBe("E_USAGE");
  return caught;
}

describe("parseWorkerFlags", () => {
  test("the defaults: a master on loopback, an agent server on loopback at any port, the host's first label as name", () => {
    const { context, reads, warnings } = contextFor();
    expect(parseWorkerFlags({ ...BASE, token: "t" }, context)).toEqual({
      masterUrl: "http://localhost:1337",
      masterTls: null,
      agentTls: null,
      joinToken: "t",
      name: "box",
      dataDir: "/home/ada/.local/share/multiverse",
      agentAddr: { host: "127.0.0.1", port: 0 },
      advertiseAddr: null,
      pollMs: 2000,
      dataPath: "/var/snap/multipass/common/data/multipassd",
      multipassCommand: ["multipass"],
      simDir: null,
      simTiming: null,
      sessionGraceMs: 10 * 60_000,
      maxDetachedSessions: 32,
    });
    expect(reads).toEqual([]);
    expect(warnings).toEqual([]);
  });

  test("--data-dir keeps the node key: relative to the working directory, or the per-user data place by default", () => {
    expect(parseWorkerFlags({ ...BASE, token: "t", "data-dir": "keys" }, contextFor().context).dataDir).toBe("/work/keys");
    expect(parseWorkerFlags({ ...BASE, token: "t" }, contextFor({ env: { XDG_DATA_HOME: "/xdg" } }).context).dataDir).toBe("/xdg/multiverse");
  });

  test("--token beats --token-file, which beats MULTIVERSE_JOIN_TOKEN; a file is read only when it decides", () => {
    const env = { MULTIVERSE_JOIN_TOKEN: "from-env" };
    const both = contextFor({ env });
    expect(parseWorkerFlags({ ...BASE, token: "flag", "token-file": "/t" }, both.context).joinToken).toBe("flag");
    expect(both.reads).toEqual([]);
    const file = contextFor({ env });
    expect(parseWorkerFlags({ ...BASE, "token-file": "/t" }, file.context).joinToken).toBe("token-from-/t");
    expect(file.reads).toEqual(["token:/t"]);
    expect(parseWorkerFlags(BASE, contextFor({ env }).context).joinToken).toBe("from-env");
  });

  test("no join token anywhere is a usage error that says where to find one", () => {
    const error = usageErrorOf(() => parseWorkerFlags(BASE, contextFor({ env: { MULTIVERSE_JOIN_TOKEN: "" } }).context));
    expect(error.message).toBe("No join token: pass --token or --token-file, or set MULTIVERSE_JOIN_TOKEN (the master prints where its join token is stored)");
  });

  test("an unreadable token file is the reader's usage error", () => {
    const unreadable = usageError('Cannot read token file "/t": the file is empty');
    const { context } = contextFor();
    context.read.tokenFile = () => {
      throw unreadable;
    };
    expect(usageErrorOf(() => parseWorkerFlags({ ...BASE, "token-file": "/t" }, context))).toBe(unreadable);
  });

  test("--ca is read for an https master and refused for a plain one", () => {
    const { context, reads } = contextFor();
    const config = parseWorkerFlags({ ...BASE, token: "t", master: "https://master.example.org:1337", ca: "/ca.pem" }, context);
    expect(config.masterUrl).toBe("https://master.example.org:1337");
    expect(config.masterTls).toEqual({ ca: "PEM of /ca.pem" });
    expect(reads).toEqual(["CA certificate:/ca.pem"]);
    const error = usageErrorOf(() => parseWorkerFlags({ ...BASE, token: "t", ca: "/ca.pem" }, contextFor().context));
    expect(error.message).toBe("--ca is for an https master: give --master https://HOST:PORT");
  });

  test("a master beyond loopback puts the agent server on 0.0.0.0:1339, with a clear-text warning unless it has TLS", () => {
    const plain = contextFor();
    expect(parseWorkerFlags({ ...BASE, token: "t", master: "10.0.0.1:1337" }, plain.context).agentAddr).toEqual({ host: "0.0.0.0", port: 1339 });
    expect(plain.warnings).toEqual([
      "the agent server listens on 0.0.0.0:1339 without TLS: the master's calls travel in clear text (use --tls-cert and --tls-key)",
    ]);
    const tls = contextFor();
    const config = parseWorkerFlags({ ...BASE, token: "t", master: "10.0.0.1:1337", "tls-cert": "/c.pem", "tls-key": "/k.pem" }, tls.context);
    expect(config.agentTls).toEqual({ cert: "PEM of /c.pem", key: "PEM of /k.pem" });
    expect(tls.warnings).toEqual([]);
    const loopback = contextFor();
    expect(parseWorkerFlags({ ...BASE, token: "t", master: "10.0.0.1:1337", "agent-addr": "127.0.0.1:9000" }, loopback.context).agentAddr).toEqual({ host: "127.0.0.1", port: 9000 });
    expect(loopback.warnings).toEqual([]);
  });

  test("--advertise-addr is normalised; --multipass-data and --poll-interval are taken as given", () => {
    const config = parseWorkerFlags(
      { ...BASE, token: "t", "advertise-addr": " [::1]:1339", "multipass-data": "/data", "poll-interval": "500ms", name: "n1" },
      contextFor().context,
    );
    expect(config).toMatchObject({ advertiseAddr: "[::1]:1339", dataPath: "/data", pollMs: 500, name: "n1" });
  });

  test("--simulate drives this program as multipass, in the default directory or --simulate-dir, and says so", () => {
    const { context, warnings } = contextFor({ env: { XDG_DATA_HOME: "/xdg" } });
    const config = parseWorkerFlags({ ...BASE, token: "t", simulate: true }, context);
    expect(config.simDir).toBe("/xdg/multiverse/simulated-multipass");
    expect(config.simDir).toBe(defaultSimDir("linux", { XDG_DATA_HOME: "/xdg" }, "/home/ada"));
    expect(config.multipassCommand).toEqual(["/usr/bin/bun", "/opt/multiverse/worker.ts", "--act-as-multipass=/xdg/multiverse/simulated-multipass"]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toStartWith("SIMULATED MULTIPASS: this worker drives its built-in stand-in, not a real Multipass.\n");

    const compiled = contextFor({ execPath: "/usr/local/bin/multiverse-worker", entryPath: "/$bunfs/root/worker.js" });
    const relative = parseWorkerFlags({ ...BASE, token: "t", simulate: true, "simulate-dir": "sim" }, compiled.context);
    expect(relative.simDir).toBe("/work/sim");
    expect(relative.multipassCommand).toEqual(["/usr/local/bin/multiverse-worker", "--act-as-multipass=/work/sim"]);
  });

  test("--simulate-dir needs --simulate, and --simulate excludes --multipass", () => {
    expect(usageErrorOf(() => parseWorkerFlags({ ...BASE, token: "t", "simulate-dir": "/s" }, contextFor().context)).message).toBe("--simulate-dir needs --simulate");
    expect(usageErrorOf(() => parseWorkerFlags({ ...BASE, token: "t", simulate: true, multipass: "/snap/bin/multipass" }, contextFor().context)).message).toBe(
      "--simulate and --multipass exclude each other",
    );
  });

  test("--sim-timing names a profile of the simulated host: it needs --simulate, and an unknown one is refused naming the known", () => {
    const simulated = contextFor();
    const config = parseWorkerFlags({ ...BASE, token: "t", simulate: true, "sim-timing": "realistic" }, simulated.context);
    expect(config.simTiming).toBe("realistic");
    expect(parseWorkerFlags({ ...BASE, token: "t", simulate: true }, contextFor().context).simTiming).toBeNull();

    expect(usageErrorOf(() => parseWorkerFlags({ ...BASE, token: "t", "sim-timing": "realistic" }, contextFor().context)).message).toBe("--sim-timing needs --simulate");
    const unknown = contextFor({ simTimingPresets: ["realistic", "sluggish"] });
    expect(usageErrorOf(() => parseWorkerFlags({ ...BASE, token: "t", simulate: true, "sim-timing": "Realistic" }, unknown.context)).message).toBe(
      'Invalid --sim-timing "Realistic": expected one of the simulated host\'s timing profiles ("realistic", "sluggish")',
    );
    // The simulation banner came first: it belongs to --simulate, read before --sim-timing.
    expect(unknown.warnings).toHaveLength(1);
  });

  test("--session-grace is a duration, and 0 keeps no shell; --max-detached-sessions a count", () => {
    const parse = (extra: Partial<WorkerArgs>) => parseWorkerFlags({ ...BASE, token: "t", ...extra }, contextFor().context);
    expect(parse({ "session-grace": "0" }).sessionGraceMs).toBe(0);
    expect(parse({ "session-grace": "90s", "max-detached-sessions": "5" })).toMatchObject({ sessionGraceMs: 90_000, maxDetachedSessions: 5 });
    expect(usageErrorOf(() => parse({ "session-grace": "forever" })).message).toBe('Invalid --session-grace "forever": expected a duration such as 500ms, 2s, 5m or 1h');
    expect(usageErrorOf(() => parse({ "max-detached-sessions": "0" })).message).toBe('Invalid --max-detached-sessions "0": expected a whole number between 1 and 10000');
    usageErrorOf(() => parse({ "max-detached-sessions": "many" }));
    usageErrorOf(() => parse({ "max-detached-sessions": "-3" }));
    usageErrorOf(() => parse({ "session-grace": "-1s" }));
  });

  test.each([
    ["--master", { master: "nowhere" }],
    ["--agent-addr", { "agent-addr": "0.0.0.0" }],
    ["--advertise-addr", { "advertise-addr": "10.0.0.1:0" }],
    ["--poll-interval", { "poll-interval": "10ms" }],
    ["--name", { name: "-bad-" }],
  ] as const)("a bad %s is a usage error", (_flag, bad) => {
    usageErrorOf(() => parseWorkerFlags({ ...BASE, token: "t", ...bad }, contextFor().context));
  });

  test("a warning is given before a later flag fails", () => {
    const { context, warnings } = contextFor();
    usageErrorOf(() => parseWorkerFlags({ ...BASE, token: "t", master: "10.0.0.1:1337", "poll-interval": "never" }, context));
    expect(warnings).toHaveLength(1);
  });
});

describe("simConfigWithTiming", () => {
  test("a host without config.json gets one with only the timing", () => {
    expect(simConfigWithTiming(null, "realistic", "/s/config.json")).toBe('{"timing":"realistic"}\n');
    expect(simConfigWithTiming(" \n", "realistic", "/s/config.json")).toBe('{"timing":"realistic"}\n');
  });

  test("every other key is kept, and a timing already there is replaced", () => {
    const before = JSON.stringify({ fault: null, stepMs: 40, version: "1.17.0", timing: { stop: 500 } });
    expect(parseJson(simConfigWithTiming(before, "realistic", "/s/config.json"), "config.json")).toEqual({ fault: null, stepMs: 40, version: "1.17.0", timing: "realistic" });
  });

  test.each([["{not json"], ["[1, 2]"], ['"realistic"']])("a config.json that is not a JSON object (%s) is left alone: a usage error naming the file", (text) => {
    expect(usageErrorOf(() => simConfigWithTiming(text, "realistic", "/s/config.json")).message).toBe(
      'Cannot set --sim-timing in "/s/config.json": the file is not a JSON object (fix it or remove it)',
    );
  });
});
