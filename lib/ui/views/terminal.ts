/**
 * The terminal page: an xterm.js terminal (DOM renderer) fitted to its box,
 * following window resizes, with copy and paste, speaking the session wire
 * through ui/terminal-link.ts.
 */
import "@xterm/xterm/css/xterm.css";
import { FitAddon } from "@xterm/addon-fit";
import { Terminal, type ITheme } from "@xterm/xterm";
import type { Ctx, Unmount } from "../context.ts";
import { h, link, setAttr, setText } from "../dom.ts";
import { statusText, type ShellStatus } from "../shell-policy.ts";
import { ShellLink } from "../terminal-link.ts";
import { currentTheme, onTheme, type Theme } from "../theme.ts";

// The light palette darkens the ANSI colours that xterm's defaults draw too pale on white (cyan, yellow, green).
const THEMES: Record<Theme, ITheme> = {
  dark: { background: "#0f1419", foreground: "#e6e8eb", cursor: "#e6e8eb", cursorAccent: "#0f1419", selectionBackground: "#3b5b8a" },
  light: {
    background: "#fbfbfc",
    foreground: "#1d2329",
    cursor: "#1d2329",
    cursorAccent: "#fbfbfc",
    selectionBackground: "#b7cdf0",
    black: "#1d2329",
    red: "#b42318",
    green: "#1a7f43",
    yellow: "#8a5a00",
    blue: "#1f5fbf",
    magenta: "#8e3fae",
    cyan: "#0b7285",
    white: "#6b7580",
    brightBlack: "#4a545e",
    brightRed: "#d92d20",
    brightGreen: "#218c4d",
    brightYellow: "#a16a00",
    brightBlue: "#2f6fde",
    brightMagenta: "#a24fc2",
    brightCyan: "#0c8599",
    brightWhite: "#8a939c",
  },
};

const STATUS_TONE: Record<ShellStatus["state"], string> = { connecting: "busy", connected: "ok", reconnecting: "warn", ended: "off", detached: "off" };

export function mountTerminal(container: HTMLElement, ctx: Ctx, ref: string): Unmount {
  const status = h("span", { class: "badge", "data-testid": "terminal-status", role: "status", "aria-live": "polite" }, "connecting…");
  const detach = h("button", { type: "button", class: "ghost", "data-testid": "terminal-detach", title: "Leave the shell running on its node; reopen this page to take it back" }, "Detach");
  const reconnect = h("button", { type: "button", class: "primary", "data-testid": "terminal-new", hidden: true }, "New shell");
  const box = h("div", { class: "terminal-box", "data-testid": "terminal" });
  container.replaceChildren(
    h(
      "div",
      { class: "terminal-page" },
      h("div", { class: "terminal-bar" }, h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, link("/instances", ctx.navigate, {}, "Instances"), " / ", link(`/instances/${ref}`, ctx.navigate, {}, ref), " / shell"), status, h("div", { class: "spacer" }), h("span", { class: "hint hide-narrow" }, "Copy: Ctrl+Shift+C · Paste: Ctrl+Shift+V"), detach, reconnect),
      box,
    ),
  );

  const term = new Terminal({
    cursorBlink: true,
    fontFamily: 'ui-monospace, "Cascadia Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: 14,
    scrollback: 5000,
    theme: THEMES[currentTheme()],
    allowProposedApi: false,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(box);
  const size = () => ({ cols: term.cols, rows: term.rows });
  let lastStatus: ShellStatus | null = null;
  const shell = new ShellLink(ref, { write: (data) => term.write(data), reset: () => term.reset(), size }, (s) => {
    lastStatus = s;
    setText(status, statusText(s, Date.now()));
    setAttr(status, "data-tone", STATUS_TONE[s.state]);
    setAttr(status, "data-state", s.state);
    detach.hidden = s.state !== "connected";
    reconnect.hidden = s.state !== "ended" && s.state !== "detached";
    setText(reconnect, s.state === "detached" ? "Take it back" : "New shell");
  });
  // Ticks the "reconnecting… N s" status while it lasts.
  const statusTick = setInterval(() => {
    if (lastStatus?.state === "reconnecting") setText(status, statusText(lastStatus, Date.now()));
  }, 1_000);

  term.onData((data) => shell.input(data));
  term.onBinary((data) => shell.input(data));
  term.onResize((s) => shell.resize(s));
  term.attachCustomKeyEventHandler((event) => {
    if (event.type !== "keydown") return true;
    const mod = event.ctrlKey && event.shiftKey;
    if (mod && event.code === "KeyC") {
      const text = term.getSelection();
      if (text !== "") void navigator.clipboard?.writeText(text).catch(() => ctx.notify("The browser refused the clipboard (it needs https or localhost).", "error"));
      return false;
    }
    // Ctrl+Shift+V: the browser's own paste event reaches the terminal, which sends the text.
    return !(mod && event.code === "KeyV");
  });

  const doFit = () => {
    if (box.clientWidth > 0 && box.clientHeight > 0) fit.fit();
  };
  const observer = new ResizeObserver(() => doFit());
  observer.observe(box);
  doFit();
  const untheme = onTheme((theme) => (term.options.theme = THEMES[theme]));

  const start = () => {
    term.reset();
    shell.start();
  };
  detach.addEventListener("click", () => shell.detach());
  reconnect.addEventListener("click", start);
  start();
  term.focus();
  return () => {
    clearInterval(statusTick);
    observer.disconnect();
    untheme();
    shell.close();
    term.dispose();
  };
}
