/**
 * The frame around every view once logged in: brand, navigation, the live
 * indicator, the theme switch and logout; notices at the bottom.
 */
import { h, link, setAttr, setText } from "../dom.ts";
import type { LiveState, StoreHandle } from "../store.ts";
import { currentTheme, toggleTheme } from "../theme.ts";

export interface Frame {
  root: HTMLElement;
  main: HTMLElement;
  setActive: (nav: "overview" | "instances" | "events" | null) => void;
  notify: (message: string, tone?: "info" | "error") => void;
  destroy: () => void;
}

const LIVE_TEXT: Record<LiveState, string> = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…" };
/** The most notices on screen at once: older ones go. */
const MAX_NOTICES = 4;

export function createFrame(store: StoreHandle, navigate: (path: string) => void, tokenId: string | null, onLogout: () => void): Frame {
  const navLinks = {
    overview: link("/", navigate, { "data-testid": "nav-overview" }, "Overview"),
    instances: link("/instances", navigate, { "data-testid": "nav-instances" }, "Instances"),
    events: link("/events", navigate, { "data-testid": "nav-events" }, "Events"),
  };
  const liveText = h("span", { class: "live-text" });
  const live = h("span", { class: "live", "data-testid": "live", role: "status", "aria-live": "polite" }, h("span", { class: "dot", "aria-hidden": "true" }), liveText);
  const themeIcon = h("span", { class: "icon", "aria-hidden": "true" });
  const themeLabel = h("span", { class: "hide-narrow" });
  const themeButton = h("button", { type: "button", class: "ghost", "data-testid": "theme" }, themeIcon, themeLabel);
  const paintTheme = () => {
    const theme = currentTheme();
    setText(themeIcon, theme === "dark" ? "☀" : "☾");
    setText(themeLabel, theme === "dark" ? "Light theme" : "Dark theme");
    setAttr(themeButton, "aria-label", `Switch to the ${theme === "dark" ? "light" : "dark"} theme`);
  };
  themeButton.addEventListener("click", () => {
    toggleTheme();
    paintTheme();
  });
  paintTheme();
  const logout = h("button", { type: "button", class: "ghost", "data-testid": "logout", title: tokenId === null ? null : `Logged in with token ${tokenId}`, onclick: onLogout }, "Log out");
  const header = h(
    "header",
    { class: "topbar" },
    link("/", navigate, { class: "brand", "aria-label": "multiverse: overview" }, h("span", { class: "logo", "aria-hidden": "true" }), "multiverse"),
    h("nav", { "aria-label": "Main" }, navLinks.overview, navLinks.instances, navLinks.events),
    h("div", { class: "topbar-tools" }, live, themeButton, logout),
  );
  const main = h("main", { id: "main", tabindex: "-1" });
  const skip = h("a", { class: "skip-link", href: "#main" }, "Skip to content");
  skip.addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  const notices = h("div", { class: "notices", "aria-live": "polite" });
  const root = h("div", { class: "frame" }, skip, header, main, notices);

  const paintLive = () => {
    setAttr(live, "data-state", store.state.live === "live" ? "live" : "reconnecting");
    setText(liveText, LIVE_TEXT[store.state.live]);
  };
  paintLive();
  const unsubscribe = store.subscribe((change) => {
    if (change === "live") paintLive();
  });

  return {
    root,
    main,
    setActive(nav) {
      for (const [key, a] of Object.entries(navLinks)) {
        if (key === nav) a.setAttribute("aria-current", "page");
        else a.removeAttribute("aria-current");
      }
    },
    notify(message, tone = "info") {
      const close = h("button", { type: "button", class: "ghost small", "aria-label": "Dismiss" }, "×");
      const notice = h("div", { class: "notice", "data-tone": tone, role: tone === "error" ? "alert" : "status" }, h("span", {}, message), close);
      close.addEventListener("click", () => notice.remove());
      notices.append(notice);
      while (notices.childElementCount > MAX_NOTICES) notices.firstElementChild?.remove();
      setTimeout(() => notice.remove(), tone === "error" ? 12_000 : 5_000);
    },
    destroy() {
      unsubscribe();
      root.remove();
    },
  };
}
