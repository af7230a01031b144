/**
 * A stand-in agent server that keeps shells as a worker does (issue 12), for
 * the master's tests: it lists them at `GET /agent/v1/sessions` (or never
 * answers, when `hang` is set), says `session` when a keepable shell starts,
 * answers an attach by its owner with `attached` and a screen, detaches on
 * `detach` (`detached`, close 4010) and when the master's socket closes
 * without an exit. It records every start frame, every frame after it and
 * every close code it heard.
 */
import type { Server, ServerWebSocket } from "bun";
import { parseJson } from "../../lib/core/parse.ts";
import type { KeptSessionView } from "../../lib/protocol/agent.ts";
import { controlFrame, parseSessionControl, parseSessionStart, SESSION_CLOSE, type SessionControl, type SessionStart } from "../../lib/protocol/session.ts";
import type { JoinInfo } from "../../lib/master/registry.ts";
import { resources } from "./in-process.ts";

interface Conn {
  start: SessionStart | null;
  id: string | null;
}

export interface KeptAgent {
  server: Server<Conn>;
  /** The shells it keeps, by id. */
  kept: Map<string, KeptSessionView>;
  starts: SessionStart[];
  /** What came after the start frames: control frames, and "bytes N" for input. */
  frames: (SessionControl | string)[];
  /** The close codes of the master's sockets, as this side heard them. */
  closes: number[];
  /** When set, `GET /agent/v1/sessions` is never answered. */
  hang: boolean;
  /** What joins it to a registry as node `name`. */
  node(name: string): JoinInfo;
}

export const SCREEN = "\x1bc\x1b[?1049hrestored screen";

export function keptSession(id: string, owner: string, state: "attached" | "detached", instance = "web"): KeptSessionView {
  const now = new Date().toISOString();
  return { id, instance, owner, state, startedAt: now, lastActivityAt: now, detachedUntil: state === "detached" ? now : null, cols: 80, rows: 24, viewers: 0 };
}

export function startKeptAgent(): KeptAgent {
  const agent: KeptAgent = {
    kept: new Map(),
    starts: [],
    frames: [],
    closes: [],
    hang: false,
    server: undefined as unknown as Server<Conn>,
    node: (name) => ({
      id: name,
      name,
      address: `127.0.0.1:${agent.server.port}`,
      version: "test",
      agentToken: "t",
      agentCert: null,
      snapshot: { multipassVersion: null, multipassError: null, resources, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instances: [{ name: "web", state: "Running", ipv4: [], release: null }] },
      close: () => {},
    }),
  };
  const started = (ws: ServerWebSocket<Conn>, start: SessionStart) => {
    ws.data.start = start;
    agent.starts.push(start);
    if (start.kind === "attach") {
      const found = agent.kept.get(start.id);
      if (found === undefined || found.owner !== start.owner) {
        ws.send(controlFrame({ type: "error", code: "E_NOT_FOUND", message: `No session "${start.id}"` }));
        ws.send(controlFrame({ type: "exit", code: null }));
        return ws.close(SESSION_CLOSE.exit, "exit");
      }
      ws.data.id = start.id;
      if (!start.readOnly) found.state = "attached";
      ws.send(controlFrame({ type: "attached", id: start.id, readOnly: start.readOnly }));
      return void ws.send(new TextEncoder().encode(SCREEN));
    }
    if (start.kind === "shell" && start.id !== undefined && start.owner !== undefined) {
      ws.data.id = start.id;
      agent.kept.set(start.id, keptSession(start.id, start.owner, "attached", start.instance));
      ws.send(controlFrame({ type: "session", id: start.id, node: null }));
    }
    ws.send(new TextEncoder().encode("$ "));
  };
  agent.server = Bun.serve<Conn>({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request, server) {
      if (new URL(request.url).pathname === "/agent/v1/sessions") {
        if (agent.hang) return new Promise<Response>(() => {});
        return Response.json({ sessions: [...agent.kept.values()] });
      }
      return server.upgrade(request, { data: { start: null, id: null } }) ? undefined : new Response("no", { status: 400 });
    },
    websocket: {
      message(ws, message) {
        if (typeof message !== "string") return void agent.frames.push(`bytes ${message.length}`);
        const value = parseJson(message, "frame");
        if (ws.data.start === null) return started(ws, parseSessionStart(value));
        const control = parseSessionControl(message);
        agent.frames.push(control);
        if (control.type === "ping") ws.send(controlFrame({ type: "pong" }));
        if (control.type === "detach" && ws.data.id !== null) {
          const kept = agent.kept.get(ws.data.id);
          if (kept) kept.state = "detached";
          ws.send(controlFrame({ type: "detached", id: ws.data.id }));
          ws.close(SESSION_CLOSE.detached, "detached");
        }
      },
      close(ws, code) {
        agent.closes.push(code);
        const kept = ws.data.id === null ? undefined : agent.kept.get(ws.data.id);
        if (kept && !(ws.data.start?.kind === "attach" && ws.data.start.readOnly)) kept.state = "detached";
      },
    },
  });
  return agent;
}
