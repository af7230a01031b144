#!/usr/bin/env bun
/**
 * multiverse worker: runs on a Multipass host, joins the master, and serves
 * the master's live calls.
 */
import { SERVER_IDLE_TIMEOUT_S } from "./lib/core/timers.ts";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { join } from "node:path";
import { defineCommand } from "citty";
import { formatHostPort } from "./lib/core/address.ts";
import { runCli } from "./lib/cli/run.ts";
import { defaultMultipassDataPath, readHostResources } from "./lib/worker/resources.ts";
import { createLog } from "./lib/cli/log.ts";
import { createMultipassCli } from "./lib/multipass/cli.ts";
import { spawnExec } from "./lib/multipass/exec.ts";
import { createProcessLedger, withLedger } from "./lib/worker/leftovers.ts";
import { parseActAsMultipass } from "./lib/multipass/simulated.ts";
import { readCertificate, serverTls } from "./lib/net/tls.ts";
import { readTokenFile } from "./lib/net/tokens.ts";
import { VERSION } from "./lib/core/version.ts";
import { AppError, errnoOf, messageOf, usageError } from "./lib/core/errors.ts";
import { defaultSimDir, parseWorkerFlags, simConfigWithTiming } from "./lib/worker/flags.ts";
import { TIMING_PRESETS } from "./lib/sim/timing.ts";
import { createWorker } from "./lib/worker/worker.ts";
import { loadOrCreateIdentity } from "./lib/worker/identity.ts";
import { defaultDataDir } from "./lib/core/paths.ts";
import { websocketHandler } from "./lib/net/ws.ts";

/** The command line: what --help shows, and the man page scripts/man.ts writes from it. */
export const main = defineCommand({
  meta: { name: "multiverse-worker", version: VERSION, description: "Joins a Multipass host to a multiverse master" },
  args: {
    master: { type: "string", valueHint: "HOST:PORT|URL", default: "localhost:1337", description: "The master's cluster address (HOST:PORT, or https://HOST:PORT for TLS)" },
    ca: { type: "string", valueHint: "FILE", description: "CA (or self-signed) certificate of an https master" },
    "tls-cert": { type: "string", valueHint: "FILE", description: "Serve the agent server over TLS with this certificate (PEM)" },
    "tls-key": { type: "string", valueHint: "FILE", description: "The private key of --tls-cert (PEM)" },
    token: { type: "string", valueHint: "TOKEN", description: "Join token (or env MULTIVERSE_JOIN_TOKEN, or --token-file)" },
    "token-file": { type: "string", valueHint: "FILE", description: "File holding the join token" },
    name: { type: "string", valueHint: "NAME", description: "Node name (default: this host's name)" },
    "data-dir": { type: "string", valueHint: "DIR", description: `Keeps this node's key, which binds its name to it (default ${defaultDataDir(process.platform, process.env, homedir())})` },
    multipass: { type: "string", valueHint: "PATH", default: "multipass", description: "Path of the multipass executable" },
    simulate: { type: "boolean", default: false, description: "Drive a simulated Multipass host (this executable plays multipass) instead of a real one" },
    "simulate-dir": { type: "string", valueHint: "DIR", description: `State of the simulated host (default ${defaultSimDir(process.platform, process.env, homedir())})` },
    "sim-timing": {
      type: "string",
      valueHint: "PROFILE",
      description: `Pace the simulated host like a real Multipass (${Object.keys(TIMING_PRESETS).join(", ")}: a launch takes a minute or more); kept in its config.json`,
    },
    "agent-addr": {
      type: "string",
      valueHint: "HOST:PORT",
      description: "Where the agent server listens (HOST:PORT, port 0 = any free port; default 127.0.0.1:0 for a master on loopback, else 0.0.0.0:1339)",
    },
    "advertise-addr": { type: "string", valueHint: "HOST:PORT", description: "HOST:PORT the master dials (default: the address the master sees, with the agent's port)" },
    "poll-interval": { type: "string", valueHint: "DURATION", default: "2s", description: "How often to poll multipass list" },
    "multipass-data": { type: "string", valueHint: "DIR", description: `Directory whose filesystem is reported as disk (default ${defaultMultipassDataPath(process.platform)})` },
    "session-grace": {
      type: "string",
      valueHint: "DURATION",
      default: "10m",
      description: "How long a shell whose client went away (lost network, closed terminal, master restart) is kept for it to attach again; 0 ends it at once",
    },
    "max-detached-sessions": { type: "string", valueHint: "N", default: "32", description: "Most detached shells kept; past it the one idle the longest ends" },
    verbose: { type: "boolean", default: false, description: "Debug logging" },
  },
  async run({ args }) {
    const log = createLog("worker", { verbose: args.verbose });
    const config = parseWorkerFlags(args, {
      env: process.env,
      platform: process.platform,
      hostname: hostname(),
      home: homedir(),
      cwd: process.cwd(),
      execPath: process.execPath,
      entryPath: import.meta.path,
      simTimingPresets: Object.keys(TIMING_PRESETS),
      read: { certificate: readCertificate, serverTls, tokenFile: readTokenFile },
      warn: (message) => log.warn(message),
    });
    const { agentAddr, agentTls, simDir } = config;
    if (simDir !== null && config.simTiming !== null) {
      log.info(`the simulated host is paced by the "${config.simTiming}" timing profile: ${writeSimTiming(simDir, config.simTiming)}`);
    }

    const identity = loadOrCreateIdentity(config.dataDir, config.name);
    log.info(`node key: ${identity.path}${identity.created ? " (created)" : ""}`);

    const ledger = openSessionLedger(simDir, config.name, (error) => log.warn(`Cannot record a session process: ${messageOf(error)}`));
    const reaped = ledger.reap();
    if (reaped.length > 0) log.warn(`ended ${reaped.length} session process(es) left by a previous run: ${reaped.join(", ")}`);

    const worker = createWorker({
      // The driver's own bounds: a list queued behind a stop is a busy daemon, not a hung one (CONTRACT §3.3).
      multipass: createMultipassCli({ command: config.multipassCommand, spawnExec: withLedger(spawnExec, ledger) }),
      log,
      name: config.name,
      key: identity.key,
      masterUrl: config.masterUrl,
      ...(config.masterTls ? { masterTls: config.masterTls } : {}),
      agentCert: agentTls?.cert ?? null,
      joinToken: config.joinToken,
      advertiseAddr: config.advertiseAddr,
      version: VERSION,
      pollMs: config.pollMs,
      readResources: () => readHostResources(config.dataPath),
      env: process.env,
      platform: process.platform,
      sessionGraceMs: config.sessionGraceMs,
      maxDetachedSessions: config.maxDetachedSessions,
    });
    const agent = Bun.serve({
      hostname: agentAddr.host,
      port: agentAddr.port,
      fetch: worker.agentApp.fetch,
      idleTimeout: SERVER_IDLE_TIMEOUT_S,
      maxRequestBodySize: 4 * 1024 * 1024,
      ...(agentTls ? { tls: agentTls } : {}),
      websocket: websocketHandler({ maxPayloadLength: 1024 * 1024, backpressureLimit: 64 * 1024 * 1024 }),
    });
    log.info(`worker ${VERSION} "${config.name}": master to connect ${config.masterUrl}, agent server on ${formatHostPort({ host: agentAddr.host, port: agent.port ?? 0 })}${agentTls ? " (TLS)" : ""}, ${simDir === null ? `multipass "${args.multipass}"` : `SIMULATED multipass in ${simDir}`}`);

    const stop = new AbortController();
    process.once("SIGINT", () => stop.abort());
    process.once("SIGTERM", () => stop.abort());
    await worker.run(agent.port ?? 0, stop.signal);
    log.info("shutting down");
    await agent.stop(true);
    return 0;
  },
});

/**
 * The ledger of this worker's session processes: in the simulated host's
 * directory, else under XDG_STATE_HOME (~/.local/state) — one file per node
 * name, as two workers may share a host.
 */
function openSessionLedger(simDir: string | null, name: string, onError: (error: unknown) => void) {
  const dir = simDir ?? join(process.env["XDG_STATE_HOME"] || join(homedir(), ".local", "state"), "multiverse");
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    onError(error);
  }
  return createProcessLedger(join(dir, `worker-${name}-sessions`), onError);
}

/**
 * Sets `timing` in the simulated host's config.json, keeping its other keys;
 * returns the file's path. The stand-in re-reads the file on every call, so
 * it is replaced whole, never seen half-written.
 * @throws AppError E_USAGE when the file cannot be read, parsed or written
 */
function writeSimTiming(simDir: string, profile: string): string {
  const path = join(simDir, "config.json");
  const temp = `${path}.${process.pid}.tmp`;
  try {
    let text: string | null = null;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      if (errnoOf(error) !== "ENOENT") throw error;
    }
    const next = simConfigWithTiming(text, profile, path);
    mkdirSync(simDir, { recursive: true });
    writeFileSync(temp, next);
    renameSync(temp, path);
    return path;
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw usageError(`Cannot set --sim-timing in "${path}": ${messageOf(error)}`, { cause: error });
  }
}

if (import.meta.main) {
  // Re-run by a simulating worker as its `multipass`: be the stand-in, nothing else.
  const actAs = parseActAsMultipass(process.argv.slice(2));
  if (actAs !== null) {
    const { main: simulate } = await import("./lib/sim/main.ts");
    process.exit(await simulate(actAs.args, { ...process.env, MULTIPASS_SIM_DIR: actAs.simDir }));
  }
  process.exitCode = await runCli(main, process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    verbose: process.argv.includes("--verbose"),
  });
}
