/**
 * The audit policy of every mutating call (launches, lifecycle verbs,
 * purges, shells and execs), written once: record that the call is
 * requested, act only once that record is durable, then record how it
 * ended. A call that cannot be recorded is not made (E_STORAGE, 503); an end
 * that cannot be recorded is logged, and the call's outcome stands.
 *
 * The "done" record says what really happened. When a call's answer was lost
 * on the way (outcomes.ts), its caller is answered at once and the record
 * waits for the outcome the node reports later (`settleLater`); when the
 * master stops first, it stays without one, and the next master's
 * reconciliation writes it (reconcile.ts).
 */
import { randomUUID } from "node:crypto";
import type { ConsolaInstance } from "consola";
import { messageOf, toAppError, type AppError, type ErrorCode } from "../core/errors.ts";
import type { AuditLog } from "./audit-log.ts";
import type { AuditEvent } from "../protocol/audit.ts";
import type { ShellEnded } from "../protocol/join.ts";

/** Where calls are recorded; `append` throws when a record cannot be made durable. */
export type AuditSink = Pick<AuditLog, "append">;

export interface AuditDeps {
  audit: AuditSink;
  /** Hears the ends that could not be recorded. */
  log: Pick<ConsolaInstance, "error">;
}

/** Who is calling: the id (never the secret) of the token they used. */
export interface Caller {
  tokenId: string;
}

/** One call as the audit trail names it: who asked for what, where. */
export interface AuditedCall {
  /** Shared by the call's two records; a fresh one when not given. */
  requestId?: string;
  /** tokenId() of the caller's token, never the token. */
  token: string;
  action: string;
  node: string | null;
  instance: string | null;
  /** Kept (sanitized by the audit log) on the "requested" record. */
  params?: Record<string, unknown>;
}

/** How a call ended: with an error or without; a shell or exec also with its program's status. */
export interface CallEnd {
  error: { code: ErrorCode; message: string } | null;
  exitCode?: number | null;
}

/**
 * Records that `call` is requested, before anything is done.
 * @returns what records its end (call it once); a failure to record that is
 *   logged, never thrown.
 * @throws AppError (E_STORAGE) when the request cannot be recorded: the call
 *   must then not be made.
 */
export function recordRequest(deps: AuditDeps, call: AuditedCall): (end: CallEnd) => void {
  const { params, requestId, ...who } = call;
  const base = { ...who, requestId: requestId ?? randomUUID() };
  try {
    deps.audit.append({ ...base, phase: "requested", ...(params ? { params } : {}) });
  } catch (error) {
    throw toAppError(error, "E_STORAGE");
  }
  return (end) => recordEnd(deps, base, end);
}

/**
 * Records how a call ended: the "done" record of `requested` (a call's
 * request record, or the fields it shares with its end). A failure to record
 * it is logged, never thrown.
 */
export function recordEnd(deps: AuditDeps, requested: Pick<AuditEvent, "requestId" | "token" | "action" | "node" | "instance">, end: CallEnd): void {
  const { requestId, token, action, node, instance } = requested;
  try {
    deps.audit.append({
      requestId,
      token,
      action,
      node,
      instance,
      phase: "done",
      result: end.error ? "error" : "ok",
      ...(end.exitCode === undefined || end.exitCode === null ? {} : { exitCode: end.exitCode }),
      ...(end.error ? { error: end.error } : {}),
    });
  } catch (error) {
    deps.log.error(`audit trail: cannot record the end of ${describeCall(requested)}: ${messageOf(error)}`);
  }
}

/**
 * What an audited call came to; `acted` is false when its request could not
 * be recorded, so nothing was done. `settled` resolves once its "done" record
 * is written (later than the answer when the outcome is learned later).
 */
export type Audited<T> = ({ ok: true; value: T } | { ok: false; error: AppError; acted: boolean }) & { settled: Promise<void> };

/** What `act` gets: its request id (for the node), and a way to leave its "done" record to the real outcome. */
export interface ActContext {
  requestId: string;
  /**
   * The call's caller is answered with what `act` returns or throws, but its
   * "done" record waits for `later`: the outcome the node reports after the
   * answer was lost. `later` resolving to null (the master is stopping)
   * writes nothing, and the next master settles the record (reconcile.ts).
   */
  settleLater(later: Promise<CallEnd | null>): void;
}

/**
 * The whole policy around `act`: records the request (and does nothing more
 * when that fails), acts, and records how it ended. A failure of `act` that
 * is not an AppError becomes one with the code `fallback`. Never rejects.
 */
export async function audited<T>(deps: AuditDeps, call: AuditedCall, fallback: ErrorCode, act: (ctx: ActContext) => Promise<T>): Promise<Audited<T>> {
  const requestId = call.requestId ?? randomUUID();
  let done: (end: CallEnd) => void;
  try {
    done = recordRequest(deps, { ...call, requestId });
  } catch (error) {
    return { ok: false, error: toAppError(error, "E_STORAGE"), acted: false, settled: Promise.resolve() };
  }
  let later: Promise<CallEnd | null> | null = null;
  const finish = (now: CallEnd): Promise<void> => {
    if (later === null) return Promise.resolve(done(now));
    return later.then(
      (end) => (end === null ? undefined : done(end)),
      (error: unknown) => deps.log.error(`audit trail: the outcome of ${describeCall(call)} was not learned: ${messageOf(error)}`),
    );
  };
  try {
    const value = await act({ requestId, settleLater: (p) => void (later = p) });
    return { ok: true, value, settled: finish({ error: null }) };
  } catch (error) {
    const e = toAppError(error, fallback);
    return { ok: false, error: e, acted: true, settled: finish({ error: { code: e.code, message: e.message } }) };
  }
}

function describeCall(call: Pick<AuditedCall, "action" | "node" | "instance">): string {
  const what = call.instance === null ? "" : ` of "${call.instance}"`;
  const where = call.node === null ? "" : ` on node "${call.node}"`;
  return `the ${call.action}${what}${where}`;
}

/**
 * The "end" record of a shell its node kept (issue 12), as the node reports
 * it (protocol/join.ts ShellEnded): under the token that opened it, with its
 * status or why the worker ended it. A record that cannot be written is
 * logged: the shell has ended whatever the trail says.
 */
export function recordShellEnd(deps: AuditDeps, node: string, ended: ShellEnded): void {
  const call = { token: ended.owner, action: "end", node, instance: ended.instance, params: { session: ended.id, reason: ended.reason } };
  try {
    recordRequest(deps, call)(ended.exitCode === null ? { error: { code: "E_CANCELLED", message: `Ended by its worker: ${ended.reason}` } } : { error: null, exitCode: ended.exitCode });
  } catch (error) {
    deps.log.error(`audit trail: cannot record the end of shell ${ended.id} on ${ended.instance}@${node}: ${messageOf(error)}`);
  }
}
