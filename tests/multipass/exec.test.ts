/**
 * The driver's interactive processes, run on this machine (the remote argv
 * is the whole argv, as the in-memory fake does): the status trailer, the
 * exit-4 guard, terminals, and hanging up.
 */
import { describe, expect, test } from "bun:test";
import { LOGIN_SHELL, MultipassError, type ExecRequest, type ExecStream } from "../../lib/multipass/driver.ts";
import { INPUT_BACKLOG_BYTES, spawnExec, startExec } from "../../lib/multipass/exec.ts";

interface Output {
  text(stream: ExecStream): string;
}

function request(command: ExecRequest["command"], options: Partial<ExecRequest> = {}): { request: ExecRequest; output: Output } {
  const chunks: [ExecStream, Uint8Array][] = [];
  const output: Output = {
    text: (stream) =>
      chunks
        .filter(([s]) => s === stream)
        .map(([, bytes]) => new TextDecoder().decode(bytes))
        .join(""),
  };
  return {
    request: { instance: "web", command, env: { PATH: process.env["PATH"] }, term: "xterm-test", terminal: null, onOutput: (s, b) => chunks.push([s, b]), ...options },
    output,
  };
}

const local = (remote: string[]): string[] => remote;

describe.skipIf(process.platform === "win32")("startExec", () => {
  test("pipes keep stdout and stderr apart, strip the trailer and report the status", async () => {
    const { request: r, output } = request(["sh", "-c", "printf out; printf err >&2; exit 3"]);
    const child = startExec(r, local);
    expect(await child.exited).toBe(3);
    expect(output.text("stdout")).toBe("out");
    expect(output.text("stderr")).toBe("err");
  });

  test("a status of 4 comes back as 4, though the process never exits with it", async () => {
    let argv: string[] = [];
    const { request: r } = request(["sh", "-c", "exit 4"]);
    const child = startExec(r, (remote) => (argv = remote));
    expect(argv.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(argv.at(-1)).toBe("exit 4");
    expect(await child.exited).toBe(4);
    expect(Bun.spawnSync(argv, { stderr: "ignore" }).exitCode).toBe(0);
  });

  test("input and its end reach a piped process; TERM is set", async () => {
    const { request: r, output } = request(["sh", "-c", 'cat; printf "$TERM"']);
    const child = startExec(r, local);
    child.write(new TextEncoder().encode("hello\n"));
    child.endInput();
    expect(await child.exited).toBe(0);
    expect(output.text("stdout")).toBe("hello\nxterm-test");
  });

  test("a terminal has the size asked for, follows resizes, and Ctrl-D ends its input", async () => {
    const { request: r, output } = request(["sh", "-c", "stty size; read line; stty size; cat"], { terminal: { cols: 100, rows: 30 } });
    const child = startExec(r, local);
    const deadline = Date.now() + 3000;
    while (!output.text("terminal").includes("30 100") && Date.now() < deadline) await Bun.sleep(20);
    child.resize(120, 40);
    child.write(new TextEncoder().encode("go\r"));
    child.endInput();
    expect(await child.exited).toBe(0);
    expect(output.text("terminal")).toMatch(/^30 100\r\n.*40 120\r\n/s);
  });

  test("the login shell is a shell", async () => {
    const { request: r, output } = request(LOGIN_SHELL, { env: { PATH: process.env["PATH"], SHELL: "/bin/sh" } });
    const child = startExec(r, local);
    child.write(new TextEncoder().encode("echo in-a-shell; exit 7\n"));
    expect(await child.exited).toBe(7);
    expect(output.text("stdout")).toBe("in-a-shell\n");
  });

  test("hanging up a terminal ends a shell that ignores SIGTERM", async () => {
    const { request: r } = request(["sh", "-c", "trap '' TERM; sleep 30"], { terminal: { cols: 80, rows: 24 }, graceMs: 10_000 });
    const child = startExec(r, local);
    await Bun.sleep(200);
    const started = Date.now();
    child.hangUp();
    expect(await child.exited).toBe(255);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("a piped process that ignores the hang-up is killed after the grace period", async () => {
    const { request: r } = request(["sh", "-c", "trap '' HUP; sleep 30"], { graceMs: 200 });
    const child = startExec(r, local);
    await Bun.sleep(200);
    child.hangUp();
    child.hangUp();
    expect(await child.exited).toBe(255);
  });

  test("a binary that cannot be started is not-installed, thrown at once", () => {
    const { request: r } = request(["id"]);
    let error: unknown;
    try {
      spawnExec(["/nonexistent/multipass", "exec"], { ...r, nonce: "n" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MultipassError);
    expect(error instanceof MultipassError && error.kind).toBe("not-installed");
  });
});

describe.skipIf(process.platform === "win32")("flow control", () => {
  const MB = 1024 * 1024;

  /** Waits until `check` holds, or fails after `ms`. */
  async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await Bun.sleep(10);
    }
  }

  test.each([
    ["a pipe", null],
    ["a terminal", { cols: 80, rows: 24 }],
  ] as const)("paused output from %s stops the program; resumed, every byte arrives", async (_what, terminal) => {
    let received = 0;
    let pauseOnOutput = true;
    let child: ReturnType<typeof startExec> | null = null;
    const r: ExecRequest = {
      instance: "web",
      command: ["sh", "-c", "head -c 30000000 /dev/zero | tr '\\0' x"],
      env: { PATH: process.env["PATH"] },
      term: "dumb",
      terminal,
      onOutput: (_s, bytes) => {
        received += bytes.length;
        if (pauseOnOutput) child?.pauseOutput();
      },
    };
    child = startExec(r, local);
    await until("output", () => received > 0);
    // The program would write 30 MB in far less than this; paused, only what was in flight comes.
    await Bun.sleep(500);
    const whilePaused = received;
    await Bun.sleep(300);
    expect(whilePaused).toBeLessThan(MB);
    expect(received).toBe(whilePaused);
    pauseOnOutput = false;
    child.resumeOutput();
    expect(await child.exited).toBe(0);
    // A terminal turns nothing here into more bytes (no newlines), so the count is exact.
    expect(received).toBe(30_000_000);
  });

  test.each([
    ["a pipe", null],
    ["a terminal", { cols: 80, rows: 24 }],
  ] as const)("input that %s does not take backs up within a bound, and says so", async (_what, terminal) => {
    const { request: r } = request(["sleep", "30"], { terminal, graceMs: 100 });
    const child = startExec(r, local);
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    let written = 0;
    while (child.write(chunk)) {
      written += chunk.length;
      if (written > 64 * MB) break;
    }
    // Beside the backlog, the pipe and Bun's writer take a few chunks straight away.
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThanOrEqual(INPUT_BACKLOG_BYTES + 512 * 1024);
    child.hangUp();
    await child.exited;
  });

  test("a program that reads gets all input written as the backlog clears", async () => {
    let ready: () => void = () => {};
    const { request: r, output } = request(["sh", "-c", "wc -c"], { onInputReady: () => ready() });
    const child = startExec(r, local);
    const chunk = new Uint8Array(256 * 1024).fill(0x61);
    let waits = 0;
    for (let i = 0; i < 80; i++) {
      if (!child.write(chunk)) {
        waits++;
        await new Promise<void>((resolve) => (ready = resolve));
      }
    }
    child.endInput();
    expect(await child.exited).toBe(0);
    expect(output.text("stdout").trim()).toBe(String(80 * chunk.length));
    expect(waits).toBeGreaterThan(0);
  });
});
