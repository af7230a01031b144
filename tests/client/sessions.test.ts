/**
 * The commands of kept shells (issue 12): `sessions` (a table, or the API's
 * JSON exactly), `attach` by full id or unique prefix, and `shell`'s offer
 * of a detached shell of yours (on a terminal only; --new skips it).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { findSession, formatSessions } from "../../lib/client/sessions.ts";
import { colors } from "../../lib/client/tables.ts";
import { renderHelp } from "../../lib/cli/help.ts";
import { createClientCommand } from "../../lib/client/commands.ts";
import { controlFrame, type SessionControl } from "../../lib/protocol/session.ts";
import type { SessionView } from "../../lib/protocol/api.ts";
import { fakeClient, fakeMaster, runClient, type FakeMaster } from "../support/fake-client.ts";

const NOW = Date.parse("2026-12-02T10:00:00Z");
const ago = (ms: number) => new Date(NOW - ms).toISOString();

function view(extra: Partial<SessionView>): SessionView {
  return {
    id: "aaaa1111-0000-4000-8000-000000000001",
    node: "n1",
    instance: "web",
    kind: "shell",
    tty: true,
    since: "2026-12-02T09:00:00.000Z",
    size: { cols: 80, rows: 24 },
    owner: "0a1b2c3d",
    state: "attached",
    mine: true,
    lastActivityAt: ago(5_000),
    detachedUntil: null,
    viewers: 0,
    ...extra,
  };
}

const DETACHED = view({ id: "bbbb2222-0000-4000-8000-000000000002", state: "detached", lastActivityAt: ago(3 * 60_000), detachedUntil: new Date(NOW + 8 * 60_000 + 30_000).toISOString() });
const EXEC = view({ id: "bbbb3333-0000-4000-8000-000000000003", kind: "exec", tty: false, state: "running", owner: "ffee", mine: false, lastActivityAt: null, node: "n2", instance: "db\u001b[2Jx" });

let masters: FakeMaster[] = [];
afterEach(async () => {
  for (const m of masters.splice(0)) await m.stop();
});

/** A master that lists `views` (and one instance, web@n1) and plays every session it is asked for: exit 0. */
function master(views: unknown[]) {
  const m = fakeMaster(
    (r) => {
      if (r.path.startsWith("/api/v1/sessions")) return Response.json(views);
      if (r.path.startsWith("/api/v1/instances/web")) return Response.json({ name: "web", node: "n1", state: "Running", ipv4: [], release: null, image: null });
      return Response.json({ error: { code: "E_NOT_FOUND", message: "no" } }, { status: 404 });
    },
    (ws) => {
      if (ws.data.path.includes("/attach")) ws.send(controlFrame({ type: "attached", id: DETACHED.id, readOnly: false } satisfies SessionControl));
      ws.send(controlFrame({ type: "exit", code: 0 }));
      ws.close(1000);
    },
  );
  masters.push(m);
  return m;
}

const upgrades = (m: FakeMaster) => m.seen.filter((r) => !r.path.startsWith("/api/v1/sessions?") && (r.path.includes("/attach") || r.path.includes("/shell") || r.path.includes("/exec"))).map((r) => r.path);

describe("sessions", () => {
  test("a table: short ids, instance@node, kind, owner (you), started, state with the time left to a detached one, idle; nothing from the network raw", () => {
    const table = formatSessions([view({ viewers: 2 }), DETACHED, EXEC], colors(false), NOW);
    expect(table).toBe(
      [
        "ID         Instance   Kind    Owner            Started                   State                   Idle",
        "aaaa1111   web@n1     shell   0a1b2c3d (you)   2026-12-02 09:00:00 UTC   attached, 2 watching    5s",
        "bbbb2222   web@n1     shell   0a1b2c3d (you)   2026-12-02 09:00:00 UTC   detached (ends in 8m)   3m",
        "bbbb3333   dbx@n2     exec    ffee             2026-12-02 09:00:00 UTC   running                 --",
        "",
      ].join("\n"),
    );
  });

  test("--json prints the API's answer exactly; the table otherwise", async () => {
    const m = master([DETACHED]);
    const json = fakeClient();
    expect(await runClient(json, m, ["sessions", "--json"])).toBe(0);
    expect(json.out.join("")).toBe(JSON.stringify([DETACHED]) + "\n");
    const table = fakeClient();
    expect(await runClient(table, m, ["sessions"])).toBe(0);
    expect(table.out.join("")).toStartWith("ID ");
    expect(table.out.join("")).toContain("bbbb2222");
    const none = fakeClient();
    expect(await runClient(none, master([]), ["sessions"])).toBe(0);
    expect(none.out.join("")).toBe("No sessions.\n");
  });

  test("a listing that is not one: an error, not a table", async () => {
    const c = fakeClient();
    expect(await runClient(c, master([{ id: 3 }]), ["sessions"])).toBe(1);
    expect(c.err.join("")).toStartWith("error: ");
  });
});

describe("attach", () => {
  test("ids: the full one, a unique prefix; an ambiguous or unknown one, or one that cannot be an id, is refused", () => {
    const views = [view({}), DETACHED, EXEC];
    expect(findSession(DETACHED.id, views).id).toBe(DETACHED.id);
    expect(findSession("aaaa", views).id).toBe(view({}).id);
    expect(() => findSession("bbbb", views)).toThrow(/ambiguous/);
    expect(() => findSession("cccc", views)).toThrow(/No session "cccc"/);
    expect(() => findSession("../x", views)).toThrow(/Invalid session id/);
  });

  test("attach PREFIX opens the attach route of that shell; --read-only asks for it and says how to stop", async () => {
    const m = master([DETACHED]);
    const c = fakeClient({ stdinIsTTY: true });
    expect(await runClient(c, m, ["attach", "bbbb2222"])).toBe(0);
    const ro = fakeClient({ stdinIsTTY: true });
    expect(await runClient(ro, m, ["attach", "bbbb2222", "--read-only"])).toBe(0);
    expect(upgrades(m)).toEqual([`/api/v1/sessions/${DETACHED.id}/attach?cols=80&rows=24&keepalive=2500`, `/api/v1/sessions/${DETACHED.id}/attach?cols=80&rows=24&keepalive=2500&readOnly=1`]);
    expect(ro.err.join("")).toBe(`watching shell ${DETACHED.id} on web@n1 read-only; Enter ~ . to stop\n`);
  });

  test("a session that is not a kept shell cannot be attached: a usage error, and no session is opened", async () => {
    const m = master([EXEC]);
    const c = fakeClient();
    expect(await runClient(c, m, ["attach", "bbbb3333"])).toBe(2);
    expect(c.err.join("")).toContain("is not a kept shell");
    expect(upgrades(m)).toEqual([]);
  });

  test("--help documents the escapes", async () => {
    const tree = createClientCommand(fakeClient().ctx);
    const subs = tree.subCommands as Record<string, Parameters<typeof renderHelp>[0]>;
    for (const name of ["attach", "shell"]) {
      const help = await renderHelp(subs[name]!, [tree]);
      expect(help).toContain("~. disconnect");
      expect(help).toContain("~d detach");
    }
    expect(await renderHelp(subs["shell"]!, [tree])).toContain("--new");
  });
});

describe("shell offers a detached shell of yours", () => {
  const other = view({ id: "cccc4444-0000-4000-8000-000000000004", state: "detached", mine: false, owner: "ffee" });
  const elsewhere = view({ id: "dddd5555-0000-4000-8000-000000000005", state: "detached", instance: "db" });

  test("on a terminal it asks (naming the instance and the idle time); Enter reattaches", async () => {
    const m = master([other, elsewhere, DETACHED]);
    const c = fakeClient({ stdinIsTTY: true, answers: [""] });
    expect(await runClient(c, m, ["shell", "web"])).toBe(0);
    expect(c.asked).toHaveLength(1);
    expect(c.asked[0]).toMatch(/^A detached shell of yours on web@n1 \(idle \d+[smhd]\) — reattach\? \[Y\/n\] $/);
    expect(upgrades(m)).toEqual([`/api/v1/sessions/${DETACHED.id}/attach?cols=80&rows=24&keepalive=2500`]);
  });

  test("no opens a new shell; an answer that is neither is asked again", async () => {
    const m = master([DETACHED]);
    const c = fakeClient({ stdinIsTTY: true, answers: ["maybe", "n"] });
    expect(await runClient(c, m, ["shell", "web"])).toBe(0);
    expect(c.asked).toHaveLength(2);
    expect(c.err.join("")).toContain("Please answer y or n.");
    expect(upgrades(m)).toEqual(["/api/v1/instances/web%40n1/shell?cols=80&rows=24&term=xterm-256color&keepalive=2500"]);
  });

  test("--new skips the offer; without a terminal on stdin nothing is asked; with none of yours detached there, nothing is asked", async () => {
    const m = master([DETACHED]);
    const fresh = fakeClient({ stdinIsTTY: true, answers: ["y"] });
    expect(await runClient(fresh, m, ["shell", "web", "--new"])).toBe(0);
    const piped = fakeClient({ stdinIsTTY: false, answers: ["y"] });
    expect(await runClient(piped, m, ["shell", "web"])).toBe(0);
    const m2 = master([other, elsewhere, view({})]);
    const none = fakeClient({ stdinIsTTY: true, answers: ["y"] });
    expect(await runClient(none, m2, ["shell", "web"])).toBe(0);
    expect([fresh.asked, piped.asked, none.asked]).toEqual([[], [], []]);
    expect(upgrades(m)).toEqual(["/api/v1/instances/web%40n1/shell?cols=80&rows=24&term=xterm-256color&keepalive=2500", expect.stringContaining("/api/v1/instances/web%40n1/exec?")]);
    expect(upgrades(m2)).toEqual(["/api/v1/instances/web%40n1/shell?cols=80&rows=24&term=xterm-256color&keepalive=2500"]);
  });

  test("a master that cannot list sessions does not keep a shell from opening", async () => {
    const m = fakeMaster(
      (r) =>
        r.path.startsWith("/api/v1/instances/web")
          ? Response.json({ name: "web", node: "n1", state: "Running", ipv4: [], release: null, image: null })
          : Response.json({ error: { code: "E_INTERNAL", message: "boom" } }, { status: 500 }),
      (ws) => {
        ws.send(controlFrame({ type: "exit", code: 0 }));
        ws.close(1000);
      },
    );
    masters.push(m);
    const c = fakeClient({ stdinIsTTY: true });
    expect(await runClient(c, m, ["shell", "web"])).toBe(0);
    expect(c.asked).toEqual([]);
  });
});
