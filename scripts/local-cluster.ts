#!/usr/bin/env bun
/**
 * `npm start`: a whole cluster on this host — a master and one worker — on
 * the real `multipass` when it is installed, else on the simulated Multipass
 * host (`worker --simulate`: the worker plays the stand-in of lib/sim).
 * Prints what to try, then runs until Ctrl-C.
 *
 * Flags: --data-dir DIR, --cluster-addr HOST:PORT, --api-addr HOST:PORT,
 * --simulated (use the simulated host even when multipass is installed),
 * --realistic (pace the simulated host like a real one: worker --sim-timing
 * realistic; `npm start -- --realistic`).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import pc from "picocolors";
import { defaultDataDir } from "../lib/core/paths.ts";
import { selfCommand, simulatedMultipassCommand } from "../lib/multipass/simulated.ts";

const ROOT = resolve(import.meta.dir, "..");
const WORKER = join(ROOT, "worker.ts");

const LOCAL_CLUSTER_HELP = `npm start -- [options]: a master and one worker on this host, on the real multipass when it
is installed, else on the simulated Multipass host. Runs until Ctrl-C.

Options:
  --data-dir DIR            The master's data dir: tokens, audit trail, the simulated host (default: the master's own)
  --cluster-addr HOST:PORT  Where the worker joins (default: localhost:1337)
  --api-addr HOST:PORT      Where clients call the API (default: localhost:1338); change it when 1338 is taken
  --simulated               Use the simulated host even when multipass is installed
  --realistic               Pace the simulated host like a real Multipass (worker --sim-timing realistic)
  -h, --help                Show this help
`;

function parseFlags(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        "data-dir": { type: "string" },
        "cluster-addr": { type: "string", default: "localhost:1337" },
        "api-addr": { type: "string", default: "localhost:1338" },
        simulated: { type: "boolean", default: false },
        realistic: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}\n\n${LOCAL_CLUSTER_HELP}`);
    process.exit(2);
  }
}

const values = parseFlags(process.argv.slice(2));
if (values.help) {
  console.log(LOCAL_CLUSTER_HELP);
  process.exit(0);
}
const dataDir = values["data-dir"] ?? defaultDataDir(process.platform, process.env, homedir());
const realMultipass = values.simulated ? null : Bun.which("multipass");
const env: Record<string, string | undefined> = { ...process.env };
const simDir = realMultipass ? null : join(dataDir, "simulated-multipass");

if (simDir !== null) {
  mkdirSync(simDir, { recursive: true });
  const banner = "SIMULATED MULTIPASS: no `multipass` on PATH, so the worker plays it (worker --simulate)";
  console.log(pc.bgYellow(pc.black(` ${banner} `)));
  console.log(pc.yellow(`  the simulated host of lib/sim, with its state in ${simDir}`));
  console.log(pc.yellow("  Install Multipass (https://canonical.com/multipass) to manage real VMs.\n"));
  const multipass = simulatedMultipassCommand(selfCommand(process.execPath, WORKER), simDir);
  const list = Bun.spawnSync([...multipass, "list", "--format", "json"], { env });
  if (list.exitCode === 0 && /"list": \[\s*\]/.test(list.stdout.toString())) {
    console.log("Launching a first simulated instance, primary …");
    Bun.spawnSync([...multipass, "launch", "--name", "primary"], { env, stdout: "ignore", stderr: "inherit" });
  }
  if (values.realistic) {
    console.log(pc.yellow(`  Paced like a real Multipass (worker --sim-timing realistic): a launch takes a minute or more, a stop 10 s.`));
    console.log(pc.yellow(`  The profile stays in ${join(simDir, "config.json")} until you remove its "timing".\n`));
  }
} else {
  console.log(pc.green(`Using the real multipass at ${realMultipass}`));
  if (values.realistic) console.log("(--realistic paces the simulated host; the real multipass keeps its own pace)");
}

const children: { name: string; proc: ReturnType<typeof Bun.spawn> }[] = [];

function start(name: string, argv: string[], color: (s: string) => string, ready: RegExp): Promise<void> {
  const proc = Bun.spawn([process.execPath, ...argv], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe", cwd: ROOT });
  children.push({ name, proc });
  return new Promise((resolveReady, rejectReady) => {
    let seen = "";
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      let partial = "";
      for await (const chunk of stream) {
        partial += decoder.decode(chunk, { stream: true });
        const lines = partial.split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          console.log(`${color(name.padEnd(6))} ${line}`);
          seen += line + "\n";
          if (ready.test(seen)) resolveReady();
        }
      }
    };
    void pump(proc.stdout as ReadableStream<Uint8Array>);
    void pump(proc.stderr as ReadableStream<Uint8Array>);
    void proc.exited.then((code) => {
      rejectReady(new Error(`${name} exited with code ${code}`));
      shutdown(`${name} exited with code ${code}`, 1);
    });
  });
}

let stopping = false;
function shutdown(why: string, code: number): void {
  if (stopping) return;
  stopping = true;
  console.log(`\n${why}; stopping the local cluster`);
  for (const c of children) c.proc.kill("SIGTERM");
  const timer = setTimeout(() => children.forEach((c) => c.proc.kill("SIGKILL")), 5000);
  void Promise.all(children.map((c) => c.proc.exited)).then(() => {
    clearTimeout(timer);
    process.exit(code);
  });
}
process.on("SIGINT", () => shutdown("Ctrl-C", 0));
process.on("SIGTERM", () => shutdown("SIGTERM", 0));

try {
  await start("master", ["master.ts", "--data-dir", dataDir, "--cluster-addr", values["cluster-addr"]!, "--api-addr", values["api-addr"]!], pc.magenta, /api server on/);
  const joinToken = join(dataDir, "join-token");
  if (!existsSync(joinToken)) throw new Error(`The master did not create ${joinToken}`);
  const multipass = simDir === null ? ["--multipass", realMultipass ?? "multipass"] : ["--simulate", "--simulate-dir", simDir, ...(values.realistic ? ["--sim-timing", "realistic"] : [])];
  await start("worker", ["worker.ts", "--master", values["cluster-addr"]!, "--token-file", joinToken, "--data-dir", dataDir, ...multipass], pc.cyan, /joined with id/);
} catch (error) {
  shutdown((error as Error).message, 1);
}

if (!stopping) {
  const api = values["api-addr"]!;
  const tokenFile = join(dataDir, "api-token");
  const token = readFileSync(tokenFile, "utf8").trim() ? `$(cat '${tokenFile}')` : "<API token>";
  const name = hostname().split(".")[0];
  // The client looks for localhost:1338 and the default data dir's token by itself; anything else it must be told.
  const customApi = api !== "localhost:1338";
  const customDir = values["data-dir"] !== undefined;
  const exports = [
    ...(customApi ? [`  export MULTIVERSE_MASTER=http://${api}`] : []),
    ...(customApi || customDir ? [`  export MULTIVERSE_API_TOKEN=${token}`] : []),
  ];
  console.log(`
${pc.bold(`The local cluster is up: master on ${api}, worker "${name}".`)} Try, in another terminal:

${exports.length > 0 ? `${exports.join("\n")}\n` : ""}  npx bun client.ts nodes
  npx bun client.ts instances
  npx bun client.ts info
  npx bun client.ts info primary --json${simDir !== null && values.realistic ? "\n  npx bun client.ts launch web          # about a minute, as on a real host" : ""}
  curl -s -H "Authorization: Bearer ${token}" http://${api}/api/v1/instances

${exports.length > 0 ? `The client reads the master and token from those variables (or --master and --token-file ${tokenFile}).` : `The client finds the API token in ${tokenFile} on this machine;\nelsewhere pass --token or set MULTIVERSE_API_TOKEN.`}

The web console: open http://${api}/ in a browser and log in with that token
(${pc.bold(`cat '${tokenFile}'`)}). Ctrl-C stops the cluster.
`);
}
