/**
 * Lifecycle actions from the page: in bulk through `POST /api/v1/actions/:action`
 * (results streamed per instance), or on one instance. The confirmation and
 * the words of each verb live here too, so the table and the instance page agree.
 */
import type { InstanceState } from "../protocol/instances.ts";
import { parseActionEvent, parseActionResult, type ActionResult } from "../protocol/operations.ts";
import { postJson, postStream } from "./api.ts";
import type { ConfirmOptions, Ctx } from "./context.ts";

export const PAGE_ACTIONS = ["start", "stop", "restart", "suspend", "delete"] as const;
export type PageAction = (typeof PAGE_ACTIONS)[number];

export const ACTION_LABEL: Record<PageAction, string> = { start: "Start", stop: "Stop", restart: "Restart", suspend: "Suspend", delete: "Delete" };

/**
 * The verbs that make sense for an instance in `state`: what Multipass would do
 * rather than refuse or ignore (start a running one, stop a suspended one,
 * restart a stopped one). Delete is always offered: a deleted instance can
 * still be purged.
 */
export function actionsFor(state: InstanceState): ReadonlySet<PageAction> {
  switch (state) {
    case "Running":
      return new Set(["stop", "restart", "suspend", "delete"]);
    case "Delayed Shutdown":
      // Start cancels the pending shutdown.
      return new Set(["start", "stop", "restart", "suspend", "delete"]);
    case "Stopped":
    case "Suspended":
      return new Set(["start", "delete"]);
    case "Unknown":
      return new Set(["stop", "delete"]);
    case "Unavailable":
      return new Set(["start", "stop", "delete"]);
    case "Starting":
    case "Restarting":
    case "Suspending":
    case "Deleted":
      return new Set(["delete"]);
  }
}

/** Whether `action` makes sense for at least one of `states` (the bulk buttons of a selection). */
export function anyAccepts(action: PageAction, states: readonly InstanceState[]): boolean {
  return states.some((state) => actionsFor(state).has(action));
}

/** What to ask before `action` on `refs`; null for start, which needs no confirmation. */
export function confirmationFor(action: PageAction, refs: readonly string[]): ConfirmOptions | null {
  if (action === "start") return null;
  const what = refs.length === 1 ? refs[0]! : `${refs.length} instances`;
  const consequence: Record<Exclude<PageAction, "start">, string> = {
    stop: "Programs running in it stop; its disk is kept.",
    restart: "Programs running in it are interrupted.",
    suspend: "Its memory is saved to disk; it resumes where it was on start.",
    delete: "It can be recovered until it is purged.",
  };
  const listed = refs.length === 1 ? "" : `${refs.slice(0, 5).join(", ")}${refs.length > 5 ? ", …" : ""}. `;
  return {
    title: `${ACTION_LABEL[action]} ${what}?`,
    message: `${listed}${consequence[action]}`,
    okText: ACTION_LABEL[action],
    danger: action === "delete",
    ...(action === "delete" ? { purge: true, purgeMessage: `${listed}${refs.length === 1 ? "It is" : "They are"} removed for good and cannot be recovered.` } : {}),
  };
}

/** Asks, then acts on `refs` (`onStart` once confirmed), handing each result over as it comes. Resolves false when cancelled. */
export async function runBulk(ctx: Ctx, action: PageAction, refs: readonly string[], onResult: (result: ActionResult) => void, onStart: () => void = () => {}): Promise<boolean> {
  const ask = confirmationFor(action, refs);
  const choice = ask === null ? { purge: false } : await ctx.confirm(ask);
  if (choice === null) return false;
  onStart();
  const body = { instances: refs, ...(action === "delete" && choice.purge ? { purge: true } : {}) };
  await postStream(`/api/v1/actions/${action}`, body, parseActionEvent, (event) => {
    if (event.type === "result") onResult(event.result);
  });
  return true;
}

/** Asks, then acts on one instance. Resolves null when cancelled. */
export async function runOne(ctx: Ctx, action: PageAction, ref: string): Promise<ActionResult | null> {
  const ask = confirmationFor(action, [ref]);
  const choice = ask === null ? { purge: false } : await ctx.confirm(ask);
  if (choice === null) return null;
  const body = action === "delete" && choice.purge ? { purge: true } : {};
  return postJson(`/api/v1/instances/${encodeURIComponent(ref)}/${action}`, body, (v) => parseActionResult(v, "result"));
}
