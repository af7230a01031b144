/**
 * What the server programs (root tsconfig.json) see of `@xterm/xterm`.
 * `@xterm/addon-serialize`'s typings import that package, and its own typings
 * pull the DOM library into every file of a program, where DOM's WebSocket,
 * fetch and timers clash with Bun's. The worker hands the addon a
 * `@xterm/headless` Terminal (lib/worker/screen-mirror.ts), so the headless
 * typings are the true shape here. The web console (lib/ui/tsconfig.json)
 * checks against the real `@xterm/xterm` typings, with the DOM.
 */
export type { IMarker, ITerminalAddon, Terminal } from "@xterm/headless";

/** A range of the buffer, as `@xterm/xterm` declares it. */
export interface IBufferRange {
  start: { x: number; y: number };
  end: { x: number; y: number };
}
