/**
 * The user's SSH public key in an instance (issue 14): `ssh-key add` appends
 * it to the default user's `~/.ssh/authorized_keys` through an exec of a
 * fixed script (the key is its argument, never part of it), and `launch
 * --ssh-key` puts it in through cloud-init. Both take one public key line,
 * checked here first: a known type, base64 whose first field names that same
 * type, an optional comment, no control characters — so nothing else can
 * reach the file or the cloud-init document.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { AppError, messageOf, usageError } from "../core/errors.ts";

/** Public key types OpenSSH accepts in authorized_keys. */
const KEY_TYPES: ReadonlySet<string> = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
  "ssh-dss",
]);

/** A public key file is one short line; a 16384-bit RSA key is about 2.8 KB. */
const MAX_KEY_BYTES = 16 * 1024;

/** The keys tried when none is given, in this order, under ~/.ssh. */
export const DEFAULT_KEY_FILES = ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"] as const;

/**
 * Checks one public key line (`TYPE BASE64 [COMMENT]`) and returns it without
 * surrounding blank space. @throws AppError E_USAGE saying what is wrong
 */
export function parsePublicKey(text: string, source = "the key"): string {
  const line = text.replace(/^\s+|\s+$/g, "");
  if (line === "") throw usageError(`${source} is empty: expected one public key line, as in ~/.ssh/id_ed25519.pub`);
  if (line.includes("\n")) throw usageError(`${source} has more than one line: give one public key`);
  if (/[\u0000-\u001f\u007f]/.test(line)) throw usageError(`${source} contains control characters`);
  if (line.includes("PRIVATE KEY")) throw usageError(`${source} is a private key: give the .pub file`);
  const [type = "", blob = "", ...comment] = line.split(/ +/);
  if (!KEY_TYPES.has(type)) {
    throw usageError(`${source} is not a public key line: its type ${JSON.stringify(type.slice(0, 40))} is not one of ${[...KEY_TYPES].join(", ")}`);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) throw usageError(`${source}: the key after ${type} is not base64`);
  const bytes = Buffer.from(blob, "base64");
  const length = bytes.length >= 4 ? bytes.readUInt32BE(0) : -1;
  if (length !== type.length || bytes.subarray(4, 4 + length).toString("latin1") !== type) {
    throw usageError(`${source}: the key's data does not start with its type ${type} (a damaged or mislabelled key)`);
  }
  return [type, blob, ...comment].join(" ");
}

/**
 * The public key a command uses: `file` when given, else the first of
 * {@link DEFAULT_KEY_FILES} in `home`/.ssh. @throws AppError E_USAGE
 */
export function readPublicKey(file: string | undefined, home: string | undefined): { key: string; path: string } {
  const candidates = file !== undefined ? [file] : home === undefined ? [] : DEFAULT_KEY_FILES.map((name) => join(home, ".ssh", name));
  const path = file ?? candidates.find((p) => existsSync(p));
  if (path === undefined) {
    const looked = candidates.length > 0 ? ` (looked for ${candidates.join(", ")})` : "";
    throw usageError(`No SSH public key found${looked}: give one with --key FILE, or make one with ssh-keygen -t ed25519`);
  }
  let text: string;
  try {
    if (statSync(path).size > MAX_KEY_BYTES) throw usageError(`"${path}" is too large for a public key (at most ${MAX_KEY_BYTES} bytes)`);
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw usageError(`Cannot read the SSH public key "${path}": ${messageOf(error)}`);
  }
  return { key: parsePublicKey(text, `"${path}"`), path };
}

/**
 * What `ssh-key add` runs in the instance, as `sh -c SCRIPT sh KEY`: the key
 * is `$1`, so no quoting of it is ever needed. Exact permissions (the
 * directory 700, the file 600, new files made under umask 077), and the line
 * appended only when that exact line is not there yet; a file whose last
 * line lacks its newline gets one first. Prints `added` or `present`.
 */
export const AUTHORIZE_SCRIPT = [
  "set -e",
  "umask 077",
  'dir="$HOME/.ssh"',
  'file="$dir/authorized_keys"',
  'mkdir -p "$dir"',
  'chmod 700 "$dir"',
  'touch "$file"',
  'chmod 600 "$file"',
  'if grep -qxF -- "$1" "$file"; then echo present; exit 0; fi',
  'if [ -s "$file" ] && [ -n "$(tail -c 1 "$file")" ]; then printf "\\n" >> "$file"; fi',
  'printf "%s\\n" "$1" >> "$file"',
  "echo added",
].join("\n");

/** The exec argv that authorizes `key` for the instance's default user. */
export function authorizeCommand(key: string): string[] {
  return ["sh", "-c", AUTHORIZE_SCRIPT, "sh", key];
}

/**
 * A cloud-init document that authorizes `key` for the default user:
 * `ssh_authorized_keys` of a new document, or added at the end of the
 * user's own one — kept as it is, comments and all — when that adds the key
 * and changes nothing else (checked by parsing both). A document that lists
 * `ssh_authorized_keys` already, declares `users` without `default` (whose
 * keys cloud-init would not give the default user), or is not a plain block
 * mapping is refused with why: put the key in it yourself then.
 * @throws AppError E_USAGE
 */
export function cloudInitWithKey(document: string | null, key: string): string {
  const entry = `ssh_authorized_keys:\n  - ${JSON.stringify(key)}\n`;
  if (document === null) return `#cloud-config\n${entry}`;
  let parsed: unknown;
  try {
    parsed = Bun.YAML.parse(document);
  } catch (error) {
    throw usageError(`The cloud-init document is not valid YAML: ${messageOf(error)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw usageError("The cloud-init document must be a YAML mapping (it usually starts with #cloud-config)");
  }
  const doc = parsed as Record<string, unknown>;
  const yourself = "add the key to your cloud-init yourself instead of using --ssh-key";
  if ("ssh_authorized_keys" in doc) throw usageError(`The cloud-init document lists ssh_authorized_keys already: ${yourself}`);
  const users = doc["users"];
  if (users !== undefined && !(Array.isArray(users) && users.includes("default"))) {
    throw usageError(`The cloud-init document declares users without "default", so cloud-init would give the key to no one: ${yourself}`);
  }
  const combined = `${document.endsWith("\n") ? document : `${document}\n`}${entry}`;
  let check: unknown;
  try {
    check = Bun.YAML.parse(combined);
  } catch {
    check = null;
  }
  if (!Bun.deepEquals(check, { ...doc, ssh_authorized_keys: [key] })) {
    throw usageError(`The key cannot be added at the end of this cloud-init document (it is not a plain block mapping): ${yourself}`);
  }
  return combined;
}
