/**
 * The pure parts of SSH access and port-forward (issue 14): which key lines
 * pass, the authorize script run for real by sh in a scratch home (exact
 * permissions, idempotent, a missing newline mended), cloud-init with a key
 * added or refused with why, the ssh_config text and its quoting, and port
 * pairs.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "../../lib/core/errors.ts";
import { parsePortPair } from "../../lib/client/port-forward.ts";
import { proxyWord, renderSshConfig } from "../../lib/client/ssh.ts";
import { authorizeCommand, cloudInitWithKey, parsePublicKey, readPublicKey } from "../../lib/client/ssh-keys.ts";

const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIdUF4LvaQK+MTxXmf9FcwIRaqJ4NoFTjnA1BQ4gLICN you@laptop";
const ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLVyGyeQR9+MhXzkcfM3ADeBV2uTtQh2mfrs05r6oWaqmZas23kPuticAjTu4ismu+K+MaxTWC9qVG3D1yUO7D4=";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), "mv-ssh-"));
  dirs.push(d);
  return d;
}

function refusal(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("not refused");
}

describe("a public key line", () => {
  test("passes as it is, blank space around it dropped", () => {
    expect(parsePublicKey(`  ${ED25519}\n`)).toBe(ED25519);
    expect(parsePublicKey(ECDSA)).toBe(ECDSA);
  });

  test.each([
    ["empty", "", "the key is empty"],
    ["two lines", `${ED25519}\n${ECDSA}`, "more than one line"],
    ["a control character", `${ED25519}\u001b[2J`, "control characters"],
    ["a private key", "-----BEGIN OPENSSH PRIVATE KEY-----", "is a private key"],
    ["an unknown type", "ssh-foo AAAA", "its type \"ssh-foo\" is not one of"],
    ["options before the type", `command="rm -rf /" ${ED25519}`, "is not a public key line"],
    ["a body that is not base64", "ssh-ed25519 AAAA$$$", "is not base64"],
    ["a body of another type", `ssh-rsa ${ED25519.split(" ")[1]}`, "does not start with its type ssh-rsa"],
  ])("%s is refused", (_what, text, message) => {
    const error = refusal(() => parsePublicKey(text));
    expect(error.code).toBe("E_USAGE");
    expect(error.message).toContain(message);
  });

  test("the default key is the first of id_ed25519.pub, id_ecdsa.pub, id_rsa.pub; none found says where it looked", () => {
    const home = scratch();
    mkdirSync(join(home, ".ssh"));
    expect(refusal(() => readPublicKey(undefined, home)).message).toContain(`looked for ${join(home, ".ssh", "id_ed25519.pub")}`);
    writeFileSync(join(home, ".ssh", "id_ecdsa.pub"), ECDSA + "\n");
    expect(readPublicKey(undefined, home)).toEqual({ key: ECDSA, path: join(home, ".ssh", "id_ecdsa.pub") });
    writeFileSync(join(home, ".ssh", "id_ed25519.pub"), ED25519 + "\n");
    expect(readPublicKey(undefined, home).key).toBe(ED25519);
    expect(refusal(() => readPublicKey(join(home, "missing.pub"), home)).message).toContain("Cannot read the SSH public key");
  });
});

describe("the authorize script, run by sh", () => {
  function run(home: string, key: string): { code: number; stdout: string } {
    const r = Bun.spawnSync(authorizeCommand(key), { env: { HOME: home, PATH: process.env["PATH"] ?? "/usr/bin:/bin" }, stdout: "pipe", stderr: "pipe" });
    return { code: r.exitCode, stdout: r.stdout.toString() };
  }

  test("adds the key with exact permissions, once; a second run finds it present", () => {
    const home = scratch();
    expect(run(home, ED25519)).toEqual({ code: 0, stdout: "added\n" });
    const file = join(home, ".ssh", "authorized_keys");
    expect(readFileSync(file, "utf8")).toBe(`${ED25519}\n`);
    expect(statSync(join(home, ".ssh")).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(run(home, ED25519)).toEqual({ code: 0, stdout: "present\n" });
    expect(readFileSync(file, "utf8")).toBe(`${ED25519}\n`);
  });

  test("keeps other keys, mends a last line without its newline, and tightens loose permissions", () => {
    const home = scratch();
    mkdirSync(join(home, ".ssh"), { mode: 0o755 });
    const file = join(home, ".ssh", "authorized_keys");
    writeFileSync(file, ECDSA, { mode: 0o644 });
    expect(run(home, ED25519).stdout).toBe("added\n");
    expect(readFileSync(file, "utf8")).toBe(`${ECDSA}\n${ED25519}\n`);
    expect(statSync(join(home, ".ssh")).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test("a key that is only part of a line is not taken for present", () => {
    const home = scratch();
    run(home, ED25519);
    appendFileSync(join(home, ".ssh", "authorized_keys"), `from="10.0.0.1" ${ECDSA}\n`);
    expect(run(home, ECDSA).stdout).toBe("added\n");
  });
});

describe("cloud-init with a key", () => {
  const keys = (doc: string) => (Bun.YAML.parse(doc) as Record<string, unknown>)["ssh_authorized_keys"];

  test("a new document when there is none", () => {
    const doc = cloudInitWithKey(null, ED25519);
    expect(doc.startsWith("#cloud-config\n")).toBe(true);
    expect(keys(doc)).toEqual([ED25519]);
  });

  test("added at the end of the user's own, which is kept as it is", () => {
    const own = "#cloud-config\n# my packages\npackages:\n  - nginx\nruncmd:\n  - |\n    echo hi\n    echo there";
    const doc = cloudInitWithKey(own, ED25519);
    expect(doc.startsWith(own)).toBe(true);
    expect(Bun.YAML.parse(doc)).toEqual({ packages: ["nginx"], runcmd: ["echo hi\necho there\n"], ssh_authorized_keys: [ED25519] });
    expect(keys(cloudInitWithKey("#cloud-config\nusers:\n  - default\n  - name: ops\n", ED25519))).toEqual([ED25519]);
  });

  test.each([
    ["lists keys already", "#cloud-config\nssh_authorized_keys:\n  - ssh-rsa AAAA\n", "lists ssh_authorized_keys already"],
    ["declares users without default", "#cloud-config\nusers:\n  - name: ops\n", 'declares users without "default"'],
    ["is a flow mapping", "{packages: [nginx]}", "not a plain block mapping"],
    ["is not a mapping", "- a\n- b\n", "must be a YAML mapping"],
  ])("a document that %s is refused with why", (_what, own, message) => {
    const error = refusal(() => cloudInitWithKey(own, ED25519));
    expect(error.code).toBe("E_USAGE");
    expect(error.message).toContain(message);
  });
});

describe("ssh-config", () => {
  test("one Host per instance through ssh-proxy, the client named as it runs, flags carried, no token", () => {
    const text = renderSshConfig(
      [
        { name: "web", node: "n1" },
        { name: "db", node: "rack-2.lab" },
      ],
      { self: ["/usr/bin/bun", "/home/you/multiverse/client.ts"], carry: ["--master", "https://m:7777", "--ca", "/etc/mv/ca.pem"], port: 22, user: "ubuntu" },
    );
    expect(text).toContain(
      [
        "Host web.n1.multiverse",
        "  User ubuntu",
        "  Port 22",
        "  HostKeyAlias web.n1.multiverse",
        "  ProxyCommand /usr/bin/bun /home/you/multiverse/client.ts ssh-proxy web@n1 --master https://m:7777 --ca /etc/mv/ca.pem --port %p",
      ].join("\n"),
    );
    expect(text).toContain("Host db.rack-2.lab.multiverse\n");
    expect(text).not.toMatch(/token/i);
  });

  test("words are quoted for the shell ssh runs, and ssh's % tokens cannot be formed", () => {
    expect(proxyWord("/opt/my tools/multiverse")).toBe("'/opt/my tools/multiverse'");
    expect(proxyWord("it's")).toBe("'it'\\''s'");
    expect(proxyWord("100%h")).toBe("100%%h");
    expect(proxyWord("a;b$(x)")).toBe("'a;b$(x)'");
    expect(refusal(() => proxyWord("a\nHost *")).message).toContain("control characters");
  });

  test("a name that could inject ssh_config directives is refused", () => {
    const options = { self: ["/bin/multiverse"], carry: [], port: 22, user: "ubuntu" };
    expect(refusal(() => renderSshConfig([{ name: "web\n  ProxyCommand evil", node: "n1" }], options)).code).toBe("E_USAGE");
    expect(refusal(() => renderSshConfig([{ name: "web", node: "n1 *" }], options)).code).toBe("E_USAGE");
  });
});

describe("port pairs", () => {
  test.each([
    ["8080", { local: 8080, remote: 8080 }],
    ["9000:80", { local: 9000, remote: 80 }],
    [":80", { local: 0, remote: 80 }],
    ["0:80", { local: 0, remote: 80 }],
  ])("%s", (text, pair) => {
    expect(parsePortPair(text)).toEqual(pair);
  });

  test.each(["", "80:", "a:80", "1:2:3", "70000", "0", "8080:0", "-1"])("%j is refused", (text) => {
    expect(refusal(() => parsePortPair(text)).code).toBe("E_USAGE");
  });
});
