/**
 * Overview: a card per node with its state, resource bars, last sync,
 * Multipass version and any Multipass error in plain words. Cards are keyed
 * by node name and updated in place on each snapshot.
 */
import type { NodeView } from "../../protocol/api.ts";
import type { Ctx, Unmount } from "../context.ts";
import { badge, h, link, setAttr, setText, updateBadge } from "../dom.ts";
import { formatAgo, formatPercent, nodeBars, nodeTone, type Bar } from "../format.ts";
import { instanceRef } from "../table-model.ts";

interface Card {
  root: HTMLElement;
  update: (node: NodeView, now: number) => void;
}

function barRow(): { root: HTMLElement; paint: (bar: Bar) => void } {
  const label = h("span", { class: "bar-label" });
  const value = h("span", { class: "bar-value" });
  const fill = h("span", { class: "bar-fill" });
  const track = h("span", { class: "bar-track", role: "meter", "aria-valuemin": "0", "aria-valuemax": "100" }, fill);
  return {
    root: h("div", { class: "bar" }, h("div", { class: "bar-head" }, label, value), track),
    paint(bar) {
      setText(label, bar.label);
      setText(value, `${bar.text} · ${formatPercent(bar.fraction)}`);
      fill.style.width = `${Math.round((bar.fraction ?? 0) * 100)}%`;
      setAttr(track, "data-level", bar.level);
      setAttr(track, "data-kind", bar.kind);
      setAttr(track, "aria-valuenow", String(Math.round((bar.fraction ?? 0) * 100)));
      setAttr(track, "aria-label", bar.kind === "allocation" ? `${bar.label} allocated` : bar.label);
    },
  };
}

function createCard(navigate: (path: string) => void): Card {
  const name = h("h2", { class: "node-name" });
  const state = badge("", "off");
  state.setAttribute("data-field", "state");
  const bars = Array.from({ length: 6 }, barRow);
  const sync = h("dd", { "data-field": "lastSync" });
  const version = h("dd", { "data-field": "multipassVersion" });
  const countLink = link("/instances", navigate, {});
  const count = h("dd", { "data-field": "instanceCount" }, countLink);
  const address = h("dd", { "data-field": "address" });
  const problem = h("p", { class: "node-problem", "data-field": "multipassError", role: "note", hidden: true });
  const stale = h("p", { class: "node-stale", "data-field": "staleSince", hidden: true });
  const root = h(
    "article",
    { class: "card node" },
    h("div", { class: "card-head" }, name, state),
    problem,
    stale,
    h("div", { class: "bars" }, ...bars.slice(0, 3).map((b) => b.root)),
    h("h3", { class: "subhead" }, "Allocated to instances"),
    h("div", { class: "bars" }, ...bars.slice(3).map((b) => b.root)),
    h("dl", { class: "facts" }, h("dt", {}, "Last sync"), sync, h("dt", {}, "Multipass"), version, h("dt", {}, "Instances"), count, h("dt", {}, "Agent"), address),
  );
  return {
    root,
    update(node, now) {
      setAttr(root, "data-node", node.name);
      setText(name, node.name);
      updateBadge(state, node.state, nodeTone(node.state));
      nodeBars(node).forEach((bar, i) => bars[i]!.paint(bar));
      setText(sync, formatAgo(node.lastSync, now));
      setAttr(sync, "title", node.lastSync);
      setText(version, node.multipassVersion ?? "unknown");
      setText(countLink, `${node.instanceCount} →`);
      setAttr(countLink, "href", `/instances?${new URLSearchParams({ q: node.name })}`);
      setAttr(countLink, "aria-label", `${node.instanceCount} instances on ${node.name}: show them`);
      setText(address, node.address);
      problem.hidden = node.multipassError === null;
      setText(problem, node.multipassError === null ? "" : `Multipass on this node fails: ${node.multipassError}`);
      stale.hidden = node.staleSince === null;
      setText(stale, node.staleSince === null ? "" : `Multipass has been busy since ${formatAgo(node.staleSince, now)}: the instances shown are the last ones it listed.`);
    },
  };
}

export function mountOverview(container: HTMLElement, ctx: Ctx): Unmount {
  const summary = h("p", { class: "summary", "data-testid": "summary" });
  const nodes = h("section", { class: "node-grid", "data-testid": "nodes", "aria-label": "Nodes" });
  const empty = h("div", { class: "empty card", hidden: true });
  const recent = h("ul", { class: "recent" });
  container.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Overview"), summary),
    empty,
    nodes,
    h("section", { class: "card recent-card" }, h("div", { class: "card-head" }, h("h2", {}, "Instances not running"), link("/instances", ctx.navigate, {}, "All instances →")), recent),
  );
  const cards = new Map<string, Card>();
  const paint = () => {
    const { nodes: list, instances, loaded } = ctx.store.state;
    const now = Date.now();
    const ready = list.filter((n) => n.state === "Ready").length;
    const running = instances.filter((i) => i.state === "Running").length;
    setText(summary, loaded ? `${ready} of ${list.length} node${list.length === 1 ? "" : "s"} ready · ${running} of ${instances.length} instance${instances.length === 1 ? "" : "s"} running` : "Loading…");
    empty.hidden = !loaded || list.length > 0;
    setText(empty, "No node has joined yet. Start a worker with the master's join token and it appears here.");
    const seen = new Set<string>();
    [...list].sort((a, b) => a.name.localeCompare(b.name)).forEach((node, i) => {
      seen.add(node.name);
      let card = cards.get(node.name);
      if (card === undefined) {
        card = createCard(ctx.navigate);
        cards.set(node.name, card);
      }
      card.update(node, now);
      const there = nodes.children[i];
      if (there !== card.root) nodes.insertBefore(card.root, there ?? null);
    });
    for (const [name, card] of cards) {
      if (!seen.has(name)) {
        card.root.remove();
        cards.delete(name);
      }
    }
    const notRunning = instances.filter((i) => i.state !== "Running" && i.state !== "Deleted").slice(0, 8);
    recent.replaceChildren(
      ...(notRunning.length === 0
        ? [h("li", { class: "muted" }, loaded ? "Every instance is running." : "…")]
        : notRunning.map((i) => h("li", {}, link(`/instances/${instanceRef(i)}`, ctx.navigate, {}, instanceRef(i)), " ", badge(i.state, i.state === "Unknown" ? "warn" : "off")))),
    );
  };
  paint();
  const unsubscribe = ctx.store.subscribe((change) => change === "snapshot" && paint());
  const tick = setInterval(paint, 5_000);
  return () => {
    unsubscribe();
    clearInterval(tick);
  };
}
