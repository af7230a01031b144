import { describe, expect, test } from "bun:test";
import { commandOf } from "../../lib/multipass/failure.ts";
import {
  isCompiledEntry,
  parseActAsMultipass,
  selfCommand,
  simulatedMultipassCommand,
  simulationBanner,
} from "../../lib/multipass/simulated.ts";

describe("isCompiledEntry", () => {
  test.each([
    ["/$bunfs/root/multiverse-worker-linux-x64", true],
    ["B:/~BUN/root/multiverse-worker-windows-x64.exe", true],
    ["B:\\~BUN\\root\\multiverse-worker-windows-x64.exe", true],
    ["/work/main/worker.ts", false],
    ["C:\\multiverse\\worker.ts", false],
    ["/home/me/$bunfs/worker.ts", false],
    ["", false],
  ])("%p → %p", (path, compiled) => {
    expect(isCompiledEntry(path)).toBe(compiled);
  });
});

describe("selfCommand", () => {
  test("a compiled worker re-runs its own executable", () => {
    expect(selfCommand("/usr/local/bin/multiverse-worker", "/$bunfs/root/multiverse-worker")).toEqual(["/usr/local/bin/multiverse-worker"]);
  });

  test("from a checkout it is bun and the script", () => {
    expect(selfCommand("/repo/node_modules/bun/bin/bun.exe", "/repo/worker.ts")).toEqual(["/repo/node_modules/bun/bin/bun.exe", "/repo/worker.ts"]);
  });
});

describe("simulatedMultipassCommand and parseActAsMultipass", () => {
  test("round trip: the command's words after the program parse back to the sim dir and multipass's arguments", () => {
    const command = simulatedMultipassCommand(["/bin/multiverse-worker"], "/var/lib/sim dir=x");
    expect(command).toEqual(["/bin/multiverse-worker", "--act-as-multipass=/var/lib/sim dir=x"]);
    const argv = [...command, "exec", "web", "--", "ls"];
    expect(parseActAsMultipass(argv.slice(1))).toEqual({ simDir: "/var/lib/sim dir=x", args: ["exec", "web", "--", "ls"] });
  });

  test("a compiled prefix keeps the multipass command the first non-option word", () => {
    expect(commandOf([...simulatedMultipassCommand(["/bin/w"], "/s"), "list", "--format", "json"])).toBe("list");
  });

  test.each([[[]], [["--act-as-multipass"]], [["--act-as-multipass="]], [["list", "--act-as-multipass=/s"]], [["--master", "x"]]])(
    "%p is a normal worker invocation",
    (args) => {
      expect(parseActAsMultipass(args)).toBeNull();
    },
  );
});

test("the banner says it is simulated and where the state is", () => {
  const text = simulationBanner("/home/me/.local/share/multiverse/simulated-multipass").join("\n");
  expect(text).toContain("SIMULATED MULTIPASS");
  expect(text).toContain("/home/me/.local/share/multiverse/simulated-multipass");
});
