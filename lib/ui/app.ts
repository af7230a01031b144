/**
 * The web console's entry: theme, session check, then the router. Views are
 * mounted into the frame's <main> and taken down when the route changes; the
 * watch stream runs for as long as the page is logged in.
 */
import { errorText, setUnauthorizedHandler } from "./api.ts";
import type { Ctx, Unmount } from "./context.ts";
import { h } from "./dom.ts";
import { navOf, parseRoute, type Route } from "./router.ts";
import { currentSession, logout } from "./session.ts";
import { createStore } from "./store.ts";
import { applyTheme, followSystem } from "./theme.ts";
import { createConfirm } from "./views/confirm.ts";
import { mountEvents } from "./views/events.ts";
import { createFrame, type Frame } from "./views/frame.ts";
import { mountInstance } from "./views/instance.ts";
import { mountInstances } from "./views/instances.ts";
import { mountLogin } from "./views/login.ts";
import { mountOverview } from "./views/overview.ts";
import { mountTerminal } from "./views/terminal.ts";
import { openWatch } from "./watch.ts";

const TITLES: Record<Route["view"], string> = { login: "Log in", overview: "Overview", instances: "Instances", instance: "Instance", shell: "Shell", events: "Events", notFound: "Not found" };

function start(root: HTMLElement): void {
  const store = createStore();
  const confirm = createConfirm();
  let frame: Frame | null = null;
  let unmount: Unmount = () => {};
  let closeWatch: (() => void) | null = null;
  /** Where to go after the login. */
  let afterLogin = "/";

  const navigate = (path: string, replace = false) => {
    if (path !== location.pathname) {
      if (replace) history.replaceState(null, "", path);
      else history.pushState(null, "", path);
      scrollTo(0, 0);
    }
    void render();
  };
  const ctx: Ctx = { store, navigate: (path) => navigate(path), confirm, notify: (message, tone) => frame?.notify(message, tone) };

  const loggedOut = () => {
    store.setLive("connecting");
    closeWatch?.();
    closeWatch = null;
    frame?.destroy();
    frame = null;
    if (location.pathname !== "/login") afterLogin = location.pathname;
    navigate("/login", true);
  };
  setUnauthorizedHandler(loggedOut);

  const ensureFrame = (tokenId: string | null): Frame => {
    if (frame !== null) return frame;
    const made = createFrame(store, ctx.navigate, tokenId, () => {
      logout()
        .catch((error: unknown) => made.notify(errorText(error), "error"))
        .finally(() => {
          afterLogin = "/";
          loggedOut();
        });
    });
    frame = made;
    root.replaceChildren(made.root);
    closeWatch = openWatch({
      store,
      checkSession: async () => (await currentSession()) !== null,
      onLoggedOut: loggedOut,
      report: (message) => made.notify(message, "error"),
    });
    return made;
  };

  const mount = (route: Route, main: HTMLElement): Unmount => {
    switch (route.view) {
      case "overview":
        return mountOverview(main, ctx);
      case "instances":
        return mountInstances(main, ctx);
      case "instance":
        return mountInstance(main, ctx, route.ref);
      case "shell":
        return mountTerminal(main, ctx, route.ref);
      case "events":
        return mountEvents(main, ctx);
      default:
        main.replaceChildren(h("div", { class: "empty card" }, h("h1", {}, "Nothing here"), h("p", {}, "No page has this address. Use the navigation above.")));
        return () => {};
    }
  };

  let rendering = 0;
  const render = async () => {
    const turn = ++rendering;
    unmount();
    unmount = () => {};
    const route = parseRoute(location.pathname);
    document.title = `${route.view === "instance" ? route.ref : route.view === "shell" ? `${route.ref} shell` : TITLES[route.view]} · multiverse`;
    if (route.view === "login") {
      frame?.destroy();
      frame = null;
      closeWatch?.();
      closeWatch = null;
      unmount = mountLogin(root, () => navigate(afterLogin === "/login" ? "/" : afterLogin, true));
      return;
    }
    let tokenId: string | null = null;
    if (frame === null) {
      const session = await currentSession().catch((error: unknown) => {
        const retry = h("button", { type: "button", class: "primary" }, "Try again");
        retry.addEventListener("click", () => void render());
        root.replaceChildren(h("div", { class: "login-page" }, h("div", { class: "empty card" }, h("h1", {}, "The master cannot be reached"), h("p", {}, errorText(error)), retry)));
        return undefined;
      });
      if (turn !== rendering || session === undefined) return;
      if (session === null) return loggedOut();
      tokenId = session.tokenId;
    }
    const f = ensureFrame(tokenId);
    f.setActive(navOf(route));
    f.root.classList.toggle("wide-main", route.view === "shell");
    unmount = mount(route, f.main);
  };

  addEventListener("popstate", () => void render());
  void render();
}

applyTheme();
followSystem();
const root = document.getElementById("app");
if (root !== null) start(root);
