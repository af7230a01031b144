/**
 * The console's routes: one document answers every path outside /api/ and
 * /healthz, and the page picks its view from `location.pathname`. Pure.
 */
import { parseInstanceRef } from "../core/validate.ts";

export type Route =
  | { view: "login" }
  | { view: "overview" }
  | { view: "instances" }
  | { view: "instance"; ref: string }
  | { view: "shell"; ref: string }
  | { view: "events" }
  | { view: "notFound"; path: string };

/** `NAME@NODE`, checked; null when the text is not one (a bare name is not enough for a page). */
export function parsePageRef(text: string): string | null {
  try {
    const ref = parseInstanceRef(text);
    return ref.node === undefined ? null : `${ref.name}@${ref.node}`;
  } catch {
    return null;
  }
}

function decoded(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** The route of a pathname; a trailing slash is ignored. */
export function parseRoute(pathname: string): Route {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, "") : pathname;
  const parts = path.split("/").slice(1);
  if (path === "/" || path === "") return { view: "overview" };
  if (parts.length === 1) {
    if (parts[0] === "login") return { view: "login" };
    if (parts[0] === "instances") return { view: "instances" };
    if (parts[0] === "events") return { view: "events" };
  }
  if (parts[0] === "instances" && (parts.length === 2 || (parts.length === 3 && parts[2] === "shell"))) {
    const text = decoded(parts[1]!);
    const ref = text === null ? null : parsePageRef(text);
    if (ref !== null) return parts.length === 2 ? { view: "instance", ref } : { view: "shell", ref };
  }
  return { view: "notFound", path: pathname.slice(0, 200) };
}

/** The pathname of a route (its inverse for every route but notFound). */
export function routePath(route: Route): string {
  switch (route.view) {
    case "login":
      return "/login";
    case "overview":
      return "/";
    case "instances":
      return "/instances";
    case "events":
      return "/events";
    case "instance":
      return `/instances/${encodeURIComponent(route.ref).replace("%40", "@")}`;
    case "shell":
      return `/instances/${encodeURIComponent(route.ref).replace("%40", "@")}/shell`;
    case "notFound":
      return route.path;
  }
}

/** Which nav entry a route lights up. */
export function navOf(route: Route): "overview" | "instances" | "events" | null {
  if (route.view === "overview") return "overview";
  if (route.view === "instances" || route.view === "instance" || route.view === "shell") return "instances";
  if (route.view === "events") return "events";
  return null;
}
