#!/usr/bin/env bun
/**
 * multiverse master: the cluster server workers join, and the API clients use.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { defineCommand } from "citty";
import { formatHostPort, isLoopback, parseHostPort } from "./lib/core/address.ts";
import { runCli } from "./lib/cli/run.ts";
import { AppError } from "./lib/core/errors.ts";
import { parseDuration } from "./lib/core/duration.ts";
import { createLog } from "./lib/cli/log.ts";
import { createAuditLog } from "./lib/master/audit-log.ts";
import { createMaster } from "./lib/master/master.ts";
import { defaultDataDir } from "./lib/core/paths.ts";
import { MAX_JOIN_MESSAGE_BYTES } from "./lib/protocol/join.ts";
import { fingerprint, serverTls } from "./lib/net/tls.ts";
import { loadOrCreateToken } from "./lib/net/tokens.ts";
import { VERSION } from "./lib/core/version.ts";
import { websocketHandler } from "./lib/net/ws.ts";

const main = defineCommand({
  meta: { name: "multiverse-master", version: VERSION, description: "Cluster server for Multipass hosts, and the API for clients" },
  args: {
    "cluster-addr": { type: "string", valueHint: "HOST:PORT", default: "localhost:1337", description: "Where workers join (HOST:PORT; port 0 = any free port)" },
    "api-addr": { type: "string", valueHint: "HOST:PORT", default: "localhost:1338", description: "Where clients call the API (HOST:PORT; port 0 = any free port)" },
    "data-dir": { type: "string", valueHint: "DIR", description: `Tokens and state (default ${defaultDataDir(process.platform, process.env, homedir())})` },
    "heartbeat-interval": { type: "string", valueHint: "DURATION", default: "5s", description: "How often workers must report; NotReady after 3 silent intervals" },
    "down-grace": { type: "string", valueHint: "DURATION", default: "15m", description: "How long a disconnected (Down) node stays listed" },
    "tls-cert": { type: "string", valueHint: "FILE", description: "Serve both listeners over TLS with this certificate (PEM)" },
    "tls-key": { type: "string", valueHint: "FILE", description: "The private key of --tls-cert (PEM)" },
    "node-timeout": { type: "string", valueHint: "DURATION", default: "10s", description: "Per-node time limit of live calls such as info" },
    "cpu-overcommit": { type: "string", valueHint: "RATIO", default: "4", description: "Virtual CPUs placement puts on each host CPU (1 = never more VM CPUs than host CPUs)" },
    verbose: { type: "boolean", default: false, description: "Debug logging" },
  },
  async run({ args }) {
    const log = createLog("master", { verbose: args.verbose });
    const clusterAddr = parseHostPort(args["cluster-addr"], "--cluster-addr", { allowZero: true });
    const apiAddr = parseHostPort(args["api-addr"], "--api-addr", { allowZero: true });
    const heartbeatMs = parseDuration(args["heartbeat-interval"], "--heartbeat-interval", { minMs: 100, maxMs: 300_000 });
    const downGraceMs = parseDuration(args["down-grace"], "--down-grace", { minMs: 0 });
    const nodeTimeoutMs = parseDuration(args["node-timeout"], "--node-timeout", { minMs: 100, maxMs: 120_000 });
    const dataDir = args["data-dir"] ?? defaultDataDir(process.platform, process.env, homedir());
    const cpuOvercommit = Number(args["cpu-overcommit"]);
    if (!/^\d+(\.\d+)?$/.test(args["cpu-overcommit"]) || cpuOvercommit < 1 || cpuOvercommit > 64) {
      throw new AppError("E_USAGE", `Invalid --cpu-overcommit "${args["cpu-overcommit"]}": expected a ratio from 1 to 64`);
    }
    const tls = serverTls(args["tls-cert"], args["tls-key"]);
    for (const [flag, addr] of [["--cluster-addr", clusterAddr], ["--api-addr", apiAddr]] as const) {
      if (!tls && !isLoopback(addr.host)) log.warn(`${flag} ${formatHostPort(addr)} is not loopback and TLS is off: tokens travel in clear text (use --tls-cert and --tls-key)`);
    }

    const joinToken = loadOrCreateToken(dataDir, "join", process.env["MULTIVERSE_JOIN_TOKEN"]);
    const api = loadOrCreateToken(dataDir, "api", process.env["MULTIVERSE_API_TOKEN"]);
    if (joinToken.token === api.token) throw new Error("The join token and the API token must differ");
    for (const [kind, t] of [["join", joinToken], ["API", api]] as const) {
      log.info(t.source === "env" ? `${kind} token: from the environment` : `${kind} token: ${t.path}${t.source === "created" ? " (created)" : ""}`);
    }

    const auditPath = join(dataDir, "events.jsonl");
    const audit = createAuditLog({ path: auditPath, warn: (m) => log.warn(m) });
    log.info(`audit trail: ${auditPath}`);
    const master = createMaster({ log, joinToken: joinToken.token, apiToken: api.token, heartbeatMs, downGraceMs, nodeTimeoutMs, version: VERSION, audit, cpuOvercommit });
    const cluster = Bun.serve({
      hostname: clusterAddr.host,
      port: clusterAddr.port,
      fetch: master.clusterApp.fetch,
      maxRequestBodySize: 1024 * 1024,
      ...(tls ? { tls } : {}),
      websocket: websocketHandler({ maxPayloadLength: MAX_JOIN_MESSAGE_BYTES }),
    });
    const apiServer = Bun.serve({
      hostname: apiAddr.host,
      port: apiAddr.port,
      fetch: master.apiApp.fetch,
      // A backstop far above the API's own 9 MiB limit, which answers 413 in JSON.
      maxRequestBodySize: 64 * 1024 * 1024,
      ...(tls ? { tls } : {}),
      websocket: websocketHandler({ maxPayloadLength: 1024 * 1024, backpressureLimit: 64 * 1024 * 1024 }),
    });
    const scheme = tls ? "https" : "http";
    log.info(`master ${VERSION}: cluster server on ${formatHostPort({ host: clusterAddr.host, port: cluster.port ?? 0 })} (${scheme})`);
    log.info(`master ${VERSION}: api server on ${formatHostPort({ host: apiAddr.host, port: apiServer.port ?? 0 })} (${scheme})`);
    if (tls) log.info(`TLS certificate fingerprint (SHA-256): ${fingerprint(tls.cert)}`);

    const signal = await new Promise<string>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
    });
    log.info(`${signal}: shutting down`);
    master.close();
    await Promise.all([cluster.stop(true), apiServer.stop(true)]);
    return 0;
  },
});

if (import.meta.main) {
  const verbose = process.argv.includes("--verbose");
  process.exitCode = await runCli(main, process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    verbose,
  });
}
