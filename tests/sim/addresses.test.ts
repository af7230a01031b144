/**
 * Simulated instances get loopback addresses from their sim directory's own /24
 * (lib/sim/addresses.ts), and a service started inside an instance is really
 * reachable at the address `list` reports.
 */

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { blockPrefix, homeBlock, nextAddress } from "../../lib/sim/addresses.ts";
import { emptyState, type SimState } from "../../lib/sim/state.ts";
import { createSimHost, STAND_IN, type SimHost } from "./sim-host.ts";

function stateWith(addresses: string[]): SimState {
  const state = emptyState();
  state.instances = addresses.map((address, i) => ({
    name: `vm${i}`,
    state: "Running",
    image: "24.04",
    imageRelease: "24.04 LTS",
    imageHash: "",
    cpus: 1,
    memory: 1,
    disk: 1,
    ipv4: [address],
    mounts: [],
    snapshots: 0,
    taken: [],
    snapshotsEver: 0,
    head: "",
  }));
  return state;
}

describe("address scheme", () => {
  test("blocks cover 127.1.0.0 to 127.254.255.0 and never 127.0.x.x", () => {
    expect(blockPrefix(0)).toBe("127.1.0");
    expect(blockPrefix(255)).toBe("127.1.255");
    expect(blockPrefix(256)).toBe("127.2.0");
    expect(blockPrefix(254 * 256 - 1)).toBe("127.254.255");
    expect(blockPrefix(254 * 256)).toBe("127.1.0");
  });

  test("a sim directory's block is stable and differs from another directory's", () => {
    expect(homeBlock("/tmp/sim-a")).toBe(homeBlock("/tmp/sim-a"));
    expect(homeBlock("/tmp/sim-a")).not.toBe(homeBlock("/tmp/sim-b"));
  });

  test("addresses go from .2 in the home block, skip held ones, and spill into the next block", () => {
    const dir = "/tmp/sim-a";
    const home = blockPrefix(homeBlock(dir));
    expect(nextAddress(emptyState(), dir)).toBe(`${home}.2`);
    expect(nextAddress(stateWith([`${home}.2`, `${home}.4`]), dir)).toBe(`${home}.3`);
    const full = Array.from({ length: 253 }, (_, i) => `${home}.${i + 2}`);
    expect(nextAddress(stateWith(full), dir)).toBe(`${blockPrefix(homeBlock(dir) + 1)}.2`);
  });
});

describe("launched instances", () => {
  let host: SimHost;
  let other: SimHost;
  beforeEach(() => {
    host = createSimHost();
    other = createSimHost();
  });
  afterEach(() => {
    host.remove();
    other.remove();
  });

  async function addresses(sim: SimHost, name: string): Promise<string[]> {
    const result = await sim.run(["info", name, "--format", "json"]);
    const info = JSON.parse(result.stdout.toString()) as { info: Record<string, { ipv4: string[] }> };
    return info.info[name]?.ipv4 ?? [];
  }

  test("each address, --network ones included, is in the host's own block; two hosts differ", async () => {
    expect((await host.run(["launch", "-n", "web", "--network", "eth1"])).code).toBe(0);
    expect((await host.run(["launch", "-n", "db"])).code).toBe(0);
    expect((await other.run(["launch", "-n", "web"])).code).toBe(0);
    const home = blockPrefix(homeBlock(host.dir));
    expect(await addresses(host, "web")).toEqual([`${home}.2`, `${home}.3`]);
    expect(await addresses(host, "db")).toEqual([`${home}.4`]);
    expect(await addresses(other, "web")).toEqual([`${blockPrefix(homeBlock(other.dir))}.2`]);
  });

  test("a server bound inside an instance to its address answers there", async () => {
    expect((await host.run(["launch", "-n", "web"])).code).toBe(0);
    const [address] = await addresses(host, "web");
    expect(address).toMatch(/^127\.(?!0\.)\d+\.\d+\.\d+$/);
    await Bun.write(`${host.dir}/instances/web/home/hello.txt`, "hello from web\n");
    const server = Bun.spawn(
      [STAND_IN, "exec", "web", "--", "python3", "-m", "http.server", "--bind", address!, "8080"],
      { env: host.env(), stdin: "ignore", stdout: "ignore", stderr: "ignore" },
    );
    try {
      let body = "";
      for (let attempt = 0; attempt < 200 && body === ""; attempt++) {
        body = await fetch(`http://${address}:8080/hello.txt`).then((r) => r.text(), () => "");
        if (body === "") await Bun.sleep(50);
      }
      expect(body).toBe("hello from web\n");
    } finally {
      server.kill("SIGTERM");
      await server.exited;
    }
  });
});
