/**
 * Instances: the cluster-wide table with its filter, sorting, selection and
 * bulk actions, whose results are listed as they stream in.
 */
import { errorText } from "../api.ts";
import { ACTION_LABEL, anyAccepts, PAGE_ACTIONS, runBulk } from "../actions.ts";
import type { Ctx, Unmount } from "../context.ts";
import { focusOnSlash, h, setText } from "../dom.ts";
import { formatActionResult } from "../format.ts";
import { InstanceTable } from "./instance-table.ts";
import { openLaunch } from "./launch.ts";

/** The most result lines kept in the panel. */
const MAX_RESULT_LINES = 200;

export function mountInstances(container: HTMLElement, ctx: Ctx): Unmount {
  const table = new InstanceTable(ctx.navigate);
  const filter = h("input", { type: "search", "data-testid": "filter", placeholder: "Filter by name, node, state, address or label (role=web)", "aria-keyshortcuts": "/", title: "Filter (press / to jump here)", "aria-label": "Filter instances", autocomplete: "off" });
  const count = h("span", { class: "muted count", "data-testid": "count", "aria-live": "polite" });
  const buttons = PAGE_ACTIONS.map((action) => h("button", { type: "button", "data-action": action, class: action === "delete" ? "danger-text" : "", disabled: true }, ACTION_LABEL[action]));
  const launch = h("button", { type: "button", class: "primary", "data-testid": "launch-open" }, "Launch…");
  const results = h("ul", { class: "results", "data-testid": "action-results", "aria-live": "polite" });
  const resultsBox = h("section", { class: "card results-card", hidden: true }, h("div", { class: "card-head" }, h("h2", {}, "Results"), h("button", { type: "button", class: "ghost small", onclick: () => (resultsBox.hidden = true) }, "Hide")), results);

  container.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Instances"), count, launch),
    h("div", { class: "toolbar" }, filter, h("div", { class: "bulk", role: "group", "aria-label": "Act on the selected instances" }, ...buttons)),
    resultsBox,
    table.root,
  );

  const paintCount = () => {
    const total = ctx.store.state.instances.length;
    const selected = table.selected().length;
    const shown = table.shownCount();
    setText(count, `${shown === total ? `${total}` : `${shown} of ${total}`} instance${total === 1 ? "" : "s"}${selected > 0 ? ` · ${selected} selected` : ""}`);
    // A verb is offered when it makes sense for at least one selected instance; each gets its own outcome.
    const states = table.selectedStates();
    PAGE_ACTIONS.forEach((action, i) => {
      buttons[i]!.disabled = !anyAccepts(action, states);
    });
  };
  table.onSelectionChange = paintCount;
  // The filter is part of the address (?q=), so a filtered view can be linked to and survives a reload.
  filter.value = new URLSearchParams(location.search).get("q")?.slice(0, 200) ?? "";
  if (filter.value !== "") table.setFilter(filter.value);
  filter.addEventListener("input", () => {
    table.setFilter(filter.value);
    history.replaceState(null, "", filter.value.trim() === "" ? location.pathname : `${location.pathname}?${new URLSearchParams({ q: filter.value })}`);
    paintCount();
  });

  const addResult = (text: string, ok: boolean | "pending") => {
    resultsBox.hidden = false;
    results.prepend(h("li", { "data-ok": String(ok) }, h("span", { class: "result-mark", "aria-hidden": "true" }, ok === "pending" ? "…" : ok ? "✓" : "✗"), text));
    while (results.childElementCount > MAX_RESULT_LINES) results.lastElementChild?.remove();
  };
  // The selection stays after an action (stop, then delete the same ones), and the buttons stay usable while
  // one runs: the master serialises what touches the same instance, and every outcome is listed.
  PAGE_ACTIONS.forEach((action, i) => {
    buttons[i]!.addEventListener("click", () => {
      const refs = table.selected();
      if (refs.length === 0) return;
      const what = refs.length === 1 ? refs[0]! : `${refs.length} instances`;
      runBulk(ctx, action, refs, (result) => addResult(formatActionResult(action, result), result.ok), () => addResult(`${ACTION_LABEL[action]} ${what}…`, "pending"))
        .catch((error: unknown) => addResult(`${ACTION_LABEL[action]} failed: ${errorText(error)}`, false))
        .finally(paintCount);
    });
  });
  launch.addEventListener("click", () => openLaunch(ctx));

  const paint = () => {
    table.update(ctx.store.state.instances, ctx.store.state.loaded);
    paintCount();
  };
  paint();
  const unsubscribe = ctx.store.subscribe((change) => change === "snapshot" && paint());
  const unslash = focusOnSlash(filter);
  return () => {
    unsubscribe();
    unslash();
  };
}
