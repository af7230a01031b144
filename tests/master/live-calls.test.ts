/**
 * Live calls through an in-process master and workers whose API server has
 * a short idle timer: live info with one hung node, and a POST exec of a
 * silent command. Both wait longer than that timer on purpose (6 s and 13 s),
 * to prove that it does not cut them. The API is served over TLS, where Bun's
 * idle timer cuts POSTs too (over plain HTTP a request with a body escapes it).
 */
import { afterEach, expect, test } from "bun:test";
import type { Server } from "bun";
import { parseInfoResponse } from "../../lib/protocol/api.ts";
import { parseExecLine } from "../../lib/protocol/session.ts";
import { websocketHandler, type WsData } from "../../lib/net/ws.ts";
import { waitFor } from "../e2e/harness.ts";
import { selfSignedCertificate } from "../support/certificate.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { API, readyCount, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

const certificate = selfSignedCertificate("live-calls");

let api: Server<WsData> | undefined;
afterEach(async () => {
  await api?.stop(true);
  api = undefined;
  await runCleanups();
});

/**
 * A master with nodes `healthy` and `hung` (whose next `info` never answers),
 * its API on an idle timer of `idleSeconds`. Bun counts idle time in ticks
 * of 4 s, rounding up: a silent connection dies after ⌈idleSeconds/4⌉ ticks,
 * the first of which may be cut short (so 1 s means within 0–4 s, 9 s within 8–12 s).
 */
async function cluster(idleSeconds = 1): Promise<string> {
  const m = startMaster();
  const hung = createFakeMultipass([{ name: "stuck" }]);
  hung.failNext("info", "hang");
  startWorker(m.cluster.port!, "healthy", createFakeMultipass([{ name: "web" }]));
  startWorker(m.cluster.port!, "hung", hung);
  await waitFor("both nodes ready", () => readyCount(m.master) === 2);
  api = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: idleSeconds, tls: certificate, fetch: m.master.apiApp.fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }) });
  return `https://127.0.0.1:${api.port}`;
}

function call(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { authorization: `Bearer ${API}`, ...init.headers }, tls: { ca: certificate.cert } });
}

test("info with a hung node answers after the node's timeout, longer than the idle timer, with the healthy node's rows", async () => {
  const base = await cluster();
  const started = Date.now();
  const response = await call(`${base}/api/v1/info?timeout=6000`);
  expect(response.status).toBe(200);
  expect(Date.now() - started).toBeGreaterThanOrEqual(6000);
  const info = parseInfoResponse(await response.json());
  expect(info.instances.map((i) => `${i.name}@${i.node}`)).toEqual(["web@healthy"]);
  expect(info.errors).toEqual([{ node: "hung", message: 'Node "hung" did not answer within 6s' }]);
}, 20_000);

test("info's ?timeout= goes up to 10 minutes", async () => {
  const base = await cluster();
  const over = await call(`${base}/api/v1/info?timeout=600001`);
  expect(over.status).toBe(400);
  expect(await over.json()).toEqual({ error: { code: "E_USAGE", message: 'Invalid timeout "600001": expected milliseconds between 1 and 600000' } });
  const one = await call(`${base}/api/v1/info?instance=web&timeout=600000`);
  expect(parseInfoResponse(await one.json()).instances.map((i) => i.name)).toEqual(["web"]);
});

test("a POST exec silent for longer than the idle timer answers its output and exit status: keepalives carry it", async () => {
  // Idle after 8–12 s of silence; the stream writes a keepalive every 5 s; the command is silent for 13 s.
  const base = await cluster(9);
  const response = await call(`${base}/api/v1/instances/web/exec`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ command: ["sh", "-c", "sleep 13; echo late; exit 3"] }),
  });
  const lines = (await response.text()).split("\n").filter((l) => l.trim() !== "").map(parseExecLine);
  expect(lines).toEqual([{ type: "stdout", data: Buffer.from("late\n").toString("base64") }, { type: "exit", code: 3 }]);
}, 30_000);
