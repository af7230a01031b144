/**
 * Events: the audit trail, newest first: the last 200 records from `GET
 * /api/v1/events`, then each new one from the watch stream. Rows are keyed
 * by record id and never re-rendered.
 */
import { parseAuditEvent, type AuditEvent } from "../../protocol/audit.ts";
import { arrayOf } from "../../core/parse.ts";
import { errorText, getJson } from "../api.ts";
import type { Ctx, Unmount } from "../context.ts";
import { badge, focusOnSlash, h, setText, syncChildren } from "../dom.ts";
import { auditText, formatAuditResult, formatLocalTime } from "../format.ts";
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

function createRow(event: AuditEvent): HTMLTableRowElement {
  const tone = event.phase === "requested" ? "busy" : event.result === "error" ? "bad" : "ok";
  const tr = h(
    "tr",
    { "data-event-id": String(event.id) },
    h("td", { "data-col": "time", class: "mono nowrap", title: event.time }, formatLocalTime(event.time)),
    h("td", { "data-col": "action" }, event.action),
    h("td", { "data-col": "node" }, event.node ?? "—"),
    h("td", { "data-col": "instance" }, event.instance ?? "—"),
    h("td", { "data-col": "token", class: "mono" }, event.token),
    h("td", { "data-col": "result" }, badge(formatAuditResult(event), tone)),
  );
  tr.dataset["search"] = auditText(event);
  return tr;
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

  const rows = new Map<number, HTMLTableRowElement>();
  let words: string[] = [];
  const matches = (tr: HTMLTableRowElement) => {
    const text = tr.dataset["search"] ?? "";
    return words.every((w) => text.includes(w));
  };
  // Rows that do not match the filter leave the table (kept in `rows`), so what is in the table is what is shown.
  const paint = () => {
    const events = ctx.store.state.events;
    const keep = new Set(events.map((e) => e.id));
    for (const id of rows.keys()) if (!keep.has(id)) rows.delete(id);
    const wanted: HTMLTableRowElement[] = [];
    for (const event of events) {
      let tr = rows.get(event.id);
      if (tr === undefined) {
        tr = createRow(event);
        rows.set(event.id, tr);
      }
      if (matches(tr)) wanted.push(tr);
    }
    syncChildren(tbody, wanted);
    const shown = wanted.length;
    empty.hidden = shown > 0 || !ctx.store.state.eventsLoaded;
    setText(empty, events.length === 0 ? "Nothing recorded yet: launches, lifecycle actions, shells and execs appear here as they happen." : "No record matches the filter.");
    const total = `${events.length} record${events.length === 1 ? "" : "s"}${events.length >= MAX_EVENTS ? " (the newest kept)" : ""}`;
    setText(count, shown === events.length ? total : `${shown} of ${total}`);
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
