/**
 * One instance: its state from the watch stream, live figures from the node
 * (`GET /api/v1/info`, every few seconds while the page is visible), its
 * actions and the way to its shell.
 */
import { formatBytes, formatLoad } from "../../core/format.ts";
import { parseInfoResponse, type InfoView } from "../../protocol/api.ts";
import type { InstanceState } from "../../protocol/instances.ts";
import { ACTION_LABEL, actionsFor, PAGE_ACTIONS, runOne, type PageAction } from "../actions.ts";
import { errorText, getJson } from "../api.ts";
import type { Ctx, Unmount } from "../context.ts";
import { badge, h, link, setText, updateBadge } from "../dom.ts";
import { formatActionResult, formatPercent, fraction, instanceTone } from "../format.ts";
import { instanceRef } from "../table-model.ts";

const FIGURES_EVERY_MS = 5_000;
/** Longer than the poll: a node that is slow to answer is not asked twice at once. */
const FIGURES_TIMEOUT_MS = 4_000;

function usageText(used: number | null, total: number | null): string {
  if (used === null || total === null) return "—";
  return `${formatBytes(used)} of ${formatBytes(total)} (${formatPercent(fraction(used, total))})`;
}

/** The live figures card: asks the node every few seconds while the page is visible, never twice at once. */
function createFigures(ref: string, name: string, node: string): { root: HTMLElement; poll: () => void; stop: () => void } {
  const dd = (key: string, mono = false) => h("dd", { "data-figure": key, ...(mono ? { class: "mono" } : {}) }, "—");
  const figures = { cpus: dd("cpus"), load: dd("load"), memory: dd("memory"), disk: dd("disk"), image: dd("image") };
  const note = h("p", { class: "muted small-text", "data-testid": "figures-note" }, "Asking the node…");
  const root = h(
    "article",
    { class: "card", "data-testid": "figures" },
    h("h2", {}, "Live figures"),
    h("dl", { class: "facts" }, h("dt", {}, "CPUs"), figures.cpus, h("dt", {}, "Load"), figures.load, h("dt", {}, "Memory"), figures.memory, h("dt", {}, "Disk"), figures.disk, h("dt", {}, "Image"), figures.image),
    note,
  );
  const paint = (info: InfoView) => {
    setText(figures.cpus, info.cpus === null ? "—" : String(info.cpus));
    setText(figures.load, info.load === null ? "—" : formatLoad(info.load));
    setText(figures.memory, usageText(info.memory.used, info.memory.total));
    setText(figures.disk, usageText(info.disk.used, info.disk.total));
    setText(figures.image, info.imageRelease ?? info.release ?? "—");
  };
  let abort: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const poll = () => {
    clearTimeout(timer);
    abort?.abort();
    if (stopped || document.visibilityState !== "visible") return;
    const mine = new AbortController();
    abort = mine;
    const query = new URLSearchParams({ instance: ref, timeout: String(FIGURES_TIMEOUT_MS) });
    getJson(`/api/v1/info?${query}`, parseInfoResponse, mine.signal)
      .then((answer) => {
        const info = answer.instances.find((i) => i.name === name && i.node === node);
        if (info !== undefined) paint(info);
        setText(note, info !== undefined ? `Updated ${new Date().toLocaleTimeString()}` : (answer.errors[0]?.message ?? "The node gave no figures."));
      })
      .catch((error: unknown) => mine.signal.aborted || setText(note, errorText(error)))
      .finally(() => {
        if (!mine.signal.aborted) timer = setTimeout(poll, FIGURES_EVERY_MS);
      });
  };
  const onVisibility = () => document.visibilityState === "visible" && poll();
  document.addEventListener("visibilitychange", onVisibility);
  return {
    root,
    poll,
    stop() {
      stopped = true;
      document.removeEventListener("visibilitychange", onVisibility);
      clearTimeout(timer);
      abort?.abort();
    },
  };
}

export function mountInstance(container: HTMLElement, ctx: Ctx, ref: string): Unmount {
  const [name = "", node = ""] = ref.split("@");
  const state = badge("…", "off");
  state.setAttribute("data-field", "state");
  const facts = { node: h("dd", {}, node), ipv4: h("dd", { class: "mono" }), release: h("dd", {}), labels: h("dd", { "data-field": "labels" }) };
  const message = h("p", { class: "action-message", "aria-live": "polite" });
  const missing = h("p", { class: "notice-inline", hidden: true });
  const figures = createFigures(ref, name, node);
  const buttons = PAGE_ACTIONS.map((action) => h("button", { type: "button", "data-action": action, class: action === "delete" ? "danger-text" : "" }, ACTION_LABEL[action]));
  const shellLink = link(`/instances/${ref}/shell`, ctx.navigate, { class: "button primary", "data-testid": "open-shell" }, "Open shell");
  container.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link("/instances", ctx.navigate, {}, "Instances"), " / ", h("span", {}, ref)),
    h(
      "section",
      { "data-testid": "instance", "data-instance": ref, class: "instance" },
      h("div", { class: "page-head" }, h("h1", {}, name), state, h("div", { class: "spacer" }), shellLink),
      missing,
      h("div", { class: "toolbar" }, h("div", { class: "bulk", role: "group", "aria-label": "Actions" }, ...buttons), message),
      h(
        "div",
        { class: "two-col" },
        h("article", { class: "card" }, h("h2", {}, "Instance"), h("dl", { class: "facts" }, h("dt", {}, "Node"), facts.node, h("dt", {}, "IPv4"), facts.ipv4, h("dt", {}, "Release"), facts.release, h("dt", {}, "Labels"), facts.labels)),
        figures.root,
      ),
    ),
  );

  let acting = false;
  // Only the verbs that make sense now, as the state changes; none while one runs or the instance is gone.
  const paintButtons = (state: InstanceState | null) => {
    const offered = state === null ? new Set<PageAction>() : actionsFor(state);
    PAGE_ACTIONS.forEach((action, i) => {
      buttons[i]!.disabled = acting || !offered.has(action);
    });
  };
  const paint = () => {
    const instance = ctx.store.state.instances.find((i) => instanceRef(i) === ref);
    missing.hidden = instance !== undefined || !ctx.store.state.loaded;
    setText(missing, `No instance ${ref} in the cluster now: it was deleted and purged, or its node left.`);
    paintButtons(instance?.state ?? null);
    if (instance === undefined) return;
    updateBadge(state, instance.state, instanceTone(instance.state));
    setText(facts.ipv4, instance.ipv4.length === 0 ? "—" : instance.ipv4.join(", "));
    facts.ipv4.classList.toggle("mono", instance.ipv4.length > 0);
    setText(facts.release, instance.release ?? "—");
    const labels = Object.entries(instance.labels).map(([k, v]) => `${k}=${v}`);
    setText(facts.labels, labels.length === 0 ? "—" : labels.join(", "));
  };
  PAGE_ACTIONS.forEach((action, i) => {
    buttons[i]!.addEventListener("click", () => {
      acting = true;
      paint();
      setText(message, `${ACTION_LABEL[action]}…`);
      runOne(ctx, action, ref)
        .then((result) => setText(message, result === null ? "" : formatActionResult(action, result)))
        .catch((error: unknown) => setText(message, `${ACTION_LABEL[action]} failed: ${errorText(error)}`))
        .finally(() => {
          acting = false;
          paint();
          figures.poll();
        });
    });
  });

  paint();
  figures.poll();
  const unsubscribe = ctx.store.subscribe((change) => change === "snapshot" && paint());
  return () => {
    unsubscribe();
    figures.stop();
  };
}
