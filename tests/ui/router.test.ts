import { describe, expect, test } from "bun:test";
import { navOf, parsePageRef, parseRoute, routePath, type Route } from "../../lib/ui/router.ts";

describe("the console's routes", () => {
  test("every page of the contract has its path, and back", () => {
    const cases: [string, Route][] = [
      ["/", { view: "overview" }],
      ["/login", { view: "login" }],
      ["/instances", { view: "instances" }],
      ["/events", { view: "events" }],
      ["/instances/web@node-1", { view: "instance", ref: "web@node-1" }],
      ["/instances/web@node-1/shell", { view: "shell", ref: "web@node-1" }],
    ];
    for (const [path, route] of cases) {
      expect(parseRoute(path)).toEqual(route);
      expect(routePath(route)).toBe(path);
    }
  });

  test("a trailing slash and an escaped @ are the same page", () => {
    expect(parseRoute("/instances/")).toEqual({ view: "instances" });
    expect(parseRoute("/instances/web%40n1/shell/")).toEqual({ view: "shell", ref: "web@n1" });
  });

  test("a bare name, a bad name, a malformed escape or an unknown path is not found, never a crash", () => {
    for (const path of ["/instances/web", "/instances/-bad@n1", "/instances/a@b@c", "/instances/%E0%A4%A", "/nope", "/instances/web@n1/exec"]) {
      expect(parseRoute(path).view).toBe("notFound");
    }
    expect(parseRoute(`/${"x".repeat(5000)}`)).toEqual({ view: "notFound", path: `/${"x".repeat(199)}` });
  });

  test("instance pages light the Instances entry", () => {
    expect(navOf({ view: "shell", ref: "a@b" })).toBe("instances");
    expect(navOf({ view: "events" })).toBe("events");
    expect(navOf({ view: "login" })).toBeNull();
  });

  test("page refs need both parts", () => {
    expect(parsePageRef("web@n1")).toBe("web@n1");
    expect(parsePageRef("web")).toBeNull();
    expect(parsePageRef("@n1")).toBeNull();
  });
});
