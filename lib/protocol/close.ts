/**
 * WebSocket close codes (RFC 6455 §7.4.1) that every wire of multiverse uses.
 * The application's own codes (4000–4999) are named by their wire: JOIN_CLOSE
 * in join.ts, SESSION_CLOSE in session.ts.
 */
export const WS_CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  /** Never sent: what a peer sees when the connection dropped or an upgrade was refused. */
  abnormal: 1006,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
} as const;
