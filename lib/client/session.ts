/**
 * The client's end of a shell or an exec: one WebSocket to the master, the
 * local terminal in raw mode while the session is interactive, and the
 * remote status as the result. The local terminal is restored on every way
 * out — remote exit, master death, network loss, a signal to the client —
 * and an end that is not a normal exit is explained on stderr.
 */
import { EXIT } from "../cli/run.ts";
import { messageOf } from "../core/errors.ts";
import { DEFAULT_LIVENESS, watchPeer, type LivenessTimes } from "../net/liveness.ts";
import { CHANNEL_STDERR, CHANNEL_STDOUT, controlFrame, parseSessionControl, type SessionControl, type SessionKind } from "../protocol/session.ts";
import type { TerminalIo } from "./terminal-io.ts";

export interface SessionRequest {
  /**
   * Explains a refused upgrade (the WebSocket shows only code 1006): asks the
   * same route over plain HTTP and returns the master's error message.
   */
  diagnose?: (path: string) => Promise<string | null>;
  /** http(s) base URL of the master. */
  baseUrl: string;
  token: string | null;
  /** Trust for an https master. */
  tls?: { ca: string } | undefined;
  kind: SessionKind;
  /** `NAME@NODE`, already resolved. */
  ref: string;
  command: string[];
  /** Run the remote side under a terminal. */
  tty: boolean;
  io: TerminalIo;
  liveness?: LivenessTimes;
}

/** Runs a session to its end; resolves with the exit status the client should have. */
export function runSession(request: SessionRequest): Promise<number> {
  const { io, tty } = request;
  const { cols, rows } = io.size();
  const query = new URLSearchParams({ cols: String(cols), rows: String(rows), term: io.term });
  if (request.kind === "exec") {
    query.set("tty", tty ? "1" : "0");
    for (const arg of request.command) query.append("arg", arg);
  }
  const path = `/api/v1/instances/${encodeURIComponent(request.ref)}/${request.kind}?${query}`;
  const url = `${request.baseUrl.replace(/^http/, "ws")}${path}`;
  const ws = new WebSocket(url, { headers: request.token ? { authorization: `Bearer ${request.token}` } : {}, ...(request.tls ? { tls: request.tls } : {}) });
  ws.binaryType = "arraybuffer";
  // Raw mode only when this terminal is the one typing into the remote terminal.
  const interactive = tty && io.stdinIsTTY;
  // Without a remote terminal, stdin is forwarded only when something was piped in.
  const forwardStdin = tty || !io.stdinIsTTY;

  return new Promise((resolve) => {
    let opened = false;
    let exitCode: number | null | undefined;
    let remoteError: string | null = null;
    let settled = false;
    const cleanups: (() => void)[] = [];
    const send = (frame: string | Uint8Array) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(frame);
    };
    const control = (message: SessionControl) => send(controlFrame(message));
    const liveness = watchPeer(
      request.liveness ?? DEFAULT_LIVENESS,
      () => control({ type: "ping" }),
      () => {
        remoteError = "the master stopped answering (network lost?)";
        ws.close(4004, "peer timeout");
        settle(EXIT.failure);
      },
    );
    cleanups.push(() => liveness.stop());

    function restore() {
      for (const c of cleanups.splice(0).reverse()) {
        try {
          c();
        } catch {
          // Restoring must go on even if one step fails.
        }
      }
      io.setRaw(false);
    }

    function settle(code: number, note?: string) {
      if (settled) return;
      settled = true;
      restore();
      const why = note ?? remoteError;
      if (why) io.writeStderr(`${interactive ? "\r\n" : ""}multiverse: ${why}\n`);
      void io.flush().then(() => resolve(code));
    }

    cleanups.push(
      io.onSignal((signal) => {
        ws.close(1000, "client interrupted");
        settle(EXIT.interrupted, `interrupted by ${signal}; session closed`);
      }),
    );

    ws.onopen = () => {
      opened = true;
      if (interactive) {
        io.setRaw(true);
        cleanups.push(() => io.setRaw(false));
      }
      if (tty) cleanups.push(io.onResize(() => control({ type: "resize", ...io.size() })));
      if (forwardStdin) {
        cleanups.push(
          io.readStdin(
            (bytes) => send(bytes),
            () => control({ type: "eof" }),
          ),
        );
      } else {
        control({ type: "eof" });
      }
    };

    ws.onmessage = (event) => {
      liveness.heard();
      if (typeof event.data !== "string") {
        const bytes = new Uint8Array(event.data as ArrayBuffer);
        if (tty) io.writeStdout(bytes);
        else if (bytes[0] === CHANNEL_STDOUT) io.writeStdout(bytes.subarray(1));
        else if (bytes[0] === CHANNEL_STDERR) io.writeStderr(bytes.subarray(1));
        return;
      }
      let message: SessionControl;
      try {
        message = parseSessionControl(event.data);
      } catch (error) {
        remoteError = `the master sent a bad control frame: ${messageOf(error)}`;
        ws.close(1002, "protocol error");
        return;
      }
      if (message.type === "ping") control({ type: "pong" });
      else if (message.type === "exit") exitCode = message.code;
      else if (message.type === "error") remoteError = message.message;
    };

    ws.onclose = (event) => {
      if (typeof exitCode === "number") return settle(exitCode, remoteError ?? undefined);
      if (remoteError) return settle(EXIT.failure);
      if (opened) return settle(EXIT.failure, `the connection to the master was lost (code ${event.code})`);
      const fallback = `cannot open the ${request.kind} session at ${request.baseUrl} (code ${event.code}${event.reason ? `: ${event.reason}` : ""})`;
      if (!request.diagnose) return settle(EXIT.failure, fallback);
      void request.diagnose(path).then(
        (why) => settle(EXIT.failure, why ?? fallback),
        () => settle(EXIT.failure, fallback),
      );
    };
  });
}
