/**
 * Kept shells from the command line (issue 12): `sessions` lists the live
 * sessions (a table, or the API's JSON), `attach ID` takes a kept shell back
 * or watches it with `--read-only`, and `shell NAME` (commands.ts) offers a
 * detached shell of yours on that instance before it opens a new one. Also
 * what every session command hands to runSession: the master, its trust, and
 * how to explain a refused upgrade.
 */
import { defineCommand, type ArgsDef } from "citty";
import { withNotes } from "../cli/help.ts";
import { AppError, messageOf, usageError } from "../core/errors.ts";
import { formatTime, stripControl } from "../core/format.ts";
import { arrayOf } from "../core/parse.ts";
import { parseNodeView, parseSessionView, type SessionView } from "../protocol/api.ts";
import type { ApiClient } from "./api-client.ts";
import { apiFor, common, paint, type ClientContext } from "./context.ts";
import { ESCAPES_DOC } from "./escapes.ts";
import { runSession, type Refusal, type SessionRequest } from "./session.ts";
import { formatAge, renderTable, shortIds, type Cell, type Colors, type TableOptions } from "./tables.ts";
import { outputArgs, parseOutput, printListing, tableOptions } from "./output.ts";

/** The options of the commands that open a session. */
export const sessionArgs = {
  master: common.master,
  token: common.token,
  "token-file": common["token-file"],
  ca: common.ca,
  context: common.context,
  verbose: common.verbose,
} as const satisfies ArgsDef;

/** How long explaining a refused upgrade may take: a plain GET that a healthy master answers at once. */
const DIAGNOSE_MS = 10_000;

/** Why the master refused a session upgrade, from the same route asked over plain HTTP. */
export function diagnoser(api: ApiClient) {
  return async (path: string): Promise<Refusal | null> => {
    try {
      await api.get(path, { timeoutMs: DIAGNOSE_MS });
      return null;
    } catch (error) {
      // The route accepted everything but the missing upgrade: the refusal came from elsewhere.
      if (error instanceof AppError && error.code === "E_USAGE" && error.message.includes("WebSocket upgrade")) return null;
      return { code: error instanceof AppError ? error.code : null, message: messageOf(error) };
    }
  };
}

/** What every session needs of the master: where, with which token and trust, and how to explain a refusal. */
export function sessionBase(api: ApiClient, ctx: ClientContext): Pick<SessionRequest, "baseUrl" | "token" | "tls" | "io" | "diagnose" | "nodeReady"> {
  return {
    baseUrl: api.baseUrl,
    token: api.token,
    tls: api.tls,
    io: ctx.terminal,
    diagnose: diagnoser(api),
    nodeReady: async (node) => {
      const nodes = arrayOf(parseNodeView)((await api.get("/api/v1/nodes", { timeoutMs: DIAGNOSE_MS })).json, "nodes");
      return nodes.some((n) => n.name === node && n.state === "Ready");
    },
  };
}

async function listSessions(api: ApiClient): Promise<SessionView[]> {
  return arrayOf(parseSessionView)((await api.get("/api/v1/sessions")).json, "sessions");
}

function stateCell(view: SessionView, c: Colors, nowMs: number): Cell {
  const watching = view.viewers > 0 ? `, ${view.viewers} watching` : "";
  if (view.state === "attached") return { text: `attached${watching}`, paint: c.green };
  if (view.state === "running") return { text: "running", paint: c.cyan };
  const until = view.detachedUntil === null ? NaN : Date.parse(view.detachedUntil);
  const ends = Number.isNaN(until) ? "" : ` (ends in ${formatAge(until - nowMs)})`;
  return { text: `detached${ends}${watching}`, paint: c.yellow };
}

/** The human table of `sessions`. */
export function formatSessions(views: SessionView[], c: Colors, nowMs: number, options: TableOptions = {}): string {
  const ids = shortIds(views.map((v) => v.id));
  const rows: Cell[][] = views.map((v, i) => {
    const idle = v.lastActivityAt === null ? NaN : Date.parse(v.lastActivityAt);
    return [
      ids[i] ?? v.id,
      `${v.instance}@${v.node}`,
      v.kind === "exec" && v.tty ? "exec -t" : v.kind,
      v.owner === null ? "--" : `${v.owner}${v.mine ? " (you)" : ""}`,
      formatTime(v.since),
      stateCell(v, c, nowMs),
      Number.isNaN(idle) ? "--" : formatAge(nowMs - idle),
    ];
  });
  return renderTable(["ID", "Instance", "Kind", "Owner", "Started", "State", "Idle"], rows, c, { ...options, shrinkable: [5] });
}

/**
 * The session `text` names: its full id or a prefix no other listed session shares.
 * @throws AppError E_USAGE for what cannot be an id, E_NOT_FOUND, E_AMBIGUOUS
 */
export function findSession(text: string, views: SessionView[]): SessionView {
  if (!/^[0-9a-f][0-9a-f-]{0,63}$/.test(text)) throw usageError(`Invalid session id "${text.slice(0, 70)}": expected an ID (or its start) as multiverse sessions lists it`);
  const exact = views.find((v) => v.id === text);
  if (exact) return exact;
  const matches = views.filter((v) => v.id.startsWith(text));
  const [only] = matches;
  if (only !== undefined && matches.length === 1) return only;
  if (only === undefined) throw new AppError("E_NOT_FOUND", `No session "${text}" is listed (see multiverse sessions; a shell that ended or whose grace period passed is gone)`);
  throw new AppError("E_AMBIGUOUS", `Session id "${text}" is ambiguous (${matches.map((m) => m.id).join(", ")}): give more of it`);
}

export function sessionsCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "sessions", description: "List live sessions: shells (attached or detached, kept by their worker) and execs" },
    args: { ...common, ...outputArgs },
    async run({ args }) {
      const out = parseOutput(args);
      const api = apiFor(args, ctx);
      const answer = await api.get("/api/v1/sessions");
      const views = printListing(ctx, out, answer, { key: null, parse: (items) => arrayOf(parseSessionView)(items, "sessions"), name: (v) => v.id });
      if (views === null) return;
      if (views.length === 0) return ctx.stdout("No sessions.\n");
      ctx.stdout(formatSessions(views, paint(ctx), Date.now(), tableOptions(ctx, out)));
    },
  });
}

/** A kept shell `view` taken back (or watched) on this terminal. */
export function attachTo(ctx: ClientContext, api: ApiClient, view: SessionView, readOnly: boolean): Promise<number> {
  const ref = `${view.instance}@${view.node}`;
  if (readOnly) ctx.stderr(stripControl(`watching shell ${view.id} on ${ref} read-only; ${ctx.terminal.stdinIsTTY ? "Enter ~ . to stop" : "Ctrl-C to stop"}`) + "\n");
  return runSession({ ...sessionBase(api, ctx), kind: "shell", ref, command: [], tty: true, attach: { id: view.id, node: view.node, readOnly } });
}

export function attachCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes(
      { name: "attach", description: "Take a kept shell back, its screen restored (or watch it with --read-only)" },
      [ESCAPES_DOC + ".", "A dropped connection is retried for up to 10 minutes; keys typed meanwhile are discarded."],
    ),
    args: {
      id: { type: "positional", required: true, valueHint: "ID", description: "Session id, or its start, as multiverse sessions lists it" },
      "read-only": { type: "boolean", default: false, description: "Watch: see the output live, send no input" },
      ...sessionArgs,
    },
    async run({ args }) {
      const api = apiFor({ ...args, json: false }, ctx);
      const view = findSession(args.id, await listSessions(api));
      if (view.state === "running") {
        throw usageError(`Session ${view.id} is not a kept shell (execs, and shells on a worker that keeps none, end with their client): it cannot be attached`);
      }
      return attachTo(ctx, api, view, args["read-only"]);
    },
  });
}

/**
 * The detached shells of the caller on instance `ref` (`NAME@NODE`), the one
 * used last first; none when the master cannot list them (the offer is a
 * convenience and must not keep a shell from opening).
 */
export async function detachedShellsOn(api: ApiClient, ref: string): Promise<SessionView[]> {
  try {
    const views = await listSessions(api);
    return views
      .filter((v) => v.mine && v.state === "detached" && v.kind === "shell" && `${v.instance}@${v.node}` === ref)
      .sort((a, b) => (b.lastActivityAt ?? "").localeCompare(a.lastActivityAt ?? ""));
  } catch {
    return [];
  }
}

const MAX_ASKS = 3;

/** Asks whether to reattach to `view` (default yes); `more` other detached shells are mentioned. */
export async function offerReattach(ctx: ClientContext, view: SessionView, more: number, nowMs: number): Promise<boolean> {
  const last = view.lastActivityAt === null ? NaN : Date.parse(view.lastActivityAt);
  const idle = Number.isNaN(last) ? "" : ` (idle ${formatAge(nowMs - last)})`;
  const others = more > 0 ? ` (${more} more: multiverse sessions)` : "";
  const question = stripControl(`A detached shell of yours on ${view.instance}@${view.node}${idle}${others} — reattach? [Y/n] `);
  for (let i = 0; i < MAX_ASKS; i++) {
    const answer = (await ctx.terminal.ask(question)).trim().toLowerCase();
    if (answer === "" || answer === "y" || answer === "yes") return true;
    if (answer === "n" || answer === "no") return false;
    ctx.stderr("Please answer y or n.\n");
  }
  throw usageError("No answer to the reattach question: run shell --new for a new shell, or multiverse attach ID");
}
