/**
 * One relayed shell or exec: the client's end on one side, a WebSocket to
 * the node's agent server on the other, as an explicit state machine.
 *
 * ```
 * connecting ──connected──▶ open ──nodeExited──▶ exited
 *      │                     └──nodeDetached──▶ detaching
 *      └────────────────────┴─────────────────────┴──▶ ended
 *        (fail, clientSilent, clientGone, nodeClosed)
 * ```
 *
 * - `connecting`: the node's socket is opening; what the client sends is
 *   held (bounded) until it is up.
 * - `open`: frames pass both ways, in order; each hop is pinged and watched.
 * - `exited`: the node reported the program's exit and the client has it;
 *   nothing more reaches the client but the close.
 * - `detaching`: the node said `detached` (a kept shell goes on without this
 *   client) and the client has it; its close (4010) follows, to the client too.
 * - `ended`: the outcome is reported (once), the watchers are stopped and
 *   both sockets are closed or closing; every later event is ignored.
 *
 * The client always gets an `exit` frame before the close: the node's, or
 * a null one after an `error` frame saying why there is none — unless the
 * shell is kept (issue 12: the node said `session` or `attached`). A kept
 * shell outlives this relay: its every end but the program's exit is a
 * detach — the node's socket is closed normally, so the node keeps the
 * shell, and the client gets `detached` (after an `error` saying why, if
 * any) and the close 4010; a client gone or silent gets nothing more (a
 * silent one the close 4004, as a dropped network, so it comes back).
 * A read-only attach (a viewer) sends the node nothing of the client's.
 *
 * Flow control is relay-flow.ts's: a client that takes no output at all
 * for OUTPUT_STALL_MS has the session ended, with `error` and `exit` queued
 * behind the output it has not read.
 */
import type { ConsolaInstance } from "consola";
import { AGENT_HEADERS_MS, agentEndpoint } from "./agent-client.ts";
import { formatDuration } from "../core/duration.ts";
import { RelayFlow } from "./relay-flow.ts";
import { AppError, messageOf, type ErrorCode } from "../core/errors.ts";
import { watchPeer, type Liveness, type LivenessTimes } from "../net/liveness.ts";
import type { NodeEntry } from "./registry.ts";
import type { SessionView } from "../protocol/api.ts";
import { WS_CLOSE } from "../protocol/close.ts";
import { controlFrame, parseSessionControl, SESSION_CLOSE, type SessionControl, type SessionStart } from "../protocol/session.ts";
import type { ClientEnd, RelayHandle, SessionOutcome } from "./session-ends.ts";

export type RelayState = "connecting" | "open" | "exited" | "detaching" | "ended";

export interface RelayedSessionOptions {
  node: NodeEntry;
  /** The start frame the node gets, as it goes on the wire. */
  start: SessionStart;
  /** How the session is listed; its id is the session's (a kept shell's, for an attach). */
  view: SessionView;
  client: ClientEnd;
  times: LivenessTimes;
  log: ConsolaInstance;
  /** How long the node may take to accept the session's socket (default AGENT_HEADERS_MS). */
  connectMs?: number;
  /** How long a client may take no output at all before the session is ended (default OUTPUT_STALL_MS, relay-flow.ts). */
  stallMs?: number;
  /** Hears how the session ended, once. */
  onEnd: (outcome: SessionOutcome) => void;
  /** Called once the session has ended, after `onEnd` (the relay drops it from its table). */
  onEnded: () => void;
}

type Frame = string | Uint8Array;

export class RelayedSession implements RelayHandle {
  readonly view: SessionView;
  #state: RelayState = "connecting";
  readonly #o: RelayedSessionOptions;
  readonly #agent: WebSocket;
  readonly #clientLive: Liveness | null;
  readonly #agentLive: Liveness;
  /** What the client sent while connecting. */
  #pending: Frame[] = [];
  #pendingBytes = 0;
  /** The node keeps this shell past its client: it said `session` or `attached`. */
  #kept = false;
  /** The program's status, and the first error the node or the relay reported. */
  #exitCode: number | null = null;
  #firstError: { code: ErrorCode; message: string } | null = null;
  /** Ends a session whose node accepts TCP but never the upgrade (hung, stopped). */
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #flow: RelayFlow;

  /** Starts opening the node's socket. @throws what the WebSocket constructor throws */
  constructor(options: RelayedSessionOptions) {
    this.#o = options;
    const { node, client, times } = options;
    this.view = options.view;
    const endpoint = agentEndpoint(node, "ws");
    this.#agent = new WebSocket(`${endpoint.url}/agent/v1/session`, {
      headers: { authorization: `Bearer ${node.agentToken}` },
      ...(endpoint.tls ? { tls: endpoint.tls } : {}),
    });
    this.#agent.binaryType = "arraybuffer";
    this.#flow = new RelayFlow({
      agent: this.#agent,
      client,
      ...(options.stallMs === undefined ? {} : { stallMs: options.stallMs }),
      onStall: (error) => this.#fail(error),
      sending: () => this.#state !== "connecting",
    });
    const ping = client.ping?.bind(client);
    this.#clientLive =
      ping === undefined
        ? null
        : watchPeer(
            client.liveness ?? times,
            () => {
              // While the client's socket is not read, its frames wait unread: the silence is ours.
              if (this.#flow.inputHeld) this.#clientLive?.heard();
              client.control({ type: "ping" });
              ping();
            },
            () => this.#clientSilent(),
          );
    this.#agentLive = watchPeer(
      times,
      () => {
        if (this.#flow.outputHeld) this.#agentLive.heard();
        this.#toAgent(controlFrame({ type: "ping" }));
      },
      () => this.#fail(new AppError("E_UNREACHABLE", `Node "${node.name}" stopped answering`)),
    );
    const connectMs = options.connectMs ?? AGENT_HEADERS_MS;
    this.#connectTimer = setTimeout(() => {
      if (this.#state !== "connecting") return;
      this.#fail(new AppError("E_UNREACHABLE", `Node "${node.name}" at ${node.address} did not accept the session within ${formatDuration(connectMs)}`));
    }, connectMs);
    this.#agent.onopen = () => this.#connected();
    this.#agent.onmessage = (event) => this.#fromNode(event.data);
    this.#agent.onclose = (event) => this.#nodeClosed(event.code);
  }

  get state(): RelayState {
    return this.#state;
  }

  /** A read-only attach: the client watches, and nothing of its reaches the node. */
  get readOnly(): boolean {
    return this.#o.start.kind === "attach" && this.#o.start.readOnly;
  }

  get #id(): string {
    return this.view.id;
  }

  input(bytes: Uint8Array): void {
    this.#clientLive?.heard();
    if (!this.readOnly) this.#toAgent(bytes);
  }

  control(message: SessionControl): void {
    this.#clientLive?.heard();
    switch (message.type) {
      case "ping":
        this.#o.client.control({ type: "pong" });
        break;
      case "resize":
        if (this.readOnly) break;
        this.view.size = { cols: message.cols, rows: message.rows };
        this.#toAgent(controlFrame(message));
        break;
      case "eof":
        if (!this.readOnly) this.#toAgent(controlFrame(message));
        break;
      case "detach":
        // Only a kept shell can be left running; the node answers `detached` and closes.
        if (this.#kept && !this.readOnly) this.#toAgent(controlFrame(message));
        break;
      default:
        break;
    }
  }

  clientGone(): void {
    this.#end("client left", this.#kept);
  }

  heard(): void {
    this.#clientLive?.heard();
  }

  drained(): void {
    this.#flow.drained();
  }

  /** connecting → open: the start frame goes first, then what the client sent meanwhile. */
  #connected(): void {
    if (this.#state !== "connecting") return;
    clearTimeout(this.#connectTimer);
    this.#state = "open";
    this.#agent.send(JSON.stringify({ type: "start", ...this.#o.start }));
    for (const frame of this.#pending.splice(0)) this.#agent.send(frame);
    this.#pendingBytes = 0;
    this.#flow.connected(this.#agent.bufferedAmount);
  }

  #toAgent(frame: Frame): void {
    switch (this.#state) {
      case "ended":
      case "detaching":
        return;
      case "connecting":
        this.#pendingBytes += frame.length;
        this.#pending.push(frame);
        this.#flow.toNode(this.#pendingBytes);
        return;
      default:
        this.#agent.send(frame);
        this.#flow.toNode(this.#agent.bufferedAmount);
    }
  }

  /** A frame from the node: output for the client, or a control frame. */
  #fromNode(data: unknown): void {
    this.#agentLive.heard();
    if (this.#state === "ended" || this.#state === "detaching") return;
    const { node, client } = this.#o;
    if (typeof data !== "string") {
      const bytes = frameBytes(data);
      if (bytes === null) return this.#fail(new AppError("E_PROTOCOL", `Node "${node.name}" sent a frame that is neither text nor binary`));
      const delivery = client.binary(bytes);
      if (delivery === "full") this.#flow.clientFull();
      else if (delivery === "lost") this.#fail(new AppError("E_UNREACHABLE", "Output for the client was lost"));
      return;
    }
    let message: SessionControl;
    try {
      message = parseSessionControl(data);
    } catch (error) {
      return this.#fail(new AppError("E_PROTOCOL", `Node "${node.name}" sent a bad control frame: ${messageOf(error)}`));
    }
    switch (message.type) {
      case "ping":
        return this.#toAgent(controlFrame({ type: "pong" }));
      case "exit":
        return this.#nodeExited(message);
      case "error":
        this.#firstError ??= { code: message.code, message: message.message };
        return client.control(message);
      case "session":
      case "attached":
        this.#kept = true;
        this.view.state = "attached";
        return client.control(message.type === "session" ? { ...message, node: node.name } : message);
      case "detached":
        this.#state = "detaching";
        this.#clientLive?.stop();
        return client.control(message);
      case "eof":
        // A forward's connection half-closed by the instance's service (issue 14).
        return client.control(message);
      default:
        return;
    }
  }

  /** → exited: the client gets the program's status, and after it nothing, not even a ping. */
  #nodeExited(message: Extract<SessionControl, { type: "exit" }>): void {
    this.#state = "exited";
    this.#exitCode = message.code;
    this.#clientLive?.stop();
    this.#o.client.control(message);
  }

  /** The node's socket closed: the normal end after an exit, else a failure. */
  #nodeClosed(code: number): void {
    const { node, client } = this.#o;
    switch (this.#state) {
      case "ended":
        return;
      case "exited":
        this.#end("exit");
        client.close(SESSION_CLOSE.exit, "exit");
        return;
      case "detaching":
        return this.#detached();
      case "open":
        if (code === SESSION_CLOSE.detached) return this.#detached();
        return this.#fail(new AppError("E_UNREACHABLE", `Lost the connection to node "${node.name}" (code ${code})`));
      case "connecting":
        return this.#fail(new AppError("E_UNREACHABLE", `Cannot open a session on node "${node.name}" at ${node.address} (code ${code})`));
    }
  }

  #clientSilent(): void {
    if (this.#state === "ended") return;
    this.#o.log.warn(`session ${this.#id}: the client went silent; ${this.#kept ? "detaching" : "ending"} it`);
    // A kept shell's client hears nothing more: to it, this is a dropped network, and it comes back.
    if (!this.#kept) this.#tellClient(new AppError("E_TIMEOUT", "The client stopped answering pings"));
    this.#end("client silent", this.#kept);
    this.#o.client.close(SESSION_CLOSE.peerTimeout, "peer timeout");
  }

  /** → ended, with an error the client is told about; a kept shell is detached, not ended. */
  #fail(error: AppError): void {
    if (this.#state === "ended") return;
    if (this.#kept && this.#state !== "exited") {
      this.#firstError ??= { code: error.code, message: error.message };
      if (this.#state === "open") this.#o.client.control({ type: "error", code: error.code, message: error.message });
      return this.#detached(error.message);
    }
    this.#tellClient(error);
    this.#end(error.message);
    this.#o.client.close(SESSION_CLOSE.exit, "exit");
  }

  /** → ended, the shell kept on its node: the client has `detached` (or it came from the node), and the close 4010. */
  #detached(why = "detached"): void {
    if (this.#state === "open") this.#o.client.control({ type: "detached", id: this.#id });
    this.#end(why, true);
    this.#o.client.close(SESSION_CLOSE.detached, "detached");
  }

  /** Sends `error` and a null `exit`, unless the node's own exit went out already. */
  #tellClient(error: AppError): void {
    this.#firstError ??= { code: error.code, message: error.message };
    if (this.#state === "exited") return;
    this.#o.client.control({ type: "error", code: error.code, message: error.message });
    this.#o.client.control({ type: "exit", code: null });
  }

  /**
   * → ended: reports the outcome once, stops the watchers and closes the
   * node's socket — normally, never with an `exit`, so a node that keeps the
   * shell (`detached`) keeps it.
   */
  #end(why: string, detached = false): void {
    if (this.#state === "ended") return;
    this.#state = "ended";
    clearTimeout(this.#connectTimer);
    this.#flow.stop();
    const exitCode = this.#exitCode;
    if (detached) this.#o.onEnd({ exitCode: null, error: this.#firstError, detached: true });
    else this.#o.onEnd({ exitCode, error: exitCode !== null ? null : (this.#firstError ?? { code: "E_CANCELLED", message: `ended before the program did (${why})` }) });
    this.#clientLive?.stop();
    this.#agentLive.stop();
    this.#o.onEnded();
    if (this.#agent.readyState === WebSocket.OPEN || this.#agent.readyState === WebSocket.CONNECTING) this.#agent.close(WS_CLOSE.normal, why.slice(0, 100));
    this.#o.log.info(`session ${this.#id}: ${detached ? "detached, kept on its node" : "ended"} (${why})`);
  }
}

/** The bytes of a binary WebSocket frame (an ArrayBuffer, as `binaryType` asks, or a view of one); null for anything else. */
function frameBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}
