/**
 * The forward's wire shapes (issue 14): a start frame and a route query that
 * name a port of the instance and nothing else — an address is refused,
 * whatever it is called, with a reason that says why.
 */
import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import { forwardFromQuery, validatePort } from "../../lib/protocol/forward.ts";
import { parseSessionSpec } from "../../lib/protocol/session.ts";

const START = { type: "start", kind: "forward", instance: "web", port: 8080, command: [], tty: false, cols: 80, rows: 24, term: "dumb" };

function refusal(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("not refused");
}

describe("a forward's start frame", () => {
  test("names the instance and a port, no command, no terminal", () => {
    expect(parseSessionSpec(START)).toEqual({ kind: "forward", instance: "web", port: 8080, command: [], tty: false, cols: 80, rows: 24, term: "dumb" });
    expect(parseSessionSpec({ ...START, owner: "abc123" })).toMatchObject({ owner: "abc123" });
  });

  test.each(["host", "address", "addr", "ipv4", "hostname", "target", "destination"])("carrying %s is refused as an address", (key) => {
    const error = refusal(() => parseSessionSpec({ ...START, [key]: "10.0.0.1" }));
    expect(error.code).toBe("E_USAGE");
    expect(error.message).toBe(`A forward reaches only the instance's own address, as Multipass reports it: it takes a port, never an address ("${key}" refused)`);
  });

  test("any other field it does not know is refused too", () => {
    expect(refusal(() => parseSessionSpec({ ...START, autoStart: true })).message).toBe('A forward takes only a port: "autoStart" refused');
  });

  test.each([
    ["a command", { command: ["sh"] }, "start.command: a forward takes no command"],
    ["a terminal", { tty: true }, "start.tty: a forward has no terminal"],
    ["port 0", { port: 0 }, "Invalid port 0: expected a number between 1 and 65535"],
    ["port 65536", { port: 65536 }, "Invalid port 65536: expected a number between 1 and 65535"],
    ["a port that is not a number", { port: "80" }, "start.port: expected a number"],
  ])("with %s is refused", (_what, extra, message) => {
    expect(refusal(() => parseSessionSpec({ ...START, ...extra })).message).toStartWith(message);
  });
});

describe("the forward route's query", () => {
  const query = (text: string) => forwardFromQuery("web", new URLSearchParams(text));

  test("port, and keepalive, only", () => {
    expect(query("port=22")).toEqual({ kind: "forward", instance: "web", command: [], tty: false, cols: 80, rows: 24, term: "dumb", port: 22 });
    expect(query("port=22&keepalive=5000").port).toBe(22);
  });

  test.each(["address=10.0.0.1", "host=example.com", "ip=127.0.0.1", "target=db:5432"])("%s is refused as an address", (extra) => {
    const error = refusal(() => query(`port=80&${extra}`));
    expect(error.code).toBe("E_USAGE");
    expect(error.message).toContain("it takes a port, never an address");
  });

  test.each([
    ["", "No port given: forward?port=N"],
    ["port=0", "Invalid port 0: expected a number between 1 and 65535"],
    ["port=99999", "Invalid port 99999: expected a number between 1 and 65535"],
    ["port=8o", 'Invalid port "8o": expected a number between 1 and 65535'],
    ["port=80&tty=1", 'A forward takes only a port: "tty" refused'],
  ])("%j is refused", (text, message) => {
    expect(refusal(() => query(text)).message).toBe(message);
  });

  test("validatePort names what it checks", () => {
    expect(validatePort(443)).toBe(443);
    expect(refusal(() => validatePort(1.5, "local port")).message).toBe("Invalid local port 1.5: expected a number between 1 and 65535");
  });
});
