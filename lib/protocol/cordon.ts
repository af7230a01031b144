/**
 * The wire of node maintenance (issue 15): a cordon as the node's view shows
 * it, and the body of `POST /api/v1/nodes/:name/cordon`.
 */
import { usageError } from "../core/errors.ts";
import { field, nullable, object, optional, string } from "../core/parse.ts";

/** Longest reason a cordon keeps. */
export const MAX_CORDON_REASON = 256;

/** A node's cordon: no new launch is placed there until it is uncordoned. */
export interface CordonView {
  /** ISO 8601 time of the cordon. */
  since: string;
  /** Why, as the operator said (`--reason`), or null. */
  reason: string | null;
}

/** The body of `POST /api/v1/nodes/:name/cordon`. */
export interface CordonRequest {
  reason: string | null;
}

/** @throws ParseError */
export function parseCordonView(value: unknown, path: string): CordonView {
  const o = object(value, path);
  return { since: field(o, "since", path, string), reason: field(o, "reason", path, nullable(string)) };
}

/**
 * Checks a reason: at most {@link MAX_CORDON_REASON} characters, no control
 * characters (it is shown on terminals); empty means none.
 * @throws AppError E_USAGE
 */
export function validateCordonReason(reason: string): string | null {
  if (reason.length > MAX_CORDON_REASON) throw usageError(`Invalid cordon reason: at most ${MAX_CORDON_REASON} characters, got ${reason.length}`);
  if (/[\u0000-\u001f\u007f-\u009f]/.test(reason)) throw usageError("Invalid cordon reason: it contains a control character");
  return reason === "" ? null : reason;
}

/**
 * The body of a cordon: `{}` or `{ "reason": "…" }`.
 * @throws ParseError for a wrong shape; AppError E_USAGE for a bad reason.
 */
export function parseCordonRequest(value: unknown): CordonRequest {
  const o = object(value ?? {}, "body");
  const reason = field(o, "reason", "body", optional(nullable(string)));
  return { reason: reason == null ? null : validateCordonReason(reason) };
}
