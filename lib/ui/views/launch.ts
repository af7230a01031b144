/**
 * The launch dialog: the fields of a launch, the placement preview (a dry run,
 * refreshed as fields change), then the launch's live progress and result.
 */
import { parseLaunchEvent, parseLaunchPlan, type LaunchEvent } from "../../protocol/operations.ts";
import { errorText, postJson, postStream } from "../api.ts";
import type { Ctx } from "../context.ts";
import { h, link, setText } from "../dom.ts";
import { formatLaunchEvent } from "../format.ts";
import { launchBody, launchProgress, type LaunchFields } from "../launch-form.ts";

const MAX_LOG_LINES = 200;
const PREVIEW_DELAY_MS = 350;
/** The largest cloud-init file read into the form (the master's own limit is 256 KiB). */
const MAX_FILE_BYTES = 256 * 1024;

function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), control, hint === undefined ? null : h("span", { class: "hint" }, hint));
}

/** The dialog's elements, before any wiring. */
function buildLaunch(ctx: Ctx) {
  const input = (name: string, props: Record<string, string> = {}) => h("input", { name, autocomplete: "off", spellcheck: "false", ...props });
  const controls = {
    name: input("name", { placeholder: "chosen for you" }),
    image: input("image", { placeholder: "latest LTS" }),
    cpus: input("cpus", { inputmode: "numeric", placeholder: "1" }),
    memory: input("memory", { placeholder: "1G" }),
    disk: input("disk", { placeholder: "5G" }),
    cloudInit: h("textarea", { name: "cloudInit", rows: "5", spellcheck: "false", placeholder: "#cloud-config\npackages: [nginx]" }),
    node: h("select", { name: "node" }, h("option", { value: "" }, "Best fit")),
  };
  for (const node of ctx.store.state.nodes.filter((n) => n.state === "Ready").sort((a, b) => a.name.localeCompare(b.name))) {
    controls.node.append(h("option", { value: node.name }, node.name));
  }
  const parts = {
    controls,
    file: h("input", { type: "file", accept: ".yaml,.yml,.txt,text/yaml,text/plain", "aria-label": "Load a cloud-init file" }),
    preview: h("p", { class: "preview", "data-testid": "launch-preview", "aria-live": "polite" }, "Placement: …"),
    error: h("p", { class: "form-error", "data-testid": "launch-error", role: "alert", hidden: true }),
    bar: h("span", { class: "bar-fill" }),
    log: h("ol", { class: "log" }),
    result: h("div", { class: "launch-result", "data-testid": "launch-result", "aria-live": "polite" }),
    submit: h("button", { type: "submit", class: "primary", "data-testid": "launch-submit" }, "Launch"),
    close: h("button", { type: "button", "data-testid": "launch-close" }, "Close"),
  };
  const progress = h("div", { class: "progress", "data-testid": "launch-progress", hidden: true }, h("span", { class: "bar-track" }, parts.bar), parts.log);
  const form = h(
    "form",
    { class: "launch-form", novalidate: true },
    h("h2", { id: "launch-title" }, "Launch an instance"),
    h("div", { class: "field-grid" }, field("Name", controls.name), field("Image", controls.image), field("CPUs", controls.cpus), field("Memory", controls.memory), field("Disk", controls.disk), field("Node", controls.node)),
    h("p", { class: "hint" }, "Empty fields take Multipass's defaults. Sizes as Multipass writes them: 512M, 2G, 1.5G."),
    field("Cloud-init", controls.cloudInit),
    h("div", { class: "file-row" }, h("span", { class: "hint" }, "or load a file:"), parts.file),
    parts.preview,
    parts.error,
    progress,
    parts.result,
    h("div", { class: "dialog-buttons" }, parts.close, parts.submit),
  );
  const dialog = h("dialog", { "data-testid": "launch", class: "wide", "aria-labelledby": "launch-title" }, form);
  return { ...parts, progress, form, dialog };
}

/** Paints one event of a launch: a log line, the bar, and the result at the end. */
function showEvent(parts: { log: HTMLElement; bar: HTMLElement; result: HTMLElement }, open: (path: string) => void): (event: LaunchEvent) => void {
  const { log, bar, result } = parts;
  return (event) => {
    log.append(h("li", { "data-type": event.type }, formatLaunchEvent(event)));
    while (log.childElementCount > MAX_LOG_LINES) log.firstElementChild?.remove();
    if (event.type === "progress") {
      const share = launchProgress(event.phase, event.percent);
      if (share !== null) bar.style.width = `${Math.round(share * 100)}%`;
    } else if (event.type === "launched") {
      // Complete at once: the bar's easing would still be on its way when the result shows.
      bar.dataset["done"] = "";
      bar.style.width = "100%";
      const ref = `${event.name}@${event.node}`;
      result.replaceChildren(h("p", { class: "ok-text" }, `Launched ${ref} (${event.state}). `), link(`/instances/${ref}`, open, {}, "Open it →"));
    } else if (event.type === "error") {
      result.replaceChildren(h("p", { class: "form-error" }, event.message));
    }
    showEnd(log, event.type === "progress" || event.type === "placed" ? null : result);
  };
}

/**
 * Scrolls the log to its last line and, once there is a result, the dialog to
 * its end, where the result sits above the sticky buttons; again after the
 * next layout, as the lines just added may not have their height yet.
 */
function showEnd(log: HTMLElement, result: HTMLElement | null): void {
  const scroll = () => {
    log.scrollTop = log.scrollHeight;
    const dialog = result?.closest("dialog");
    if (dialog) dialog.scrollTop = dialog.scrollHeight;
  };
  scroll();
  requestAnimationFrame(scroll);
}

/** The placement preview: a dry run of the form as it is, a moment after the last change, the older one cancelled. */
function createPreview(preview: HTMLElement, error: HTMLElement, values: () => LaunchFields) {
  let abort: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const refresh = () => {
    abort?.abort();
    const mine = new AbortController();
    abort = mine;
    setText(preview, "Placement: checking…");
    postJson("/api/v1/instances", launchBody(values(), true), parseLaunchPlan, mine.signal)
      .then((plan) => {
        error.hidden = true;
        preview.dataset["node"] = plan.node;
        preview.replaceChildren("Placement: ", h("strong", {}, plan.node), ` — ${plan.reason}`);
      })
      .catch((e: unknown) => {
        if (mine.signal.aborted) return;
        delete preview.dataset["node"];
        setText(preview, "Placement: none until the error below is fixed");
        showError(error, errorText(e));
      });
  };
  return {
    refresh,
    schedule() {
      clearTimeout(timer);
      timer = setTimeout(refresh, PREVIEW_DELAY_MS);
    },
    cancel() {
      clearTimeout(timer);
      abort?.abort();
    },
  };
}

function showError(error: HTMLElement, message: string): void {
  error.hidden = false;
  setText(error, message);
}

/** Reads a chosen cloud-init file into the form, refusing one over the master's limit. */
function loadFile(file: HTMLInputElement, into: HTMLTextAreaElement, error: HTMLElement, then: () => void): void {
  const chosen = file.files?.[0];
  if (chosen === undefined) return;
  if (chosen.size > MAX_FILE_BYTES) return showError(error, `The file "${chosen.name.slice(0, 60)}" is too large (${chosen.size} bytes; at most ${MAX_FILE_BYTES}).`);
  chosen
    .text()
    .then((text) => {
      into.value = text;
      then();
    })
    .catch((e: unknown) => showError(error, `The file "${chosen.name.slice(0, 60)}" could not be read: ${errorText(e)}`));
}

export function openLaunch(ctx: Ctx): void {
  const { controls, file, preview, error, bar, log, progress, result, submit, close, form, dialog } = buildLaunch(ctx);
  document.body.append(dialog);
  const values = (): LaunchFields => ({
    name: controls.name.value,
    image: controls.image.value,
    cpus: controls.cpus.value,
    memory: controls.memory.value,
    disk: controls.disk.value,
    cloudInit: controls.cloudInit.value,
    node: controls.node.value,
  });
  const placement = createPreview(preview, error, values);
  form.addEventListener("input", (event) => event.target !== file && placement.schedule());
  form.addEventListener("change", (event) => event.target === controls.node && placement.schedule());
  file.addEventListener("change", () => loadFile(file, controls.cloudInit, error, placement.schedule));

  const onEvent = showEvent({ log, bar, result }, (path) => {
    dialog.close();
    ctx.navigate(path);
  });
  let launching = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (launching) return;
    launching = true;
    placement.cancel();
    error.hidden = true;
    submit.disabled = true;
    progress.hidden = false;
    log.replaceChildren();
    result.replaceChildren();
    delete bar.dataset["done"];
    bar.style.width = "2%";
    postStream("/api/v1/instances", launchBody(values(), false), parseLaunchEvent, onEvent)
      .catch((e: unknown) => {
        showError(error, errorText(e));
        progress.hidden = log.childElementCount === 0;
      })
      .finally(() => {
        launching = false;
        submit.disabled = false;
      });
  });
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    placement.cancel();
    dialog.remove();
  });
  dialog.showModal();
  controls.name.focus();
  placement.refresh();
}
