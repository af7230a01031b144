/**
 * Events: the audit trail, newest first: the last 200 records from `GET
 * /api/v1/events`, then each new one from the watch stream. One row per
 * request (its "requested" and "done" records share a requestId), keyed by
 * requestId: its outcome reads "pending" until the "done" record comes.
 */
import { parseAuditEvent } from "../../protocol/audit.ts";
import { arrayOf } from "../../core/parse.ts";
import { errorText, getJson } from "../api.ts";
import type { Ctx, Unmount } from "../context.ts";
import { groupRequests, requestRecord, type AuditRequest } from "../audit-requests.ts";
import { badge, focusOnSlash, h, setAttr, setText, syncChildren, updateBadge } from "../dom.ts";
import { auditText, formatLocalTime, formatRequestOutcome, requestTone } from "../format.ts";
import { MAX_EVENTS } from "../store.ts";
import { filterWords } from "../table-model.ts";

const parseEvents = (value: unknown) => arrayOf((v, p) => parseAuditEvent(v, p))(value, "events");

/** Loads the first page once per page load; the watch stream adds the rest. */
export function loadEvents(ctx: Ctx): void {
  if (ctx.store.state.eventsLoaded) return;
  getJson("/api/v1/events?limit=200", parseEvents)
    .then((events) => {
      ctx.store.addEvents(events);
      ctx.store.setEventsLoaded();
    })
    .catch((error: unknown) => ctx.notify(`The audit trail could not be read: ${errorText(error)}`, "error"));
}

interface Row {
  tr: HTMLTableRowElement;
  outcome: HTMLElement;
  /** The record ids painted, so a row is touched only when its request gained a record. */
  painted: string;
}

function createRow(request: AuditRequest): Row {
  const record = requestRecord(request);
  const outcome = badge("", "busy");
  const tr = h(
    "tr",
    { "data-request-id": request.requestId },
    h("td", { "data-col": "time", class: "mono nowrap", title: record.time }, formatLocalTime(record.time)),
    h("td", { "data-col": "action" }, record.action),
    h("td", { "data-col": "node" }, record.node ?? "—"),
    h("td", { "data-col": "instance" }, record.instance ?? "—"),
    h("td", { "data-col": "token", class: "mono" }, record.token),
    h("td", { "data-col": "result" }, outcome),
  );
  const row = { tr, outcome, painted: "" };
  paintRow(row, request);
  return row;
}

/** The row of a request: keyed (data-event-id) by its newest record, with every record's id (data-event-ids). */
function paintRow(row: Row, request: AuditRequest): void {
  const ids = request.ids.join(" ");
  if (row.painted === ids) return;
  row.painted = ids;
  setAttr(row.tr, "data-event-id", String(request.id));
  setAttr(row.tr, "data-event-ids", ids);
  updateBadge(row.outcome, formatRequestOutcome(request.done), requestTone(request.done));
  if (request.done !== null) setAttr(row.outcome, "title", `done ${formatLocalTime(request.done.time)}`);
  row.tr.dataset["search"] = auditText(requestRecord(request), request.done);
}

export function mountEvents(container: HTMLElement, ctx: Ctx): Unmount {
  const filter = h("input", { type: "search", "data-testid": "events-filter", placeholder: "Filter by action, node, instance, token or result", "aria-keyshortcuts": "/", title: "Filter (press / to jump here)", "aria-label": "Filter events", autocomplete: "off" });
  const tbody = h("tbody");
  const empty = h("p", { class: "empty card", hidden: true });
  const count = h("span", { class: "muted count" });
  const table = h(
    "table",
    { "data-testid": "events-table", class: "grid" },
    h("thead", {}, h("tr", {}, ...["Time", "Action", "Node", "Instance", "Token", "Result"].map((label) => h("th", { scope: "col" }, label)))),
    tbody,
  );
  container.replaceChildren(h("div", { class: "page-head" }, h("h1", {}, "Events"), count), h("div", { class: "toolbar" }, filter), empty, h("div", { class: "table-scroll" }, table));

  const rows = new Map<string, Row>();
  let words: string[] = [];
  const matches = (tr: HTMLTableRowElement) => {
    const text = tr.dataset["search"] ?? "";
    return words.every((w) => text.includes(w));
  };
  // Rows that do not match the filter leave the table (kept in `rows`), so what is in the table is what is shown.
  const paint = () => {
    const events = ctx.store.state.events;
    const requests = groupRequests(events);
    const keep = new Set(requests.map((r) => r.requestId));
    for (const id of rows.keys()) if (!keep.has(id)) rows.delete(id);
    const wanted: HTMLTableRowElement[] = [];
    for (const request of requests) {
      let row = rows.get(request.requestId);
      if (row === undefined) {
        row = createRow(request);
        rows.set(request.requestId, row);
      } else paintRow(row, request);
      if (matches(row.tr)) wanted.push(row.tr);
    }
    syncChildren(tbody, wanted);
    const shown = wanted.length;
    empty.hidden = shown > 0 || !ctx.store.state.eventsLoaded;
    setText(empty, events.length === 0 ? "Nothing recorded yet: launches, lifecycle actions, shells and execs appear here as they happen." : "No request matches the filter.");
    const total = `${requests.length} request${requests.length === 1 ? "" : "s"}${events.length >= MAX_EVENTS ? " (the newest kept)" : ""}`;
    setText(count, shown === requests.length ? total : `${shown} of ${total}`);
  };
  filter.addEventListener("input", () => {
    words = filterWords(filter.value);
    paint();
  });
  loadEvents(ctx);
  paint();
  const unsubscribe = ctx.store.subscribe((change) => change === "events" && paint());
  const unslash = focusOnSlash(filter);
  return () => {
    unsubscribe();
    unslash();
  };
}
