/**
 * One WebSocket of a client session and its liveness (ping, and silence
 * taken for a lost peer). A session has one link at a time; a kept shell
 * gets a new one after each drop (reconnect.ts).
 */
import { watchPeer, type Liveness, type LivenessTimes } from "../net/liveness.ts";
import { controlFrame, type SessionControl } from "../protocol/session.ts";
import type { ClientTls } from "./api-client.ts";

export interface LinkEvents {
  open(): void;
  /** A text frame (a control message, still to parse) or the bytes of a binary one. */
  message(data: string | Uint8Array): void;
  close(code: number, reason: string): void;
  /** The master sent nothing, not even a pong, for the liveness's timeout. */
  silent(): void;
}

export interface LinkTarget {
  /** ws(s) URL of the route. */
  url: string;
  token: string | null;
  tls?: ClientTls | undefined;
}

/** The bytes of a binary frame, or null when `data` holds none. */
function frameBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

export class SessionLink {
  private readonly ws: WebSocket;
  private liveness: Liveness;
  /** The socket is not read (stdout has a backlog): the master's frames wait unread, so its silence is ours. */
  private paused = false;
  private dropped = false;

  constructor(
    target: LinkTarget,
    times: LivenessTimes,
    private readonly events: LinkEvents,
  ) {
    this.ws = new WebSocket(target.url, {
      headers: target.token ? { authorization: `Bearer ${target.token}` } : {},
      ...(target.tls ? { tls: target.tls } : {}),
    });
    this.ws.binaryType = "arraybuffer";
    this.liveness = this.watch(times);
    this.ws.onopen = () => events.open();
    this.ws.onmessage = (event) => {
      this.liveness.heard();
      const data: unknown = event.data;
      if (typeof data === "string") return events.message(data);
      const bytes = frameBytes(data);
      if (bytes !== null) events.message(bytes);
    };
    this.ws.onclose = (event) => {
      this.liveness.stop();
      events.close(event.code, event.reason);
    };
  }

  private watch(times: LivenessTimes): Liveness {
    return watchPeer(
      times,
      () => {
        if (this.paused) this.liveness.heard();
        this.control({ type: "ping" });
      },
      () => this.events.silent(),
    );
  }

  /** Watches the master with other times from now on (a shell that turned out to be kept). */
  rewatch(times: LivenessTimes): void {
    this.liveness.stop();
    if (!this.dropped) this.liveness = this.watch(times);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(frame: string | Uint8Array): void {
    if (this.isOpen) this.ws.send(frame);
  }

  control(message: SessionControl): void {
    this.send(controlFrame(message));
  }

  pause(): void {
    this.paused = true;
    this.ws.pause();
  }

  resume(): void {
    this.paused = false;
    if (this.dropped) return;
    this.ws.resume();
  }

  /** Closes with a handshake; `close` is still reported. */
  close(code: number, reason: string): void {
    if (this.dropped) return;
    // The close handshake needs the socket read.
    this.resume();
    this.ws.close(code, reason);
  }

  /**
   * Forgets the link at once: no more events, no handshake to wait for (the
   * network may be gone), the socket torn down. Idempotent.
   */
  drop(): void {
    if (this.dropped) return;
    this.dropped = true;
    this.liveness.stop();
    this.ws.onopen = null;
    this.ws.onmessage = null;
    this.ws.onclose = null;
    this.ws.terminate();
  }
}
