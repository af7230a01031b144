/**
 * `client login URL`: checks a token against a master and writes its context
 * (config.ts), made current. Under TLS it shows the SHA-256 fingerprint of
 * the master's certificate and pins it once accepted: on a terminal by
 * answering, elsewhere only with `--fingerprint` given beforehand. A
 * certificate that no system CA vouches for (a self-signed master) is kept
 * next to the config file as the context's `ca`.
 */
import { X509Certificate } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve as absolutePath } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { isIP } from "node:net";
import { defineCommand } from "citty";
import { paint, pinnedFingerprint, type ClientContext } from "./context.ts";
import { checkContextName, parseFingerprint, readConfig, runTokenCommand, writeConfig, type ConfigContext } from "./config.ts";
import { configFileOf, withContext } from "./config-commands.ts";
import { createApiClient, type ClientTls } from "./api-client.ts";
import { isLoopback, parseMasterAddress, type HostPort } from "../core/address.ts";
import { AppError, messageOf, usageError } from "../core/errors.ts";
import { stripControl } from "../core/format.ts";
import { readCertificate } from "../net/tls.ts";
import { readTokenFile } from "../net/tokens.ts";

const PEER_TIMEOUT_MS = 10_000;
const MAX_STDIN_TOKEN = 64 * 1024;

/** The master's certificate as it presents it, and whether a system CA vouches for it. */
export interface PeerCert {
  pem: string;
  fingerprint: string;
  subject: string;
  trusted: boolean;
}

/**
 * Connects to an https master to read its certificate (nothing is sent).
 * @throws AppError E_UNREACHABLE when it cannot be reached within PEER_TIMEOUT_MS
 */
export function peerCertificate(addr: HostPort): Promise<PeerCert> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(new AppError("E_UNREACHABLE", `Cannot read the certificate of the master at ${addr.host}:${addr.port}: ${why}`));
    const socket = connect({ host: addr.host, port: addr.port, rejectUnauthorized: false, ...(isIP(addr.host) ? {} : { servername: addr.host }) }, () => {
      const cert: PeerCertificate = socket.getPeerCertificate();
      socket.destroy();
      clearTimeout(timer);
      if (!cert.raw) return fail("it presented none");
      const pem = new X509Certificate(cert.raw).toString();
      resolve({ pem, fingerprint: cert.fingerprint256.toUpperCase(), subject: stripControl(String(cert.subject?.CN ?? "")), trusted: socket.authorized });
    });
    const timer = setTimeout(() => {
      socket.destroy();
      fail(`no TLS handshake within ${PEER_TIMEOUT_MS / 1000}s`);
    }, PEER_TIMEOUT_MS);
    socket.on("error", (error) => {
      clearTimeout(timer);
      fail(messageOf(error));
    });
  });
}

/** The token login checks and where the context will find it again. */
async function loginToken(args: { "token-file"?: string; "token-command"?: string }, ctx: ClientContext, name: string): Promise<{ token: string; keep: Partial<ConfigContext> }> {
  if (args["token-file"] !== undefined && args["token-command"] !== undefined) throw usageError("Give --token-file or --token-command, not both");
  if (args["token-file"] !== undefined) return { token: readTokenFile(args["token-file"]), keep: { tokenFile: absolutePath(args["token-file"]) } };
  if (args["token-command"] !== undefined) {
    const argv = args["token-command"].trim().split(/\s+/).filter((a) => a !== "");
    if (argv.length === 0) throw usageError("--token-command is empty");
    return { token: runTokenCommand(argv, name), keep: { tokenCommand: argv } };
  }
  if (ctx.terminal.stdinIsTTY) throw usageError("Give the token with --token-file FILE or --token-command COMMAND, or pipe it on stdin (it is not typed where it would show)");
  const token = (await readAll(ctx)).split("\n")[0]?.trim() ?? "";
  if (token === "") throw usageError("No token on stdin");
  return { token, keep: { token } };
}

function readAll(ctx: ClientContext): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const stop = ctx.terminal.readStdin(
      (bytes) => {
        size += bytes.length;
        if (size > MAX_STDIN_TOKEN) {
          stop();
          reject(usageError(`The token on stdin is over ${MAX_STDIN_TOKEN} bytes`));
        } else chunks.push(bytes);
      },
      () => resolve(Buffer.concat(chunks).toString("utf8")),
      reject,
    );
  });
}

/** Shows the certificate and gets it accepted. @throws AppError E_USAGE when it is not */
async function acceptCertificate(cert: PeerCert, url: string, given: string | undefined, ctx: ClientContext): Promise<void> {
  ctx.stderr(`The master at ${url} presents a certificate${cert.subject ? ` for "${cert.subject}"` : ""}${cert.trusted ? "" : " that no system CA vouches for"}:\n  SHA-256 ${cert.fingerprint}\n`);
  if (given !== undefined) {
    if (parseFingerprint(given) !== cert.fingerprint) throw usageError(`The master's certificate is not the one --fingerprint names (${parseFingerprint(given)}): nothing was written`);
    return;
  }
  if (!ctx.terminal.stdinIsTTY) throw usageError("Check that fingerprint with the master's administrator, then run login again with --fingerprint SHA256");
  const answer = (await ctx.terminal.ask("Is this the master's certificate? Pin it and log in? [y/N] ")).trim().toLowerCase();
  if (answer !== "y" && answer !== "yes") throw usageError("Certificate not accepted: nothing was written");
}

/** A context name from a URL's host: 10.0.0.5, master.example.org, ::1 → --1. */
function nameFromHost(host: string): string {
  return host.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 63) || "master";
}

export function loginCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "login", description: "Check a token against the master at URL and save it as a context, made current" },
    args: {
      url: { type: "positional", required: true, description: "Master API URL" },
      name: { type: "string", valueHint: "NAME", description: "Context name (default: the URL's host)" },
      "token-file": { type: "string", valueHint: "FILE", description: "File holding the API token (else: the token on stdin, kept in the config file)" },
      "token-command": { type: "string", valueHint: "COMMAND", description: "Program printing the API token (split at spaces, no shell)" },
      ca: { type: "string", valueHint: "FILE", description: "CA (or self-signed) certificate of an https master, instead of pinning" },
      fingerprint: { type: "string", valueHint: "SHA256", description: "Accept the certificate with this SHA-256 fingerprint without asking" },
      verbose: { type: "boolean", default: false, description: "Show stack traces of failures" },
    },
    async run({ args }) {
      const file = configFileOf(ctx);
      const config = readConfig(file);
      const { url, addr, tls: https } = parseMasterAddress(args.url, "URL");
      const name = checkContextName(args.name ?? nameFromHost(addr.host));
      if (args.ca !== undefined && args.fingerprint !== undefined) throw usageError("Give --ca or --fingerprint, not both");
      const context: ConfigContext = { name, master: url };
      let tls: ClientTls | undefined;
      let keepPem: string | null = null;
      if (args.ca !== undefined) {
        tls = { ca: readCertificate(args.ca, "CA certificate") };
        context.ca = absolutePath(args.ca);
      } else if (https) {
        const cert = await peerCertificate(addr);
        await acceptCertificate(cert, url, args.fingerprint, ctx);
        context.fingerprint = cert.fingerprint;
        keepPem = cert.trusted ? null : cert.pem;
        tls = { ...(keepPem ? { ca: keepPem } : {}), checkServerIdentity: pinnedFingerprint(cert.fingerprint) };
      }
      if (!https && !isLoopback(addr.host)) {
        ctx.stderr(`${paint(ctx, "stderr").yellow("warning")}: ${url} is plain http: the token travels in clear to it at every command\n`);
      }
      const { token, keep } = await loginToken(args, ctx, name);
      const api = createApiClient({ baseUrl: url, token, tokenSource: "given to login", timeoutMs: PEER_TIMEOUT_MS, ...(tls ? { tls } : {}) });
      const nodes = await api.get("/api/v1/nodes");
      if (keepPem !== null) {
        context.ca = join(dirname(file), `${name}.crt`);
        saveCertificate(context.ca, keepPem);
      }
      writeConfig(file, withContext(config, { ...context, ...keep }, true));
      const count = Array.isArray(nodes.json) ? ` (${nodes.json.length} node${nodes.json.length === 1 ? "" : "s"})` : "";
      ctx.stdout(`Logged in to ${url}${count}: context "${name}" written to ${file} and made current.\n`);
    },
  });
}

function saveCertificate(path: string, pem: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, pem, { mode: 0o600 });
    chmodSync(path, 0o600);
  } catch (error) {
    throw new AppError("E_STORAGE", `Cannot write the master's certificate to "${path}": ${messageOf(error)}`, { cause: error });
  }
}
