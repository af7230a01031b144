/**
 * The daemon-side half of `launch`: 1.16 validation (memory, disk, name; only the
 * last detail shown), name reservation (`already exists` / `is being prepared`),
 * then the progress phases, each as long as config.json's timing says, with the
 * instance appearing as `Starting` and turning `Running` before `Launched: NAME`
 * is printed.
 */

import { writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { nextAddress } from "./addresses.ts";
import type { QtParse } from "./args.ts";
import { EXIT, type SimContext } from "./context.ts";
import { ensureInstanceFiles } from "./homes.ts";
import { resolveImage, type ResolvedImage } from "./images.ts";
import { parseLaunchArgs, type LaunchRequest } from "./launch-args.ts";
import { Spinner } from "./spinner.ts";
import { findInstance, PRIMARY, type SimInstance, type SimMount, type SimState } from "./state.ts";
import { readState, updateState } from "./store.ts";
import {
  DEFAULT_DISK,
  DEFAULT_MEMORY,
  isValidInstanceName,
  MIN_DISK,
  MIN_MEMORY,
  parseSize,
  randomInstanceName,
} from "./values.ts";

/** Daemon validation: the detail line of `Invalid arguments supplied`, or null. */
function invalidArgument(request: LaunchRequest): string | null {
  let detail: string | null = null;
  if (request.memory !== undefined && (parseSize(request.memory) ?? 0) < MIN_MEMORY) {
    detail = `Invalid memory size value supplied: ${request.memory}.`;
  }
  if (request.disk !== undefined && (parseSize(request.disk) ?? 0) < MIN_DISK) {
    detail = `Invalid disk size value supplied: ${request.disk}.`;
  }
  if (request.name !== undefined && request.name !== "" && !isValidInstanceName(request.name)) {
    detail = `Invalid instance name supplied: ${request.name}`;
  }
  return detail;
}

/** The five updates the fast host (no `timing` profile) has always printed. */
const FIXED_PERCENTS = [1, 25, 50, 75, 100];
/** A profiled download prints a new percentage about this often (a real one at every whole percent). */
const PERCENT_EVERY_MS = 100;

/** Percentages of `Retrieving image`: one per ~100 ms of `ms` (5 to 100 of them) when profiled. */
export function downloadPercents(ms: number, profiled: boolean): number[] {
  if (!profiled) return FIXED_PERCENTS;
  const count = Math.min(100, Math.max(5, Math.round(ms / PERCENT_EVERY_MS)));
  return Array.from({ length: count }, (_, i) => Math.round(((i + 1) * 100) / count));
}

function reserveName(ctx: SimContext, requested: string | undefined): { name: string } | { error: string } {
  return updateState(ctx.paths, (state) => {
    const taken = new Set([...state.instances.map((i) => i.name), ...Object.keys(state.preparing)]);
    const name = requested === undefined || requested === "" ? randomInstanceName(taken) : requested;
    if (findInstance(state, name) !== undefined) return { error: `instance "${name}" already exists` };
    if (state.preparing[name] !== undefined) return { error: `instance "${name}" is being prepared` };
    state.preparing[name] = { pid: process.pid, since: Date.now() };
    return { name };
  });
}

function mountsFor(request: LaunchRequest, name: string): SimMount[] {
  const uid = `${process.getuid?.() ?? 1000}:default`;
  const gid = `${process.getgid?.() ?? 1000}:default`;
  const routes = [...(request.mounts ?? [])];
  if (name === PRIMARY) routes.push({ source: homedir(), target: "Home" });
  return routes.map((route) => ({ ...route, uidMappings: [uid], gidMappings: [gid] }));
}

/** Turns the reservation into a listed instance in `status` (one locked step). */
function createInstance(
  ctx: SimContext,
  request: LaunchRequest,
  name: string,
  image: ResolvedImage,
  status: SimInstance["state"],
): SimInstance {
  return updateState(ctx.paths, (state: SimState) => {
    delete state.preparing[name];
    const existing = findInstance(state, name);
    if (existing !== undefined) return existing;
    const instance: SimInstance = {
      name,
      state: status,
      image: request.image ?? "24.04",
      imageRelease: image.release,
      imageHash: image.hash,
      cpus: request.cpus ?? 1,
      memory: request.memory === undefined ? DEFAULT_MEMORY : (parseSize(request.memory) ?? DEFAULT_MEMORY),
      disk: request.disk === undefined ? DEFAULT_DISK : (parseSize(request.disk) ?? DEFAULT_DISK),
      ipv4: [],
      mounts: mountsFor(request, name),
      snapshots: 0,
      taken: [],
      snapshotsEver: 0,
      head: "",
    };
    state.instances.push(instance);
    // Extra networks get loopback addresses too: every address an instance reports reaches it from this host.
    for (let i = 0; i <= (request.networks ?? 0); i++) instance.ipv4.push(nextAddress(state, ctx.paths.dir));
    return instance;
  });
}

function setState(ctx: SimContext, name: string, to: SimInstance["state"]): void {
  updateState(ctx.paths, (state) => {
    const instance = findInstance(state, name);
    if (instance !== undefined && instance.state !== "Deleted") instance.state = to;
  });
}

/**
 * Runs one launch as the daemon would, printing the client's progress on stdout.
 * Used by `launch` itself and by the automatic launch of the primary instance.
 */
export async function launchInstance(ctx: SimContext, request: LaunchRequest): Promise<number> {
  const spinner = new Spinner(ctx.out);
  let onTimeout = (): void => undefined;
  try {
    const disarm =
      request.timeout === undefined
        ? () => undefined
        : ctx.armTimeout(request.timeout, "Timed out waiting for instance launch.", spinner, () => onTimeout());
    const unreachable = await ctx.reachDaemon("launch", () => spinner.stop());
    if (unreachable !== null) return unreachable;
    const fail = (message: string, details?: string): number => {
      spinner.stop();
      return ctx.failure("launch", message, details);
    };
    const invalid = invalidArgument(request);
    if (invalid !== null) return fail("Invalid arguments supplied", invalid);
    const image = resolveImage(request.image);
    if ("error" in image) return fail(image.error);
    const reserved = reserveName(ctx, request.name);
    if ("error" in reserved) return fail(reserved.error);
    const { name } = reserved;
    // On a client-side timeout the simulated daemon "carries on": the VM ends up Running.
    onTimeout = () => {
      createInstance(ctx, request, name, image, "Running");
      setState(ctx, name, "Running");
    };
    const { timing, profiled } = ctx.config;
    await spinner.phase(`Creating ${name}`, timing.creating);
    if (!readState(ctx.paths).imagesCached.includes(image.cacheKey)) {
      const download = timing.retrievingImage;
      await spinner.progress("Retrieving image: ", download, downloadPercents(download, profiled));
      updateState(ctx.paths, (state) => {
        if (!state.imagesCached.includes(image.cacheKey)) state.imagesCached.push(image.cacheKey);
      });
      // Upstream's image vault reports VERIFY without a percentage (-1), which the client shows as a spinner.
      if (profiled) await spinner.phase("Verifying image: ", timing.verifyingImage);
      else await spinner.progress("Verifying image: ", timing.verifyingImage, FIXED_PERCENTS);
    }
    await spinner.phase(`Preparing image for ${name}`, timing.preparingImage);
    await spinner.phase(`Configuring ${name}`, timing.configuring);
    const files = ensureInstanceFiles(ctx.paths, createInstance(ctx, request, name, image, "Starting"));
    if (request.userData !== undefined) writeFileSync(files.userData, request.userData);
    await spinner.phase(`Starting ${name}`, timing.starting);
    setState(ctx, name, "Running");
    spinner.start("Waiting for initialization to complete");
    await spinner.hold(timing.waitingForInitialization);
    disarm();
    spinner.stop();
    ctx.out(`Launched: ${name}\n`);
    for (const mount of mountsFor(request, name)) ctx.out(`Mounted '${mount.source}' into '${name}:${mount.target}'\n`);
    return EXIT.ok;
  } finally {
    spinner.stop();
  }
}

/** `multipass launch [IMAGE] [options]`. */
export async function runLaunch(ctx: SimContext, args: QtParse): Promise<number> {
  const request = parseLaunchArgs(ctx, args);
  if (typeof request === "number") return request;
  return launchInstance(ctx, request);
}
