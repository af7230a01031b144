/**
 * The browser terminal's connection to a shell, over the session wire: a new
 * shell, or a kept one taken back through the attach route, and the ride
 * through drops (0.5 s doubling to 5 s, as the CLI). A state machine: `state`
 * says where it is, and every close goes through shell-policy's afterClose.
 */
import type { ErrorCode } from "../core/errors.ts";
import { parseSessionListing } from "./session-listing.ts";
import { controlFrame, parseSessionControl, parseSessionId, type SessionControl } from "../protocol/session.ts";
import { parseNodeView } from "../protocol/api.ts";
import { ApiError, getJson } from "./api.ts";
import { afterClose, attachPath, KEEPALIVE_MS, reconnectDelay, RECONNECT_LIMIT_MS, shellPath, SILENCE_MS, socketUrl, storageKey, type ConnectionFacts, type ShellStatus, type Size } from "./shell-policy.ts";

export interface TerminalSink {
  write: (data: Uint8Array) => void;
  /** Clears the screen before a kept shell's screen is restored. */
  reset: () => void;
  size: () => Size;
}

export interface ShellLink {
  start: () => void;
  input: (data: string) => void;
  resize: (size: Size) => void;
  /** Leaves the shell running on its node; a reload takes it back. */
  detach: () => void;
  /** Ends the page's connection (the view is left); a kept shell stays kept. */
  close: () => void;
}

type Mode = { kind: "shell" } | { kind: "attach"; id: string; firstLoad: boolean };

export function createShellLink(ref: string, sink: TerminalSink, onStatus: (status: ShellStatus) => void): ShellLink {
  const key = storageKey(ref);
  const encoder = new TextEncoder();
  let state: ShellStatus = { state: "connecting" };
  let ws: WebSocket | null = null;
  let sessionId: string | null = null;
  let attempt = 0;
  let lostAt = 0;
  let timers: ReturnType<typeof setTimeout>[] = [];
  let stopped = false;

  const setState = (next: ShellStatus) => {
    state = next;
    onStatus(next);
  };
  const remember = (id: string | null) => {
    sessionId = id;
    try {
      if (id === null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, id);
    } catch {
      // Storage refused: a reload starts a new shell instead of taking this one back.
    }
  };
  const clearTimers = () => {
    for (const t of timers) clearTimeout(t);
    timers = [];
  };

  const connect = (mode: Mode) => {
    clearTimers();
    const size = sink.size();
    const socket = new WebSocket(socketUrl(location, mode.kind === "shell" ? shellPath(ref, size) : attachPath(mode.id, size)));
    socket.binaryType = "arraybuffer";
    ws = socket;
    const facts: ConnectionFacts = { established: false, closeCode: 1006, sessionId: mode.kind === "attach" ? mode.id : null };
    let errorMessage: string | undefined;
    let heardAt = Date.now();
    let done = false;
    const send = (message: SessionControl) => socket.readyState === WebSocket.OPEN && socket.send(controlFrame(message));
    const pinger = setInterval(() => {
      if (Date.now() - heardAt > SILENCE_MS) return finish(4004);
      send({ type: "ping" });
    }, KEEPALIVE_MS);

    const onControl = (message: SessionControl) => {
      switch (message.type) {
        case "ping":
          return send({ type: "pong" });
        case "session":
          facts.sessionId = message.id;
          return remember(message.id);
        case "attached":
          facts.established = true;
          attempt = 0;
          sink.reset();
          return setState({ state: "connected", readOnly: message.readOnly });
        case "exit":
          facts.exit = { code: message.code };
          return;
        case "error":
          facts.error = message.code;
          errorMessage = message.message;
          return;
        case "detached":
          facts.detached = message.reason === undefined ? {} : { reason: message.reason };
          return;
        default:
          return;
      }
    };
    socket.addEventListener("open", () => {
      heardAt = Date.now();
      if (mode.kind === "shell") {
        facts.established = true;
        attempt = 0;
        setState({ state: "connected", readOnly: false });
      }
    });
    socket.addEventListener("message", (event: MessageEvent<unknown>) => {
      heardAt = Date.now();
      if (event.data instanceof ArrayBuffer) return sink.write(new Uint8Array(event.data));
      if (typeof event.data !== "string") return;
      try {
        onControl(parseSessionControl(event.data));
      } catch {
        socket.close(1008, "bad control frame");
      }
    });
    socket.addEventListener("close", (event) => finish(event.code));

    // One end per connection: the socket's close, or silence (a dead network may take minutes to close a socket).
    function finish(code: number) {
      if (done) return;
      done = true;
      clearInterval(pinger);
      facts.closeCode = code;
      if (socket.readyState !== WebSocket.CLOSED) socket.close();
      if (ws === socket) ws = null;
      if (stopped) return;
      if (mode.kind === "attach" && !facts.established) return attachFailed(mode, facts.error);
      const next = afterClose({ ...facts, sessionId: facts.sessionId ?? sessionId });
      if (next.kind === "ended") {
        remember(null);
        return setState({ state: "ended", code: next.code, ...(errorMessage === undefined ? {} : { message: errorMessage }) });
      }
      if (next.kind === "detached") return setState({ state: "detached", reason: next.reason });
      if (next.kind === "lost") {
        remember(null);
        return setState({ state: "ended", code: null, message: errorMessage ?? "the connection was lost, and this shell was not kept by its node" });
      }
      lostAt = Date.now();
      setState({ state: "reconnecting", sinceMs: lostAt });
      retry(facts.sessionId ?? sessionId!);
    }
  };

  const retry = (id: string) => {
    if (Date.now() - lostAt > RECONNECT_LIMIT_MS) {
      return setState({ state: "ended", code: null, message: "gave up reconnecting after 10 minutes" });
    }
    timers.push(setTimeout(() => connect({ kind: "attach", id, firstLoad: false }), reconnectDelay(attempt++)));
  };

  const attachFailed = (mode: { id: string; firstLoad: boolean }, code: ErrorCode | undefined) => {
    if (mode.firstLoad) {
      // The stored shell is not there to take back (it ended, or this token cannot have it): a new one.
      remember(null);
      return connect({ kind: "shell" });
    }
    if (code === "E_UNAUTHORIZED" || code === "E_FORBIDDEN") return setState({ state: "ended", code: null, message: "the session ended: log in again" });
    void stillKept(mode.id, ref).then((kept) => {
      if (stopped) return;
      if (kept === false) {
        remember(null);
        return setState({ state: "ended", code: null, message: "the shell is gone (it ended, or its grace period passed)" });
      }
      retry(mode.id);
    });
  };

  return {
    start() {
      let stored: string | null = null;
      try {
        stored = sessionStorage.getItem(key);
        if (stored !== null) parseSessionId(stored, "stored");
      } catch {
        stored = null;
      }
      setState({ state: "connecting" });
      if (stored === null) connect({ kind: "shell" });
      else {
        sessionId = stored;
        connect({ kind: "attach", id: stored, firstLoad: true });
      }
    },
    input(data) {
      if (state.state === "connected" && !state.readOnly && ws?.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
    },
    resize(size) {
      if (state.state === "connected" && ws?.readyState === WebSocket.OPEN) ws.send(controlFrame({ type: "resize", ...size }));
    },
    detach() {
      if (ws?.readyState === WebSocket.OPEN && sessionId !== null) ws.send(controlFrame({ type: "detach" }));
    },
    close() {
      stopped = true;
      clearTimers();
      ws?.close();
      ws = null;
    },
  };
}

/**
 * Whether the master still lists shell `id` as this token's; null when it
 * cannot say: unreachable, or the shell's node not Ready (a master that has
 * just restarted knows a node's shells only once the node joins it again).
 */
async function stillKept(id: string, ref: string): Promise<boolean | null> {
  try {
    const sessions = await getJson("/api/v1/sessions", parseSessionListing);
    if (sessions.some((s) => s.id === id && s.mine)) return true;
    const node = await getJson(`/api/v1/nodes/${encodeURIComponent(ref.split("@")[1] ?? "")}`, (v) => parseNodeView(v, "node"));
    return node.state === "Ready" ? false : null;
  } catch (error) {
    return error instanceof ApiError && error.status === 401 ? false : null;
  }
}
