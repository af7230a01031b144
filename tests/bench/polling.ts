/**
 * Polling benchmark: the SSH load an idle worker's monitoring puts on its
 * host. The host monitor (lib/worker/host-monitor.ts) runs in this process
 * with the real CLI driver against the simulated host (lib/sim), which has
 * 20 running instances and logs one ssh.log line per SSH-backed lookup into
 * an instance, as the real daemon would run one SSH command. Two modes, one
 * after the other, each polling every 2 s for 30 s from its first poll:
 *
 * - before: a plain `multipass list` every poll (the monitor's
 *   `addressLookup: "every-poll"`, the old behaviour);
 * - after: `list --no-ipv4` every poll, addresses looked up only when an
 *   instance starts running or every 30 s (the default).
 *
 * Prints the lookups counted in each window and the same extrapolated to a
 * minute. Nothing passes or fails on the figures.
 *
 *   bun run bench               (all benchmarks)
 *   bun tests/bench/polling.ts  [--instances 20] [--seconds 30] [--poll 2000]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { array, field, object, parseJson, string } from "../../lib/core/parse.ts";
import { createMultipassCli } from "../../lib/multipass/cli.ts";
import { selfCommand, simulatedMultipassCommand } from "../../lib/multipass/simulated.ts";
import type { HostResources } from "../../lib/protocol/join.ts";
import type { AddressLookup } from "../../lib/worker/addresses.ts";
import { createHostMonitor } from "../../lib/worker/host-monitor.ts";
import { createTestLog } from "../support/test-log.ts";
import { removeTempDirs, tempDir } from "../e2e/harness.ts";

const WORKER_ENTRY = join(import.meta.dir, "..", "..", "worker.ts");

const RESOURCES: HostResources = { cpus: 8, load: [0, 0, 0], memory: { total: 32 * 1024 ** 3, available: 16 * 1024 ** 3 }, disk: { total: 500 * 1024 ** 3, available: 300 * 1024 ** 3 } };

interface Mode {
  label: string;
  lookup: AddressLookup;
}

const MODES: Mode[] = [
  { label: "before: plain list every poll", lookup: "every-poll" },
  { label: "after: list --no-ipv4, addresses when due", lookup: "on-change" },
];

interface Figures {
  lists: number;
  /** Lists without --no-ipv4: the ones that SSH into every running instance. */
  plain: number;
  lookups: number;
  perMinute: number;
}

/** A simulated host with `count` running instances, each with an address. */
function seededHost(count: number): string {
  const dir = tempDir("bench-polling");
  const instances = Array.from({ length: count }, (_, i) => ({ name: `vm${i + 1}`, state: "Running", ipv4: [`10.20.0.${i + 2}`] }));
  writeFileSync(join(dir, "state.json"), JSON.stringify({ instances }));
  return dir;
}

type Entry = ReturnType<typeof object>;

/** Lines of a JSON-lines log of the sim whose `time` lies in [from, to) and that `keep` accepts. */
function linesIn(path: string, from: number, to: number, keep: (entry: Entry) => boolean = () => true): number {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return 0;
  }
  let count = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const entry = object(parseJson(line, "log line"), "log line");
    const time = Date.parse(field(entry, "time", "log line", string));
    if (time < from || time >= to) continue;
    if (keep(entry)) count++;
  }
  return count;
}

async function measure(mode: Mode, instances: number, seconds: number, pollMs: number): Promise<Figures> {
  const simDir = seededHost(instances);
  // As `worker --simulate` does: the worker entry re-run as the simulated host's multipass.
  const multipass = createMultipassCli({ command: simulatedMultipassCommand(selfCommand(process.execPath, WORKER_ENTRY), simDir) });
  const monitor = createHostMonitor({ multipass, readResources: () => RESOURCES, pollMs, log: createTestLog().log, addressLookup: mode.lookup });
  const controller = new AbortController();
  const from = Date.now();
  const polling = monitor.run(controller.signal);
  await Bun.sleep(seconds * 1000);
  const to = Date.now();
  controller.abort();
  await polling;
  const lookups = linesIn(join(simDir, "ssh.log"), from, to);
  const argvOf = (entry: Entry) => field(entry, "argv", "log line", array);
  const calls = join(simDir, "calls.log");
  const lists = linesIn(calls, from, to, (entry) => argvOf(entry)[0] === "list");
  const plain = linesIn(calls, from, to, (entry) => argvOf(entry)[0] === "list" && !argvOf(entry).includes("--no-ipv4"));
  return { lists, plain, lookups, perMinute: Math.round((lookups * 60_000) / (to - from)) };
}

export async function runPollingBench(): Promise<void> {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: { instances: { type: "string", default: "20" }, seconds: { type: "string", default: "30" }, poll: { type: "string", default: "2000" } },
    strict: false,
  });
  const instances = Number(values.instances);
  const seconds = Number(values.seconds);
  const pollMs = Number(values.poll);
  console.log(`\n## Polling: SSH-backed lookups of an idle worker's monitoring (simulated host, ${instances} running instances)`);
  console.log(`Poll every ${pollMs / 1000} s, ${seconds} s per mode from its first poll; per minute is extrapolated from that window.`);
  console.log("The host has no per-VM list cost (config.json without timing), so polls are as frequent as the interval allows.\n");
  const row = (cells: (string | number)[]) => cells.map((c, i) => (i === 0 ? String(c).padEnd(44) : String(c).padStart(i === 1 ? 7 : 13))).join("");
  console.log(row(["mode", "lists", "plain lists", "SSH lookups", "SSH / minute"]));
  try {
    for (const mode of MODES) {
      const f = await measure(mode, instances, seconds, pollMs);
      console.log(row([mode.label, f.lists, f.plain, f.lookups, f.perMinute]));
    }
  } finally {
    removeTempDirs();
  }
}

if (import.meta.main) await runPollingBench();
