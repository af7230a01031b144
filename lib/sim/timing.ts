/**
 * How long the simulated host takes: one duration per phase, from config.json's
 * `timing` (a preset name, or an object of per-phase milliseconds, optionally on
 * top of a preset). Phases not given fall back to `stepMs` (the phases that have
 * always taken one step) or to 0 (the costs a fast host does not pay: delete of a
 * running instance, the SSH lookups of list and info).
 */

/** Milliseconds per phase; see lib/sim/README.md (config.json) for what each one covers. */
export interface SimTiming {
  readonly creating: number;
  readonly retrievingImage: number;
  readonly verifyingImage: number;
  readonly preparingImage: number;
  readonly configuring: number;
  readonly starting: number;
  readonly waitingForInitialization: number;
  readonly start: number;
  readonly stop: number;
  readonly restart: number;
  readonly suspend: number;
  readonly delete: number;
  readonly listPerRunningVm: number;
  readonly infoPerRunningVm: number;
}

export type TimingPhase = keyof SimTiming;

/** Every phase name accepted in config.json's `timing` object. */
export const TIMING_PHASES: readonly TimingPhase[] = [
  "creating",
  "retrievingImage",
  "verifyingImage",
  "preparingImage",
  "configuring",
  "starting",
  "waitingForInitialization",
  "start",
  "stop",
  "restart",
  "suspend",
  "delete",
  "listPerRunningVm",
  "infoPerRunningVm",
];

/**
 * A host as slow as a real one, within the typical durations of CONTRACT.md §3.3:
 * a launch takes 59 s from the image cache and 84 s with the download, a stop
 * 10 s, and every `list` 300 ms per running instance.
 */
export const REALISTIC_TIMING: SimTiming = {
  creating: 3_000,
  retrievingImage: 20_000,
  verifyingImage: 5_000,
  preparingImage: 3_000,
  configuring: 3_000,
  starting: 20_000,
  waitingForInitialization: 30_000,
  start: 15_000,
  stop: 10_000,
  restart: 25_000,
  suspend: 8_000,
  delete: 8_000,
  listPerRunningVm: 300,
  infoPerRunningVm: 1_500,
};

/**
 * Named profiles for config.json's `"timing": "<name>"`. A simulating worker
 * writes `{"timing": "realistic"}` (or checks a flag's value with
 * {@link isTimingPreset}) to get a host as slow as a real one.
 */
export const TIMING_PRESETS = { realistic: REALISTIC_TIMING } as const satisfies Record<string, SimTiming>;

export type TimingPreset = keyof typeof TIMING_PRESETS;

export function isTimingPreset(name: string): name is TimingPreset {
  return Object.hasOwn(TIMING_PRESETS, name);
}

/** The resolved `timing` of one call. */
export interface ResolvedTiming {
  readonly timing: SimTiming;
  /**
   * config.json has a usable `timing` entry. A profiled host also behaves like a
   * real one where the old fast host did not: `Verifying image` is a spinner
   * without percentages, `Retrieving image` moves in steps spread over its
   * duration, and stop/suspend/delete take their time once per instance.
   */
  readonly profiled: boolean;
}

function isDuration(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

/**
 * Without a profile: the spinner phases take one `stepMs` each, as they always
 * did, and the costs a fast host never paid stay 0.
 */
function defaults(stepMs: number): SimTiming {
  return {
    creating: stepMs,
    retrievingImage: stepMs,
    verifyingImage: stepMs,
    preparingImage: stepMs,
    configuring: stepMs,
    starting: stepMs,
    waitingForInitialization: stepMs,
    start: stepMs,
    stop: stepMs,
    restart: stepMs,
    suspend: stepMs,
    delete: 0,
    listPerRunningVm: 0,
    infoPerRunningVm: 0,
  };
}

/**
 * Reads config.json's `timing` value: a preset name, or an object of phase
 * durations (ms) with an optional `"preset"` as its base. Unknown names,
 * unknown phases and values that are not non-negative numbers are ignored.
 */
export function resolveTiming(raw: unknown, stepMs: number): ResolvedTiming {
  if (typeof raw === "string") {
    return isTimingPreset(raw) ? { timing: TIMING_PRESETS[raw], profiled: true } : { timing: defaults(stepMs), profiled: false };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { timing: defaults(stepMs), profiled: false };
  const given = raw as Record<string, unknown>;
  const preset = given.preset;
  const base = typeof preset === "string" && isTimingPreset(preset) ? TIMING_PRESETS[preset] : defaults(stepMs);
  const timing: { -readonly [P in TimingPhase]: number } = { ...base };
  for (const phase of TIMING_PHASES) {
    const value = given[phase];
    if (isDuration(value)) timing[phase] = value;
  }
  return { timing, profiled: true };
}
