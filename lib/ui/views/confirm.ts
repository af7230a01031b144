/** The confirmation dialog before a stop, restart, suspend or delete: one <dialog>, Escape cancels. */
import { h, setText } from "../dom.ts";
import type { ConfirmOptions } from "../context.ts";

export function createConfirm(): (options: ConfirmOptions) => Promise<{ purge: boolean } | null> {
  const title = h("h2", { id: "confirm-title" });
  const message = h("p", { class: "confirm-message" });
  const purge = h("input", { type: "checkbox", name: "purge" });
  const purgeRow = h("label", { class: "check" }, purge, "Purge: remove for good (cannot be recovered)");
  const cancel = h("button", { type: "button", "data-testid": "confirm-cancel" }, "Cancel");
  const ok = h("button", { type: "submit", class: "primary", "data-testid": "confirm-ok" }, "OK");
  const form = h("form", { method: "dialog" }, title, message, purgeRow, h("div", { class: "dialog-buttons" }, cancel, ok));
  const dialog = h("dialog", { "data-testid": "confirm", "aria-labelledby": "confirm-title" }, form);
  document.body.append(dialog);
  let settle: ((value: { purge: boolean } | null) => void) | null = null;
  const finish = (value: { purge: boolean } | null) => {
    const done = settle;
    settle = null;
    if (dialog.open) dialog.close();
    done?.(value);
  };
  cancel.addEventListener("click", () => finish(null));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    finish({ purge: purge.checked });
  });
  dialog.addEventListener("close", () => finish(null));
  let shown: ConfirmOptions | null = null;
  // The message follows the checkbox: "it can be recovered" is not true of a purge.
  const paintMessage = () => {
    if (shown !== null) setText(message, purge.checked ? (shown.purgeMessage ?? shown.message) : shown.message);
  };
  purge.addEventListener("change", paintMessage);
  return (options) => {
    finish(null);
    shown = options;
    setText(title, options.title);
    setText(ok, options.okText);
    ok.classList.toggle("danger", options.danger === true);
    purge.checked = false;
    paintMessage();
    purgeRow.hidden = options.purge !== true;
    dialog.showModal();
    cancel.focus();
    return new Promise((resolve) => {
      settle = resolve;
    });
  };
}
