/**
 * What every simulated command gets: the sim files, the config of this call,
 * unbuffered stdout/stderr writers, and the daemon-contact point where the
 * configured faults take effect.
 */

import { writeSync } from "node:fs";
import { isatty } from "node:tty";
import type { Spinner } from "./spinner.ts";
import type { SimConfig, SimPaths } from "./store.ts";

/** Exit codes of include/multipass/cli/return_codes.h plus the client timeout code. */
export const EXIT = { ok: 0, commandLine: 1, commandFail: 2, timeout: 5 } as const;

/** Per-invocation context handed to each command. */
export interface SimContext {
  readonly paths: SimPaths;
  readonly config: SimConfig;
  /** argv after the program name, as logged in calls.log. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Both stdin and stdout are terminals (the client's "is live" test). */
  readonly interactive: boolean;
  out(text: string): void;
  err(text: string): void;
  /** Prints `<command> failed: <message>` (+ details) to stderr; returns 2. */
  failure(command: string, message: string, details?: string): number;
  /**
   * The moment the client talks to the daemon. Returns null when it answers;
   * with fault "down" runs `beforeFailure` (e.g. stopping a spinner), prints the
   * socket error and returns 2; with "hang" never returns.
   */
  reachDaemon(command: string, beforeFailure?: () => void): Promise<number | null>;
  /**
   * Starts the client-side `--timeout` timer: when it fires, `finish` lets the
   * simulated daemon complete in the background, the spinner stops, `message`
   * goes to stderr and the process exits 5. Returns a disarm function.
   */
  armTimeout(seconds: number, message: string, spinner: Spinner, finish: () => void): () => void;
}

function writeAll(fd: number, text: string): void {
  let buffer = Buffer.from(text);
  while (buffer.length > 0) {
    try {
      const written = writeSync(fd, buffer);
      buffer = buffer.subarray(written);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        Bun.sleepSync(1);
        continue;
      }
      // EPIPE and friends: the reader went away; there is nobody left to tell.
      return;
    }
  }
}

/** Blocks forever (until a signal ends the process), like a client stuck on a hung daemon. */
export function hangForever(): Promise<never> {
  setInterval(() => undefined, 1 << 30);
  return new Promise<never>(() => undefined);
}

/** Builds the context for one invocation. */
export function createContext(
  paths: SimPaths,
  config: SimConfig,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): SimContext {
  const out = (text: string): void => writeAll(1, text);
  const err = (text: string): void => writeAll(2, text);
  const failure = (command: string, message: string, details?: string): number => {
    err(`${command} failed: ${message}\n${details === undefined ? "" : `${details}\n`}`);
    return EXIT.commandFail;
  };
  return {
    paths,
    config,
    argv,
    env,
    interactive: isatty(0) && isatty(1),
    out,
    err,
    failure,
    async reachDaemon(command, beforeFailure) {
      if (config.fault === "down") {
        beforeFailure?.();
        return failure(command, "cannot connect to the multipass socket");
      }
      if (config.fault === "hang") return hangForever();
      return null;
    },
    armTimeout(seconds, message, spinner, finish) {
      const timer = setTimeout(() => {
        finish();
        spinner.stop();
        err(`${message}\n`);
        process.exit(EXIT.timeout);
      }, seconds * 1000);
      return () => clearTimeout(timer);
    },
  };
}
