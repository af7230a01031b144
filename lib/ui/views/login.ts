/**
 * The login form: paste an API token once. On success the input is cleared
 * and the token goes out of scope; the cookie carries the session from then on.
 */
import { errorText } from "../api.ts";
import { h, setText } from "../dom.ts";
import { login } from "../session.ts";

export function mountLogin(container: HTMLElement, onLoggedIn: () => void): () => void {
  const input = h("input", {
    "data-testid": "login-token",
    id: "login-token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "mvt_…",
  });
  const error = h("p", { class: "form-error", "data-testid": "login-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "login-submit" }, "Log in");
  const form = h(
    "form",
    { "data-testid": "login", class: "login card", autocomplete: "off" },
    h("div", { class: "login-brand" }, h("span", { class: "logo", "aria-hidden": "true" }), "multiverse"),
    h("h1", {}, "Log in to your cluster"),
    h("label", { for: "login-token" }, "API token"),
    input,
    h("p", { class: "hint" }, "Paste a token printed by the master (or made with its token command). It is sent once; the browser keeps only a session cookie."),
    h("div", { class: "login-error-slot" }, error),
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim();
    input.value = "";
    if (token === "") {
      error.hidden = false;
      setText(error, "Paste an API token first.");
      return;
    }
    submit.disabled = true;
    error.hidden = true;
    login(token)
      .then(() => onLoggedIn())
      .catch((e: unknown) => {
        error.hidden = false;
        setText(error, errorText(e));
        input.focus();
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  container.replaceChildren(h("div", { class: "login-page" }, form));
  input.focus();
  return () => {};
}
