/**
 * End-to-end `multiverse port-forward` (issue 14): the real client, master
 * and worker on the simulated host, whose instances have loopback addresses
 * of their own (127.A.B.x), so `python3 -m http.server --bind ADDR` started
 * by an exec in an instance is reached the way a VM's service is from its
 * host. Many connections at once, 200 MB byte-exact, a refused port next to
 * working ones, the instance going down under a connection, a stopped
 * instance, an address asked for at the API, Ctrl-C, and the audit trail.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, openSync, writeSync, closeSync, createReadStream } from "node:fs";
import { join } from "node:path";
import { arrayOf } from "../../lib/core/parse.ts";
import { parseAuditEvent } from "../../lib/protocol/audit.ts";
import { parseErrorBody } from "../../lib/protocol/api.ts";
import {
  api,
  apiInstances,
  apiRead,
  client,
  envWithBun,
  hostMultipass,
  removeTempDirs,
  roleCommand,
  simConfig,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  TimedProcess,
  waitFor,
  type MasterHandle,
  type WorkerHandle,
} from "./harness.ts";

setDefaultTimeout(120_000);

let master: MasterHandle;
let n1: WorkerHandle;
/** The instance's own address, as Multipass (the simulated one) reports it. */
let address = "";
const BIG_BYTES = 200 * 1024 * 1024;
let bigSha = "";

/** Starts `python3 -m http.server` in `name`, serving its home on `port` of its address; resolves once it answers. */
async function httpServer(name: string, addr: string, port: number): Promise<TimedProcess> {
  const home = join(n1.simDir, "instances", name, "home");
  const proc = new TimedProcess(
    [...roleCommand("client"), "exec", name, "--master", master.apiUrl, "--token", master.apiToken, "--", "python3", "-m", "http.server", "--bind", addr, "--directory", home, String(port)],
    envWithBun({ HOME: tempDir("home") }),
  );
  await waitFor(`the http server in ${name}`, async () => (await fetch(`http://${addr}:${port}/`).catch(() => null))?.ok, 20_000);
  return proc;
}

function portForward(args: string[]): TimedProcess {
  return new TimedProcess([...roleCommand("client"), "port-forward", ...args, "--master", master.apiUrl, "--token", master.apiToken], envWithBun({ HOME: tempDir("home") }));
}

/** The local port a `Forwarding ADDR:PORT -> REF:REMOTE` line names. */
async function boundPort(pf: TimedProcess, remote: number): Promise<number> {
  const line = await pf.waitForLine(new RegExp(`^Forwarding 127\\.0\\.0\\.1:(\\d+) -> web@n1:${remote}$`));
  return Number(/:(\d+) ->/.exec(line.text)![1]);
}

async function sha256Of(stream: AsyncIterable<Uint8Array>): Promise<{ sha: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha: hash.digest("hex"), bytes };
}

beforeAll(async () => {
  master = await startMaster();
  const sim = tempDir("sim-pf");
  simConfig(sim, { stepMs: 5 });
  expect((await hostMultipass(sim, ["launch", "--name", "web"])).code).toBe(0);
  n1 = await startWorker(master, "n1", { simDir: sim });
  const [web] = await waitFor("web's address", async () => (await apiInstances(master)).filter((i) => i.ipv4.length > 0));
  address = web!.ipv4[0]!;
  expect(address).toMatch(/^127\.\d+\.\d+\.\d+$/);
  // 200 MB of varied bytes in the instance's home, and its checksum from the file itself.
  const home = join(sim, "instances", "web", "home");
  mkdirSync(home, { recursive: true });
  const fd = openSync(join(home, "big.bin"), "w");
  const block = new Uint8Array(1024 * 1024);
  for (let i = 0; i < BIG_BYTES / block.length; i++) {
    for (let j = 0; j < block.length; j += 4096) block[j] = (i * 31 + j) & 0xff;
    block[0] = i & 0xff;
    writeSync(fd, block);
  }
  closeSync(fd);
  bigSha = (await sha256Of(createReadStream(join(home, "big.bin")))).sha;
  await httpServer("web", address, 8080);
});
afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

describe("port-forward", () => {
  test("50 requests at once are all answered, each with its own file; a 200 MB download is byte-exact", async () => {
    const home = join(n1.simDir, "instances", "web", "home");
    for (let i = 0; i < 50; i++) await Bun.write(join(home, `f${i}.txt`), `file ${i} `.repeat(i + 1));
    const pf = portForward(["web", ":8080"]);
    const port = await boundPort(pf, 8080);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => fetch(`http://127.0.0.1:${port}/f${i}.txt`).then(async (r) => [r.status, await r.text()])));
    answers.forEach(([status, text], i) => {
      expect(status).toBe(200);
      expect(text).toBe(`file ${i} `.repeat(i + 1));
    });
    const response = await fetch(`http://127.0.0.1:${port}/big.bin`);
    expect(response.status).toBe(200);
    expect(await sha256Of(response.body!)).toEqual({ sha: bigSha, bytes: BIG_BYTES });
    expect(pf.text("stderr")).toBe("");
    pf.kill("SIGINT");
    expect(await pf.exited).toBe(130);
  });

  test("a refused port fails that connection alone, with the reason; the others and the forward go on", async () => {
    const pf = portForward(["web@n1", ":8080", ":9"]);
    const [good, refused] = [await boundPort(pf, 8080), await boundPort(pf, 9)];
    const failed = await fetch(`http://127.0.0.1:${refused}/`).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(Error);
    const line = await pf.waitForLine(/^web@n1:9: /);
    expect(line.stream).toBe("stderr");
    expect(line.text).toBe('web@n1:9: Cannot connect to port 9 of "web": connection refused');
    expect((await fetch(`http://127.0.0.1:${good}/`)).status).toBe(200);
    expect(pf.proc.exitCode).toBeNull();
    pf.kill("SIGINT");
    expect(await pf.exited).toBe(130);
  });

  test("an upload whose sender closes right after it reaches a slow service whole, and the service's answer still comes back", async () => {
    // A service on the instance's address that reads nothing for a while, then counts, then answers.
    let counted = 0;
    const upload = Bun.listen<undefined>({
      hostname: address,
      port: 0,
      allowHalfOpen: true,
      socket: {
        open: (s) => {
          s.pause();
          setTimeout(() => s.resume(), 500);
        },
        data: (_s, d) => void (counted += d.length),
        end: (s) => void s.end(`got ${counted}`),
      },
    });
    try {
      const pf = portForward(["web", `:${upload.port}`]);
      const port = await boundPort(pf, upload.port);
      const size = 20 * 1024 * 1024;
      let answer = "";
      let closed = false;
      const sender = await Bun.connect({
        hostname: "127.0.0.1",
        port,
        allowHalfOpen: true,
        socket: { data: (_s, d) => void (answer += d.toString()), close: () => void (closed = true) },
      });
      const payload = new Uint8Array(size).fill(7);
      let offset = 0;
      while (offset < size) {
        const n = sender.write(payload.subarray(offset));
        offset += Math.max(0, n);
        if (offset < size) await Bun.sleep(5);
      }
      sender.shutdown();
      await waitFor("the service's answer", () => closed || answer !== "", 30_000);
      await waitFor("the whole answer", () => closed, 30_000);
      expect(counted).toBe(size);
      expect(answer).toBe(`got ${size}`);
      expect(pf.text("stderr")).toBe("");
      pf.kill("SIGINT");
      expect(await pf.exited).toBe(130);
    } finally {
      upload.stop(true);
    }
  });

  test("an address is refused at the API, whatever the instance (the audit test below finds no record of these)", async () => {
    for (const query of ["port=80&host=10.0.0.1", "port=80&address=192.168.1.1", "port=22&target=127.0.0.1"]) {
      const { status, body } = await api(master, `/api/v1/instances/web/forward?${query}`);
      expect(status).toBe(400);
      expect(parseErrorBody(body)?.error).toMatchObject({ code: "E_USAGE", message: expect.stringContaining("it takes a port, never an address") });
    }
  });

  test("Ctrl-C closes the listeners and the connections open on them; nothing is left listening", async () => {
    const pf = portForward(["web", ":8080"]);
    const port = await boundPort(pf, 8080);
    // A connection left open across the Ctrl-C, in the middle of a download it does not read.
    let heldClosed = false;
    const held = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, close: () => void (heldClosed = true) } });
    held.pause();
    held.write("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    await waitFor("the forward's session", async () => (await apiRead(master, "/api/v1/sessions", (b) => b as unknown[])).length > 0);
    pf.kill("SIGINT");
    expect(await pf.exited).toBe(130);
    held.resume();
    await waitFor("the open connection closed", () => heldClosed);
    const again = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
      (s) => (s.terminate(), "connected"),
      (error: { code?: string }) => error.code,
    );
    expect(again).toBe("ECONNREFUSED");
  });

  test("a port already in use is refused clearly, and nothing listens", async () => {
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const free = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      const freePort = free.port;
      free.stop(true);
      const r = await client(master, ["port-forward", "web", `${freePort}:8080`, `${taken.port}:8080`]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(`error: Cannot listen on 127.0.0.1:${taken.port}: address already in use\n`);
      // The first pair had bound its port: it was let go again.
      const probe = await Bun.connect({ hostname: "127.0.0.1", port: freePort, socket: { data() {} } }).then(
        (s) => (s.terminate(), "connected"),
        (error: { code?: string }) => error.code,
      );
      expect(probe).toBe("ECONNREFUSED");
    } finally {
      taken.stop(true);
    }
  });

  test("the audit trail says who forwarded which port of what, and how each ended", async () => {
    const events = await apiRead(master, "/api/v1/events?limit=10000", (body) => arrayOf(parseAuditEvent)(body, "events"));
    const forwards = events.filter((e) => e.action === "forward" && e.phase === "requested");
    expect(forwards.length).toBeGreaterThanOrEqual(50);
    expect(forwards.every((e) => e.node === "n1" && e.instance === "web" && /^[0-9a-f]+$/.test(e.token))).toBe(true);
    const ports = new Set(forwards.map((e) => e.params?.["port"]));
    expect(ports.has(8080) && ports.has(9)).toBe(true);
    // The requests that named an address (ports 80 and 22) were refused before anything was recorded.
    expect(ports.has(80) || ports.has(22)).toBe(false);
    const refusedDone = events.find((e) => e.action === "forward" && e.phase === "done" && e.error?.message.includes("connection refused"));
    expect(refusedDone).toMatchObject({ node: "n1", instance: "web", result: "error", error: { code: "E_UNAVAILABLE" } });
  });

  test("the instance going down ends its connections with the reason; a forward to a stopped instance is refused, not started", async () => {
    const pf = portForward(["web", ":8080"]);
    const port = await boundPort(pf, 8080);
    // A download left unread, so it is still open when the stop comes.
    const response = await fetch(`http://127.0.0.1:${port}/big.bin`);
    const reader = response.body!.getReader();
    await reader.read();
    const stop = await client(master, ["stop", "web"]);
    expect(stop.code).toBe(0);
    // The reason comes after the bytes already on their way: read on, and the download ends in a failure, not a clean end.
    const drained = await (async () => {
      for (;;) if ((await reader.read()).done) return "ended";
    })().catch(() => "failed");
    expect(drained).toBe("failed");
    const line = await pf.waitForLine(/^web@n1:8080: /);
    expect(line.text).toBe('web@n1:8080: Instance "web" on node "n1" is being stopped');

    const refused = await fetch(`http://127.0.0.1:${port}/f1.txt`).then(
      () => "answered",
      () => "failed",
    );
    expect(refused).toBe("failed");
    await pf.waitForLine(/^web@n1:8080: Instance "web" is not running on node "n1" \(Stopped\): start it first; a forward does not start it$/);
    expect((await apiInstances(master)).find((i) => i.name === "web")?.state).toBe("Stopped");
    pf.kill("SIGINT");
    expect(await pf.exited).toBe(130);
  });
});
