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

function titleOf(route: Route): string {
  const what = route.view === "instance" ? route.ref : route.view === "shell" ? `${route.ref} shell` : TITLES[route.view];
  return `${what} · multiverse`;
}

function mountView(route: Route, main: HTMLElement, ctx: Ctx): Unmount {
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
}

class App {
  private readonly store = createStore();
  private readonly ctx: Ctx;
  private frame: Frame | null = null;
  private unmount: Unmount = () => {};
  private closeWatch: (() => void) | null = null;
  /** Where to go after the login. */
  private afterLogin = "/";
  private rendering = 0;

  constructor(private readonly root: HTMLElement) {
    this.ctx = { store: this.store, navigate: (path) => this.navigate(path), confirm: createConfirm(), notify: (message, tone) => this.frame?.notify(message, tone) };
    setUnauthorizedHandler(() => this.loggedOut());
    addEventListener("popstate", () => void this.render());
  }

  navigate(path: string, replace = false): void {
    if (path !== location.pathname) {
      if (replace) history.replaceState(null, "", path);
      else history.pushState(null, "", path);
      scrollTo(0, 0);
    }
    void this.render();
  }

  /** The session ended (logout, expiry, a 401): to the login, and back here after it. */
  private loggedOut(): void {
    this.leaveFrame();
    if (location.pathname !== "/login") this.afterLogin = location.pathname;
    this.navigate("/login", true);
  }

  private leaveFrame(): void {
    this.store.setLive("connecting");
    this.closeWatch?.();
    this.closeWatch = null;
    this.frame?.destroy();
    this.frame = null;
  }

  private ensureFrame(tokenId: string | null): Frame {
    if (this.frame !== null) return this.frame;
    const made = createFrame(this.store, this.ctx.navigate, tokenId, () => {
      logout()
        .catch((error: unknown) => made.notify(errorText(error), "error"))
        .finally(() => {
          this.afterLogin = "/";
          this.loggedOut();
        });
    });
    this.frame = made;
    this.root.replaceChildren(made.root);
    this.closeWatch = openWatch({
      store: this.store,
      checkSession: async () => (await currentSession()) !== null,
      onLoggedOut: () => this.loggedOut(),
      report: (message) => made.notify(message, "error"),
    });
    return made;
  }

  private unreachable(error: unknown): void {
    const retry = h("button", { type: "button", class: "primary" }, "Try again");
    retry.addEventListener("click", () => void this.render());
    this.root.replaceChildren(h("div", { class: "login-page" }, h("div", { class: "empty card" }, h("h1", {}, "The master cannot be reached"), h("p", {}, errorText(error)), retry)));
  }

  async render(): Promise<void> {
    const turn = ++this.rendering;
    this.unmount();
    this.unmount = () => {};
    const route = parseRoute(location.pathname);
    document.title = titleOf(route);
    if (route.view === "login") {
      this.leaveFrame();
      this.unmount = mountLogin(this.root, () => this.navigate(this.afterLogin === "/login" ? "/" : this.afterLogin, true));
      return;
    }
    let tokenId: string | null = null;
    if (this.frame === null) {
      const session = await currentSession().catch((error: unknown) => {
        this.unreachable(error);
        return undefined;
      });
      if (turn !== this.rendering || session === undefined) return;
      if (session === null) return this.loggedOut();
      tokenId = session.tokenId;
    }
    const frame = this.ensureFrame(tokenId);
    frame.setActive(navOf(route));
    frame.root.classList.toggle("wide-main", route.view === "shell");
    this.unmount = mountView(route, frame.main, this.ctx);
  }
}

applyTheme();
followSystem();
const root = document.getElementById("app");
if (root !== null) void new App(root).render();
