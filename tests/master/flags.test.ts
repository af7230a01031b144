import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "../../lib/core/errors.ts";
import { checkMetricsToken, clearTextWarnings, loadMasterTokens, parseCpuOvercommit, parseMasterFlags, type MasterArgs, type TokenLoader } from "../../lib/master/flags.ts";
import { loadOrCreateToken } from "../../lib/net/tokens.ts";

/** The flags as citty hands them over when none is given. */
const DEFAULTS: MasterArgs = {
  "cluster-addr": "localhost:1337",
  "api-addr": "localhost:1338",
  "heartbeat-interval": "5s",
  "down-grace": "15m",
  "node-timeout": "90s",
  "cpu-overcommit": "4",
  verbose: false,
};

const LINUX = { env: {}, platform: "linux" as const, home: "/home/ada" };

function usage(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw new Error(`expected an AppError, got ${String(error)}`);
  }
  throw new Error("expected a usage error");
}

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("parseMasterFlags", () => {
  test("the defaults", () => {
    expect(parseMasterFlags(DEFAULTS, LINUX)).toEqual({
      clusterAddr: { host: "localhost", port: 1337 },
      apiAddr: { host: "localhost", port: 1338 },
      heartbeatMs: 5000,
      downGraceMs: 15 * 60_000,
      nodeTimeoutMs: 90_000,
      dataDir: "/home/ada/.local/share/multiverse",
      auditImportPath: "/home/ada/.local/share/multiverse/events.jsonl",
      cpuOvercommit: 4,
      tlsCert: undefined,
      tlsKey: undefined,
      metricsTokenFile: undefined,
      tokenOverrides: { join: undefined, api: undefined },
      verbose: false,
    });
  });

  test("what is given beats the defaults; port 0 means any free port", () => {
    const config = parseMasterFlags(
      { ...DEFAULTS, "cluster-addr": "0.0.0.0:0", "api-addr": "[::1]:9000", "data-dir": "/srv/mv", "heartbeat-interval": "500ms", "down-grace": "0", "node-timeout": "2m", "cpu-overcommit": "1.5", "tls-cert": "c.pem", "tls-key": "k.pem", "metrics-token-file": "/etc/mv/metrics", verbose: true },
      LINUX,
    );
    expect(config).toMatchObject({
      clusterAddr: { host: "0.0.0.0", port: 0 },
      apiAddr: { host: "::1", port: 9000 },
      dataDir: "/srv/mv",
      auditImportPath: "/srv/mv/events.jsonl",
      heartbeatMs: 500,
      downGraceMs: 0,
      nodeTimeoutMs: 120_000,
      cpuOvercommit: 1.5,
      tlsCert: "c.pem",
      tlsKey: "k.pem",
      metricsTokenFile: "/etc/mv/metrics",
      verbose: true,
    });
  });

  test("the data dir follows the platform and XDG_DATA_HOME", () => {
    expect(parseMasterFlags(DEFAULTS, { ...LINUX, env: { XDG_DATA_HOME: "/data" } }).dataDir).toBe("/data/multiverse");
    expect(parseMasterFlags(DEFAULTS, { ...LINUX, platform: "darwin" }).dataDir).toBe("/home/ada/Library/Application Support/multiverse");
  });

  test("tokens in the environment are taken as overrides; empty ones are passed on as they are", () => {
    const env = { MULTIVERSE_JOIN_TOKEN: "mvj_from-the-environment-000000", MULTIVERSE_API_TOKEN: "" };
    expect(parseMasterFlags(DEFAULTS, { ...LINUX, env }).tokenOverrides).toEqual({ join: "mvj_from-the-environment-000000", api: "" });
  });

  const bad: [Partial<MasterArgs>, string][] = [
    [{ "cluster-addr": "nope" }, 'Invalid --cluster-addr "nope": expected HOST:PORT'],
    [{ "api-addr": "localhost:70000" }, 'Invalid --api-addr "localhost:70000": port must be 1-65535'],
    [{ "heartbeat-interval": "50ms" }, 'Invalid --heartbeat-interval "50ms": must be between 0.1s and 5m'],
    [{ "heartbeat-interval": "often" }, 'Invalid --heartbeat-interval "often": expected a duration such as 500ms, 2s, 5m or 1h'],
    [{ "down-grace": "-1s" }, 'Invalid --down-grace "-1s"'],
    [{ "node-timeout": "11m" }, 'Invalid --node-timeout "11m": must be between 0.1s and 10m'],
    [{ "cpu-overcommit": "0.5" }, 'Invalid --cpu-overcommit "0.5": expected a ratio from 1 to 64'],
    [{ "cpu-overcommit": "65" }, 'Invalid --cpu-overcommit "65": expected a ratio from 1 to 64'],
    [{ "cpu-overcommit": "1e1" }, 'Invalid --cpu-overcommit "1e1": expected a ratio from 1 to 64'],
    [{ "cpu-overcommit": " 4" }, 'Invalid --cpu-overcommit " 4": expected a ratio from 1 to 64'],
  ];
  for (const [args, message] of bad) {
    test(`a usage error: ${message}`, () => {
      const error = usage(() => parseMasterFlags({ ...DEFAULTS, ...args }, LINUX));
      expect(error.code).toBe("E_USAGE");
      expect(error.message).toStartWith(message);
    });
  }

  test("the first bad flag, in the order of the flags, is the one reported", () => {
    const error = usage(() => parseMasterFlags({ ...DEFAULTS, "api-addr": "x", "cpu-overcommit": "0" }, LINUX));
    expect(error.message).toStartWith("Invalid --api-addr");
  });

  test("parseCpuOvercommit takes the bounds and decimals", () => {
    expect(parseCpuOvercommit("1")).toBe(1);
    expect(parseCpuOvercommit("64")).toBe(64);
    expect(parseCpuOvercommit("2.25")).toBe(2.25);
  });
});

describe("clearTextWarnings", () => {
  const at = (cluster: string, api: string) => parseMasterFlags({ ...DEFAULTS, "cluster-addr": cluster, "api-addr": api }, LINUX);

  test("a listener beyond loopback without TLS is warned about, each by its flag", () => {
    expect(clearTextWarnings(at("0.0.0.0:0", "127.0.0.1:1338"), false)).toEqual([
      "--cluster-addr 0.0.0.0:0 is not loopback and TLS is off: tokens travel in clear text (use --tls-cert and --tls-key)",
    ]);
    expect(clearTextWarnings(at("10.0.0.1:1337", "[2001:db8::1]:1338"), false)).toEqual([
      "--cluster-addr 10.0.0.1:1337 is not loopback and TLS is off: tokens travel in clear text (use --tls-cert and --tls-key)",
      "--api-addr [2001:db8::1]:1338 is not loopback and TLS is off: tokens travel in clear text (use --tls-cert and --tls-key)",
    ]);
  });

  test("loopback listeners, or TLS, need no warning", () => {
    expect(clearTextWarnings(at("localhost:1337", "[::1]:1338"), false)).toEqual([]);
    expect(clearTextWarnings(at("0.0.0.0:1337", "0.0.0.0:1338"), true)).toEqual([]);
  });
});

describe("loadMasterTokens", () => {
  const dataDir = () => {
    const d = mkdtempSync(join(tmpdir(), "mv-flags-"));
    dirs.push(d);
    return d;
  };

  test("tokens are created in the data dir on first use and read back after", () => {
    const dir = dataDir();
    const first = loadMasterTokens({ dataDir: dir, tokenOverrides: { join: undefined, api: undefined } }, loadOrCreateToken);
    expect(first.join).toStartWith("mvj_");
    expect(first.api).toStartWith("mva_");
    expect(first.notes).toEqual([`join token: ${join(dir, "join-token")} (created)`, `API token: ${join(dir, "api-token")} (created)`]);
    const again = loadMasterTokens({ dataDir: dir, tokenOverrides: { join: undefined, api: undefined } }, loadOrCreateToken);
    expect(again).toEqual({ join: first.join, api: first.api, notes: [`join token: ${join(dir, "join-token")}`, `API token: ${join(dir, "api-token")}`] });
  });

  test("a token in the environment beats the file, and the log says where it came from without showing it", () => {
    const dir = dataDir();
    const created = loadMasterTokens({ dataDir: dir, tokenOverrides: { join: undefined, api: undefined } }, loadOrCreateToken);
    const tokens = loadMasterTokens({ dataDir: dir, tokenOverrides: { join: "mvj_from-the-environment-000000", api: undefined } }, loadOrCreateToken);
    expect(tokens.join).toBe("mvj_from-the-environment-000000");
    expect(tokens.api).toBe(created.api);
    expect(tokens.notes).toEqual(["join token: from the environment", `API token: ${join(dir, "api-token")}`]);
    expect(tokens.notes.join("\n")).not.toContain("mvj_from-the-environment");
  });

  test("the same token for both is a usage error", () => {
    const same = "mvj_one-token-for-everything-0000";
    const error = usage(() => loadMasterTokens({ dataDir: "/nowhere", tokenOverrides: { join: same, api: same } }, loadOrCreateToken));
    expect(error.code).toBe("E_USAGE");
    expect(error.message).toBe("The join token and the API token must differ");
  });

  test("the loader is asked for the join token, then the API token, with each override", () => {
    const asked: [string, string | undefined][] = [];
    const load: TokenLoader = (dir, kind, override) => {
      asked.push([kind, override]);
      return { token: `${kind}-token`, source: "file", path: join(dir, kind) };
    };
    loadMasterTokens({ dataDir: "/d", tokenOverrides: { join: "j", api: undefined } }, load);
    expect(asked).toEqual([["join", "j"], ["api", undefined]]);
  });
});

describe("checkMetricsToken", () => {
  const tokens = { join: "mvj_join-token-0000000000000000000000000", api: "mva_api-token-00000000000000000000000000" };
  test("a token of its own is taken as it is", () => {
    expect(checkMetricsToken("prometheus-scrape-secret-1234", tokens)).toBe("prometheus-scrape-secret-1234");
  });
  test.each([
    [tokens.api, "must differ from the join and API tokens"],
    [tokens.join, "must differ from the join and API tokens"],
    ["short", "16 to 512 printable characters"],
    ["has a space in it somewhere", "16 to 512 printable characters"],
  ])("%p is refused", (token, why) => {
    expect(() => checkMetricsToken(token, tokens)).toThrow(expect.objectContaining({ code: "E_USAGE", message: expect.stringContaining(why) }));
  });
});
