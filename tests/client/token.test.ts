/**
 * The API token file on this machine belongs to the local master: a client
 * given no token sends it to no other master, and says where to give one.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../lib/cli/run.ts";
import { createClientCommand } from "../../lib/client/commands.ts";
import { fakeClient } from "../support/fake-client.ts";

const TOKEN = "mva_local-master-token-0000000000000000000000";
let server: Server<undefined> | undefined;
let dir: string | undefined;
afterEach(() => {
  server?.stop(true);
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A server that records the Authorization header of every request and refuses them all. */
function recorder(hostname: string): { url: string; seen: (string | null)[] } {
  const seen: (string | null)[] = [];
  server = Bun.serve({
    hostname,
    port: 0,
    fetch(req) {
      seen.push(req.headers.get("authorization"));
      return Response.json({ error: { code: "E_UNAUTHORIZED", message: "missing token" } }, { status: 401 });
    },
  });
  return { url: `http://${hostname}:${server.port}`, seen };
}

async function run(master: string, tokenFile: string) {
  const client = fakeClient();
  client.ctx.defaultTokenFile = tokenFile;
  const code = await runCli(createClientCommand(client.ctx), ["nodes", "--master", master], { stdout: client.ctx.stdout, stderr: client.ctx.stderr, verbose: false });
  return { code, err: client.err.join("") };
}

describe("the local token file", () => {
  for (const host of ["127.0.0.2", "127.0.0.1"]) {
    test(`is not sent to another master (${host} on another port than the local API's)`, async () => {
      dir = mkdtempSync(join(tmpdir(), "token-"));
      const file = join(dir, "api-token");
      writeFileSync(file, `${TOKEN}\n`);
      const fake = recorder(host);
      const { code, err } = await run(fake.url, file);
      expect(code).toBe(1);
      expect(fake.seen).toEqual([null]);
      expect(err).not.toContain(TOKEN);
      expect(err).toContain("needs an API token and no token was given");
      expect(err).toContain(`the token file of this machine, ${file}, is only sent to the local master at port 1338`);
      expect(err).toContain("--token or --token-file, or set MULTIVERSE_API_TOKEN");
      expect(err).not.toContain("refused the token");
    });
  }
});
