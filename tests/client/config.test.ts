/**
 * The client's config file: where it lives, how it is read (damage named by
 * line, unknown keys refused), written (0600, whole or not at all) and shown
 * (literal tokens redacted); and the config commands that change it.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emptyConfig, formatConfig, parseConfig, readConfig, runTokenCommand, writeConfig, type ClientConfig } from "../../lib/client/config.ts";
import { defaultConfigFile } from "../../lib/core/paths.ts";
import { runCli } from "../../lib/cli/run.ts";
import { createClientCommand } from "../../lib/client/commands.ts";
import { fakeClient } from "../support/fake-client.ts";

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});
function temp(): string {
  dir = mkdtempSync(join(tmpdir(), "config-"));
  return dir;
}

const FP = "AB:".repeat(31) + "AB";
const sample: ClientConfig = {
  currentContext: "prod",
  contexts: [
    { name: "prod", master: "https://10.0.0.5:1338", token: "mva_secret-token-value", fingerprint: FP },
    { name: "lab", master: "http://127.0.0.1:1338", tokenCommand: ["pass", "show", "lab"] },
  ],
};

describe("where the file lives", () => {
  test.each([
    ["linux", { XDG_CONFIG_HOME: "/x" }, "/x/multiverse/config.yaml"],
    ["linux", {}, "/home/u/.config/multiverse/config.yaml"],
    ["darwin", { XDG_CONFIG_HOME: "" }, "/home/u/.config/multiverse/config.yaml"],
    ["linux", { MULTIVERSE_CONFIG: "/etc/mv.yaml", XDG_CONFIG_HOME: "/x" }, "/etc/mv.yaml"],
  ] as const)("%s %p → %s", (platform, env, expected) => {
    expect(defaultConfigFile(platform, env, "/home/u")).toBe(expected);
  });
  test("Windows: %APPDATA%", () => {
    expect(defaultConfigFile("win32", { APPDATA: "C:\\Users\\u\\AppData\\Roaming" }, "C:\\Users\\u")).toContain(join("multiverse", "config.yaml"));
  });
});

describe("reading", () => {
  test("a written config reads back the same, and a missing file is empty", () => {
    const file = join(temp(), "sub", "config.yaml");
    expect(readConfig(file)).toEqual(emptyConfig());
    writeConfig(file, sample);
    expect(readConfig(file)).toEqual(sample);
  });

  test.each([
    ["broken YAML", "contexts:\n  - name: a\n    master: [unclosed\n", /line \d+/],
    ["an unknown key", "contexts:\n  - name: a\n    master: http://h:1\n    tokn: x\n", /\(line 4\): unknown key "tokn"/],
    ["an unknown top-level key", "current-context: null\ncontext: []\n", /\(line 2\): unknown key "context"/],
    ["two token sources", "contexts:\n  - name: a\n    master: http://h:1\n    token: x\n    tokenFile: /f\n", /\(line 5\): context "a" gives token and tokenFile/],
    ["a bad master", "contexts:\n  - name: a\n    master: ftp://h\n", /\(line 3\): Invalid master "ftp:\/\/h"/],
    ["a bad fingerprint", "contexts:\n  - name: a\n    master: http://h:1\n    fingerprint: zz\n", /\(line 4\): Invalid fingerprint/],
    ["a shell string as tokenCommand", "contexts:\n  - name: a\n    master: http://h:1\n    tokenCommand: pass show a\n", /\(line 4\): tokenCommand must be a list/],
    ["a current-context that names none", "current-context: b\ncontexts:\n  - name: a\n    master: http://h:1\n", /\(line 1\): current-context "b" names no context/],
    ["a duplicate name", "contexts:\n  - name: a\n    master: http://h:1\n  - name: a\n    master: http://h:2\n", /\(line 4\): context "a" appears twice/],
    ["a context without a master", "contexts:\n  - name: a\n", /context "a" needs a master/],
  ])("%s is refused with its line", (_what, text, message) => {
    expect(() => parseConfig(text, "/c.yaml")).toThrow(message);
  });

  test("errors name the file", () => {
    expect(() => parseConfig("contexts: 3\n", "/some/config.yaml")).toThrow('Invalid config file "/some/config.yaml" (line 1): contexts must be a list');
  });

  test("fingerprints are normalized to openssl's form", () => {
    const c = parseConfig(`contexts:\n  - name: a\n    master: https://h\n    fingerprint: ${"ab".repeat(32)}\n`, "/c");
    expect(c.contexts[0]?.fingerprint).toBe(FP);
    expect(c.contexts[0]?.master).toBe("https://h");
  });
});

describe("writing", () => {
  test("mode 0600 in a directory of mode 0700, even over a file that was readable by all", () => {
    const d = temp();
    const file = join(d, "multiverse", "config.yaml");
    writeConfig(file, sample);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(d, "multiverse")).mode & 0o777).toBe(0o700);
    chmodSync(file, 0o644);
    writeConfig(file, emptyConfig());
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test("whole or not at all: a failed write leaves the old file and no temporary one", () => {
    const d = temp();
    const file = join(d, "config.yaml");
    writeConfig(file, sample);
    const before = readFileSync(file, "utf8");
    chmodSync(d, 0o500);
    try {
      if (process.getuid?.() === 0) return; // root writes anyway
      expect(() => writeConfig(file, emptyConfig())).toThrow(/Cannot write the config file/);
    } finally {
      chmodSync(d, 0o700);
    }
    expect(readFileSync(file, "utf8")).toBe(before);
    expect(readdirSync(d)).toEqual(["config.yaml"]);
  });
});

describe("redaction", () => {
  test("a literal token shows as REDACTED; files and commands stay", () => {
    const text = formatConfig(sample, { redact: true });
    expect(text).not.toContain("mva_secret-token-value");
    expect(text).toContain("token: REDACTED");
    expect(text).toContain("- pass");
    expect(formatConfig(sample)).toContain("mva_secret-token-value");
  });
});

describe("tokenCommand", () => {
  test("runs without a shell and takes the first line", () => {
    expect(runTokenCommand(["printf", "%s\\n%s", "mva_first", "second"], "a")).toBe("mva_first");
    expect(runTokenCommand(["echo", "$HOME;", "x"], "a")).toBe("$HOME; x");
  });
  test("a failing or silent command is a clear error", () => {
    expect(() => runTokenCommand(["false"], "a")).toThrow('The tokenCommand of context "a" ("false") exited with 1');
    expect(() => runTokenCommand(["true"], "a")).toThrow("printed no token");
    expect(() => runTokenCommand(["/nonexistent/program"], "a")).toThrow(/could not run|exited/);
  });
  test("its time and output are bounded", () => {
    expect(() => runTokenCommand(["sleep", "30"], "a", 200)).toThrow('The tokenCommand of context "a" ("sleep") did not finish within 0.2s');
    expect(() => runTokenCommand(["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a"], "a")).toThrow("printed more than 65536 bytes");
  });
});

async function config(file: string, args: string[]) {
  const client = fakeClient();
  client.ctx.configFile = file;
  const code = await runCli(createClientCommand(client.ctx), ["config", ...args], { stdout: client.ctx.stdout, stderr: client.ctx.stderr, verbose: false });
  return { code, out: client.out.join(""), err: client.err.join("") };
}

describe("the config commands", () => {
  test("set-context, get-contexts, use-context, view, delete-context", async () => {
    const d = temp();
    const file = join(d, "config.yaml");
    const tokenFile = join(d, "t");
    writeFileSync(tokenFile, "mva_x\n");
    expect((await config(file, ["set-context", "a", "--master", "http://127.0.0.1:9", "--token-file", tokenFile])).code).toBe(0);
    expect((await config(file, ["set-context", "b", "--master", "10.0.0.5:1338", "--token", "mva_literal"])).code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const list = await config(file, ["get-contexts"]);
    expect(list.out.split("\n").map((l) => l.trim().split(/\s+/))).toEqual([
      ["CURRENT", "NAME", "MASTER", "AUTH"],
      ["*", "a", "http://127.0.0.1:9", "tokenFile"],
      ["b", "http://10.0.0.5:1338", "token"],
      [""],
    ]);
    expect((await config(file, ["use-context", "b"])).out).toBe('Switched to context "b".\n');
    expect(readConfig(file).currentContext).toBe("b");
    const view = await config(file, ["view"]);
    expect(view.out).toContain("current-context: b");
    expect(view.out).toContain("token: REDACTED");
    expect(view.out).not.toContain("mva_literal");
    // Changing one setting keeps the others.
    await config(file, ["set-context", "b", "--fingerprint", "ab".repeat(32)]);
    expect(readConfig(file).contexts[1]).toEqual({ name: "b", master: "http://10.0.0.5:1338", token: "mva_literal", fingerprint: FP });
    expect((await config(file, ["delete-context", "b"])).code).toBe(0);
    expect(readConfig(file)).toEqual({ currentContext: null, contexts: [{ name: "a", master: "http://127.0.0.1:9", tokenFile }] });
  });

  test.each([
    [["set-context", "new"], "A new context needs --master URL"],
    [["set-context", "x", "--master", "http://h:1", "--token", "a", "--token-file", "/f"], "Give one of --token, --token-file and --token-command"],
    [["set-context", "bad name", "--master", "http://h:1"], 'Invalid context name "bad name"'],
    [["set-context", "x", "--master", "http://h:1", "--ca", "/nonexistent.pem"], 'Cannot read the CA certificate "/nonexistent.pem"'],
    [["use-context", "nope"], 'No context "nope"'],
    [["delete-context", "nope"], 'No context "nope"'],
  ])("%p is refused and changes nothing", async (args, message) => {
    const file = join(temp(), "config.yaml");
    await config(file, ["set-context", "a", "--master", "http://h:1"]);
    const before = readFileSync(file, "utf8");
    const r = await config(file, args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(readFileSync(file, "utf8")).toBe(before);
  });

  test("relative paths are kept absolute, so the context works from any directory", async () => {
    const file = join(temp(), "config.yaml");
    await config(file, ["set-context", "a", "--master", "http://h:1", "--token-file", "some/token"]);
    expect(readConfig(file).contexts[0]?.tokenFile).toBe(join(process.cwd(), "some", "token"));
  });

  test("a damaged file is named with its line, and not rewritten", async () => {
    const file = join(temp(), "config.yaml");
    writeFileSync(file, "contexts:\n  - name: a\n    master: http://h:1\n    colour: blue\n");
    const r = await config(file, ["use-context", "a"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`Invalid config file "${file}" (line 4): unknown key "colour"`);
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, "utf8")).toContain("colour: blue");
  });
});
