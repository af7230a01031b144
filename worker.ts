#!/usr/bin/env bun
/**
 * multiverse worker: runs on a Multipass host, joins the master, and serves
 * the master's live calls.
 */
import { homedir, hostname } from "node:os";
import { join, resolve } from "node:path";
import { defineCommand } from "citty";
import { formatHostPort, isLoopback, parseHostPort, parseMasterAddress } from "./lib/core/address.ts";
import { runCli } from "./lib/cli/run.ts";
import { parseDuration } from "./lib/core/duration.ts";
import { AppError } from "./lib/core/errors.ts";
import { defaultMultipassDataPath, readHostResources } from "./lib/worker/resources.ts";
import { createLog } from "./lib/cli/log.ts";
import { createMultipassCli } from "./lib/multipass/cli.ts";
import { defaultDataDir } from "./lib/core/paths.ts";
import { parseActAsMultipass, selfCommand, simulatedMultipassCommand, simulationBanner } from "./lib/multipass/simulated.ts";
import { readCertificate, serverTls } from "./lib/net/tls.ts";
import { readTokenFile } from "./lib/net/tokens.ts";
import { validateNodeName } from "./lib/core/validate.ts";
import { VERSION } from "./lib/core/version.ts";
import { createWorker } from "./lib/worker/worker.ts";
import { websocketHandler } from "./lib/net/ws.ts";

/** Where a simulated host keeps its state by default: next to the master's tokens. */
function defaultSimDir(): string {
  return join(defaultDataDir(process.platform, process.env, homedir()), "simulated-multipass");
}

const main = defineCommand({
  meta: { name: "multiverse-worker", version: VERSION, description: "Joins a Multipass host to a multiverse master" },
  args: {
    master: { type: "string", valueHint: "HOST:PORT|URL", default: "localhost:1337", description: "The master's cluster address (HOST:PORT, or https://HOST:PORT for TLS)" },
    ca: { type: "string", valueHint: "FILE", description: "CA (or self-signed) certificate of an https master" },
    "tls-cert": { type: "string", valueHint: "FILE", description: "Serve the agent server over TLS with this certificate (PEM)" },
    "tls-key": { type: "string", valueHint: "FILE", description: "The private key of --tls-cert (PEM)" },
    token: { type: "string", valueHint: "TOKEN", description: "Join token (or env MULTIVERSE_JOIN_TOKEN, or --token-file)" },
    "token-file": { type: "string", valueHint: "FILE", description: "File holding the join token" },
    name: { type: "string", valueHint: "NAME", description: "Node name (default: this host's name)" },
    multipass: { type: "string", valueHint: "PATH", default: "multipass", description: "Path of the multipass executable" },
    simulate: { type: "boolean", default: false, description: "Drive a simulated Multipass host (this executable plays multipass) instead of a real one" },
    "simulate-dir": { type: "string", valueHint: "DIR", description: `State of the simulated host (default ${defaultSimDir()})` },
    "agent-addr": {
      type: "string",
      valueHint: "HOST:PORT",
      description: "Where the agent server listens (HOST:PORT, port 0 = any free port; default 127.0.0.1:0 for a master on loopback, else 0.0.0.0:1339)",
    },
    "advertise-addr": { type: "string", valueHint: "HOST:PORT", description: "HOST:PORT the master dials (default: the address the master sees, with the agent's port)" },
    "poll-interval": { type: "string", valueHint: "DURATION", default: "2s", description: "How often to poll multipass list" },
    "multipass-data": { type: "string", valueHint: "DIR", description: `Directory whose filesystem is reported as disk (default ${defaultMultipassDataPath(process.platform)})` },
    verbose: { type: "boolean", default: false, description: "Debug logging" },
  },
  async run({ args }) {
    const log = createLog("worker", { verbose: args.verbose });
    const masterAddress = parseMasterAddress(args.master, "--master");
    const master = masterAddress.addr;
    if (args.ca !== undefined && !masterAddress.tls) throw new AppError("E_USAGE", "--ca is for an https master: give --master https://HOST:PORT");
    const masterTls = args.ca !== undefined ? { ca: readCertificate(args.ca, "CA certificate") } : undefined;
    const agentTls = serverTls(args["tls-cert"], args["tls-key"]);
    // What is on the command line beats the environment.
    const token = args.token ?? (args["token-file"] ? readTokenFile(args["token-file"]) : undefined) ?? process.env["MULTIVERSE_JOIN_TOKEN"];
    if (!token) throw new AppError("E_USAGE", "No join token: pass --token or --token-file, or set MULTIVERSE_JOIN_TOKEN (the master prints where its join token is stored)");
    const name = args.name ?? hostname().split(".")[0] ?? "worker";
    validateNodeName(name);
    const agentAddr = parseHostPort(args["agent-addr"] ?? (isLoopback(master.host) ? "127.0.0.1:0" : "0.0.0.0:1339"), "--agent-addr", { allowZero: true });
    if (!agentTls && !isLoopback(agentAddr.host)) {
      log.warn(`the agent server listens on ${formatHostPort(agentAddr)} without TLS: the master's calls travel in clear text (use --tls-cert and --tls-key)`);
    }
    const advertise = args["advertise-addr"] ? formatHostPort(parseHostPort(args["advertise-addr"], "--advertise-addr")) : null;
    const pollMs = parseDuration(args["poll-interval"], "--poll-interval", { minMs: 100, maxMs: 600_000 });
    const dataPath = args["multipass-data"] ?? defaultMultipassDataPath(process.platform);
    if (args["simulate-dir"] !== undefined && !args.simulate) throw new AppError("E_USAGE", "--simulate-dir needs --simulate");
    if (args.simulate && args.multipass !== "multipass") throw new AppError("E_USAGE", "--simulate and --multipass exclude each other");
    const simDir = args.simulate ? resolve(args["simulate-dir"] ?? defaultSimDir()) : null;
    const multipassCommand = simDir === null ? [args.multipass] : simulatedMultipassCommand(selfCommand(process.execPath, import.meta.path), simDir);
    if (simDir !== null) log.warn(simulationBanner(simDir).join("\n"));

    const worker = createWorker({
      // A list that takes 10 s means a hung daemon; report it rather than wait longer.
      multipass: createMultipassCli({ command: multipassCommand, timeouts: { list: 10_000 } }),
      log,
      name,
      masterUrl: masterAddress.url,
      ...(masterTls ? { masterTls } : {}),
      agentCert: agentTls?.cert ?? null,
      joinToken: token,
      advertiseAddr: advertise,
      version: VERSION,
      pollMs,
      readResources: () => readHostResources(dataPath),
      env: process.env,
      platform: process.platform,
    });
    const agent = Bun.serve({
      hostname: agentAddr.host,
      port: agentAddr.port,
      fetch: worker.agentApp.fetch,
      maxRequestBodySize: 4 * 1024 * 1024,
      ...(agentTls ? { tls: agentTls } : {}),
      websocket: websocketHandler({ maxPayloadLength: 1024 * 1024, backpressureLimit: 64 * 1024 * 1024 }),
    });
    log.info(`worker ${VERSION} "${name}": master to connect ${masterAddress.url}, agent server on ${formatHostPort({ host: agentAddr.host, port: agent.port ?? 0 })}${agentTls ? " (TLS)" : ""}, ${simDir === null ? `multipass "${args.multipass}"` : `SIMULATED multipass in ${simDir}`}`);

    const stop = new AbortController();
    process.once("SIGINT", () => stop.abort());
    process.once("SIGTERM", () => stop.abort());
    await worker.run(agent.port ?? 0, stop.signal);
    log.info("shutting down");
    await agent.stop(true);
    return 0;
  },
});

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
