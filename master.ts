#!/usr/bin/env bun
/**
 * multiverse master: the cluster server workers join, and the API clients use.
 */
import { SERVER_IDLE_TIMEOUT_S } from "./lib/core/timers.ts";
import { homedir } from "node:os";
import { defineCommand } from "citty";
import { formatHostPort } from "./lib/core/address.ts";
import { runCli } from "./lib/cli/run.ts";
import { createLog } from "./lib/cli/log.ts";
import { createAuditStore } from "./lib/master/audit-store.ts";
import { checkMetricsToken, clearTextWarnings, loadMasterTokens, parseMasterFlags } from "./lib/master/flags.ts";
import { createMaster } from "./lib/master/master.ts";
import { defaultDataDir } from "./lib/core/paths.ts";
import { MAX_JOIN_MESSAGE_BYTES } from "./lib/protocol/join.ts";
import { fingerprint, serverTls } from "./lib/net/tls.ts";
import { loadOrCreateToken, readTokenFile } from "./lib/net/tokens.ts";
import { VERSION } from "./lib/core/version.ts";
import { websocketHandler } from "./lib/net/ws.ts";
import { AppError, messageOf } from "./lib/core/errors.ts";
import { lockDataDir, pidAlive } from "./lib/master/data-dir-lock.ts";
import { loadNodeKeys, nodeKeysPath } from "./lib/master/node-keys.ts";
import { databasePath, openDatabase } from "./lib/master/database.ts";
import { loadConsole, unavailableConsole, type ConsolePage } from "./lib/master/ui-assets.ts";
// The web console: Bun bundles it (scripts, styles, fonts) from this import, and embeds it in a compiled executable.
import consoleHtml from "./lib/ui/index.html";

/** The command line: what --help shows, and the man page scripts/man.ts writes from it. */
export const main = defineCommand({
  meta: { name: "multiverse-master", version: VERSION, description: "Cluster server for Multipass hosts, and the API for clients" },
  args: {
    "cluster-addr": { type: "string", valueHint: "HOST:PORT", default: "localhost:1337", description: "Where workers join (HOST:PORT; port 0 = any free port)" },
    "api-addr": { type: "string", valueHint: "HOST:PORT", default: "localhost:1338", description: "Where clients call the API (HOST:PORT; port 0 = any free port)" },
    "data-dir": { type: "string", valueHint: "DIR", description: `Tokens and state (default ${defaultDataDir(process.platform, process.env, homedir())})` },
    "heartbeat-interval": { type: "string", valueHint: "DURATION", default: "5s", description: "How often workers must report; NotReady after 3 silent intervals" },
    "down-grace": { type: "string", valueHint: "DURATION", default: "15m", description: "How long a disconnected (Down) node stays listed" },
    "tls-cert": { type: "string", valueHint: "FILE", description: "Serve both listeners over TLS with this certificate (PEM)" },
    "tls-key": { type: "string", valueHint: "FILE", description: "The private key of --tls-cert (PEM)" },
    "node-timeout": { type: "string", valueHint: "DURATION", default: "90s", description: "Per-node time limit of live calls such as info (at most 10m)" },
    "cpu-overcommit": { type: "string", valueHint: "RATIO", default: "4", description: "Virtual CPUs placement puts on each host CPU (1 = never more VM CPUs than host CPUs)" },
    "metrics-token-file": { type: "string", valueHint: "FILE", description: "A read-only token for GET /metrics (a Prometheus scraper's), besides the API token" },
    verbose: { type: "boolean", default: false, description: "Debug logging" },
  },
  async run({ args }) {
    const log = createLog("master", { verbose: args.verbose });
    const config = parseMasterFlags(args, { env: process.env, platform: process.platform, home: homedir() });
    const tls = serverTls(config.tlsCert, config.tlsKey);
    const lock = lockDataDir(config.dataDir, process.pid, pidAlive);
    try {
      return await serve(config, tls, log);
    } finally {
      lock.release();
    }
  },
});

/**
 * Bundles the web console on a private loopback server, reads the page and
 * its files into memory (lib/master/ui-assets.ts) and stops that server, so the API
 * server serves them with its own headers. A console that cannot be bundled
 * is no reason to stop: the API is served, and `/` says why there is no page.
 */
async function bundleConsole(): Promise<ConsolePage> {
  let server: ReturnType<typeof Bun.serve> | null = null;
  try {
    server = Bun.serve({ hostname: "127.0.0.1", port: 0, development: false, routes: { "/": consoleHtml } });
    return await loadConsole(`http://127.0.0.1:${server.port}`);
  } catch (error) {
    return unavailableConsole(`the console's page could not be bundled: ${messageOf(error)}`);
  } finally {
    await server?.stop(true);
  }
}

/** Binds a listener, or says which one could not be bound and why (a port in use, a foreign address). */
function listen(what: string, addr: { host: string; port: number }, start: () => ReturnType<typeof Bun.serve>): ReturnType<typeof Bun.serve> {
  try {
    return start();
  } catch (error) {
    throw new AppError("E_CONFLICT", `Cannot listen for ${what} on ${formatHostPort(addr)}: ${messageOf(error)}`, { cause: error });
  }
}

async function serve(config: ReturnType<typeof parseMasterFlags>, tls: ReturnType<typeof serverTls>, log: ReturnType<typeof createLog>): Promise<number> {
  for (const warning of clearTextWarnings(config, tls !== null)) log.warn(warning);
  const tokens = loadMasterTokens(config, loadOrCreateToken);
  for (const note of tokens.notes) log.info(note);
  const metricsToken = config.metricsTokenFile === undefined ? null : checkMetricsToken(readTokenFile(config.metricsTokenFile), tokens);
  if (config.metricsTokenFile !== undefined) log.info(`metrics token: ${config.metricsTokenFile} (opens GET /metrics only)`);

  const database = openDatabase(databasePath(config.dataDir));
  log.info(`database: ${database.path} (schema version ${database.version})`);
  const nodeKeys = loadNodeKeys(database, Date.now, { importFrom: nodeKeysPath(config.dataDir), warn: (m) => log.warn(m) });
  const audit = createAuditStore({ database, importFrom: config.auditImportPath, warn: (m) => log.warn(m) });
  log.info(`audit trail: ${database.path}`);
  const { clusterAddr, apiAddr } = config;
  const page = await bundleConsole();
  if (page.state === "unavailable") log.warn(`web console: ${page.reason}; the API is served without it`);
  const master = createMaster({
    log,
    joinToken: tokens.join,
    apiToken: tokens.api,
    heartbeatMs: config.heartbeatMs,
    downGraceMs: config.downGraceMs,
    nodeTimeoutMs: config.nodeTimeoutMs,
    version: VERSION,
    audit,
    cpuOvercommit: config.cpuOvercommit,
    nodeKeys,
    console: page,
    database,
    metricsToken: () => metricsToken,
  });
  const servers: ReturnType<typeof Bun.serve>[] = [];
  try {
    const cluster = listen("workers (--cluster-addr)", clusterAddr, () => Bun.serve({
      hostname: clusterAddr.host,
      port: clusterAddr.port,
      fetch: master.clusterApp.fetch,
      idleTimeout: SERVER_IDLE_TIMEOUT_S,
      maxRequestBodySize: 1024 * 1024,
      ...(tls ? { tls } : {}),
      websocket: websocketHandler({ maxPayloadLength: MAX_JOIN_MESSAGE_BYTES }),
    }));
    servers.push(cluster);
    const apiServer = listen("clients (--api-addr)", apiAddr, () => Bun.serve({
      hostname: apiAddr.host,
      port: apiAddr.port,
      fetch: master.apiApp.fetch,
      idleTimeout: SERVER_IDLE_TIMEOUT_S,
      // A backstop far above the API's own 9 MiB limit, which answers 413 in JSON.
      maxRequestBodySize: 64 * 1024 * 1024,
      ...(tls ? { tls } : {}),
      websocket: websocketHandler({ maxPayloadLength: 1024 * 1024, backpressureLimit: 64 * 1024 * 1024 }),
    }));
    servers.push(apiServer);
    const scheme = tls ? "https" : "http";
    log.info(`master ${VERSION}: cluster server on ${formatHostPort({ host: clusterAddr.host, port: cluster.port ?? 0 })} (${scheme})`);
    log.info(`master ${VERSION}: api server on ${formatHostPort({ host: apiAddr.host, port: apiServer.port ?? 0 })} (${scheme})`);
    if (tls) log.info(`TLS certificate fingerprint (SHA-256): ${fingerprint(tls.cert)}`);

    const signal = await new Promise<string>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
    });
    log.info(`${signal}: shutting down`);
    return 0;
  } finally {
    master.close();
    await Promise.all(servers.map((server) => server.stop(true)));
    database.close();
  }
}

if (import.meta.main) {
  const verbose = process.argv.includes("--verbose");
  const code = await runCli(main, process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    verbose,
  });
  // A master that failed must not linger (under Restart=always it would look
  // healthy and serve nothing): whatever is still open, exit now.
  if (code !== 0) process.exit(code);
  process.exitCode = code;
}
