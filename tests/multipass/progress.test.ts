import { describe, expect, test } from "bun:test";
import { createLaunchProgressParser, parseProgressText } from "../../lib/multipass/progress.ts";
import type { LaunchProgress } from "../../lib/protocol/instances.ts";

// The exact bytes of AnimatedSpinner and launch's streaming callback (CONTRACT.md §1.2, §4.3).
const CLEAR = "\x1b[2K\x1b[0A\x1b[0E";
const FRAMES = ["\b/", "\b-", "\b\\", "\b|"];
/** `spinner.start(message)` followed by `n` animation frames. */
const spin = (message: string, n = 5): string =>
  CLEAR + message + "  " + Array.from({ length: n }, (_, i) => FRAMES[i % FRAMES.length]).join("");
/** `spinner.stop()` while the spinner runs. */
const stopSpinning = "\b " + CLEAR;
/** A percentage update: `spinner.stop()` (not running), `\r`, the text. */
const percent = (text: string): string => CLEAR + "\r" + text;

/** A 1.16 launch with an image download, verification and cloud-init wait. */
const LAUNCH_1_16 = [
  CLEAR,
  spin("Creating web"),
  stopSpinning,
  "\rRetrieving image: 0%",
  percent("Retrieving image: 5%"),
  percent("Retrieving image: 5%"),
  percent("Retrieving image: 42%"),
  percent("Retrieving image: 100%"),
  CLEAR,
  spin("Verifying image: ", 2),
  stopSpinning,
  "\rVerifying image: 50%",
  percent("Verifying image: 100%"),
  CLEAR,
  spin("Preparing image for web", 9),
  stopSpinning,
  spin("Configuring web"),
  stopSpinning,
  spin("Starting web", 13),
  stopSpinning,
  spin("Waiting for initialization to complete", 30),
  stopSpinning,
  "Launched: web\n",
].join("");

const EXPECTED_1_16: LaunchProgress[] = [
  { phase: "Creating", percent: null, text: "Creating web" },
  { phase: "Retrieving image", percent: 0, text: "Retrieving image: 0%" },
  { phase: "Retrieving image", percent: 5, text: "Retrieving image: 5%" },
  { phase: "Retrieving image", percent: 42, text: "Retrieving image: 42%" },
  { phase: "Retrieving image", percent: 100, text: "Retrieving image: 100%" },
  { phase: "Verifying image", percent: null, text: "Verifying image:" },
  { phase: "Verifying image", percent: 50, text: "Verifying image: 50%" },
  { phase: "Verifying image", percent: 100, text: "Verifying image: 100%" },
  { phase: "Preparing image", percent: null, text: "Preparing image for web" },
  { phase: "Configuring", percent: null, text: "Configuring web" },
  { phase: "Starting", percent: null, text: "Starting web" },
  { phase: "Waiting for initialization", percent: null, text: "Waiting for initialization to complete" },
];

/** A main (1.17) launch of a cached image, with zones, an unknown message and a mount after the end. */
const LAUNCH_MAIN = [
  CLEAR,
  spin("Creating web-2 in zone1", 3),
  stopSpinning,
  spin("Réglage spécial ✓", 1),
  stopSpinning,
  spin("Starting web-2", 4),
  stopSpinning,
  spin("Waiting for initialization to complete", 2),
  stopSpinning,
  "Launched: web-2 in zone1\n",
  "Mounted '/home/zoë' into 'web-2:Home'\n",
].join("");

const EXPECTED_MAIN: LaunchProgress[] = [
  { phase: "Creating", percent: null, text: "Creating web-2 in zone1" },
  { phase: "Other", percent: null, text: "Réglage spécial ✓" },
  { phase: "Starting", percent: null, text: "Starting web-2" },
  { phase: "Waiting for initialization", percent: null, text: "Waiting for initialization to complete" },
];

function feed(chunks: (string | Uint8Array)[]): { events: LaunchProgress[]; name: string | null } {
  const events: LaunchProgress[] = [];
  const parser = createLaunchProgressParser((progress) => events.push(progress));
  for (const chunk of chunks) parser.push(chunk);
  parser.end();
  return { events, name: parser.launchedName };
}

describe("launch progress stream", () => {
  test.each([
    ["1.16", LAUNCH_1_16, EXPECTED_1_16, "web"],
    ["main", LAUNCH_MAIN, EXPECTED_MAIN, "web-2"],
  ] as const)("%s stream in one chunk", (_, stream, expected, name) => {
    expect(feed([stream])).toEqual({ events: expected, name });
  });

  test.each([
    ["1.16", LAUNCH_1_16, EXPECTED_1_16, "web"],
    ["main", LAUNCH_MAIN, EXPECTED_MAIN, "web-2"],
  ] as const)("%s stream split in two at every position", (_, stream, expected, name) => {
    for (let cut = 0; cut <= stream.length; cut += 1) {
      const result = feed([stream.slice(0, cut), stream.slice(cut)]);
      if (!Bun.deepEquals(result, { events: expected, name })) {
        expect({ cut, ...result }).toEqual({ cut, events: [...expected], name });
      }
    }
  });

  test.each([
    ["1.16", LAUNCH_1_16, EXPECTED_1_16, "web"],
    ["main", LAUNCH_MAIN, EXPECTED_MAIN, "web-2"],
  ] as const)("%s stream one character at a time", (_, stream, expected, name) => {
    expect(feed([...stream])).toEqual({ events: expected, name });
  });

  test("the main stream as UTF-8 bytes split in three at every pair of positions", () => {
    const bytes = new TextEncoder().encode(LAUNCH_MAIN);
    let runs = 0;
    for (let a = 0; a <= bytes.length; a += 1) {
      for (let b = a; b <= bytes.length; b += 1) {
        const result = feed([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]);
        runs += 1;
        if (!Bun.deepEquals(result, { events: EXPECTED_MAIN, name: "web-2" })) {
          expect({ a, b, ...result }).toEqual({ a, b, events: EXPECTED_MAIN, name: "web-2" });
        }
      }
    }
    expect(runs).toBe(((bytes.length + 1) * (bytes.length + 2)) / 2);
  });

  test("events come as soon as a message is whole, not on the next one", () => {
    const events: LaunchProgress[] = [];
    const parser = createLaunchProgressParser((progress) => events.push(progress));
    parser.push(CLEAR + "Creating web ");
    expect(events).toEqual([]);
    parser.push(" ");
    expect(events.map((e) => e.text)).toEqual(["Creating web"]);
    parser.push("\b/\b-\b\\\b|\b/" + stopSpinning + "\rRetrieving image: 4");
    expect(events).toHaveLength(1);
    parser.push("2%");
    expect(events.at(-1)).toEqual({ phase: "Retrieving image", percent: 42, text: "Retrieving image: 42%" });
    expect(parser.launchedName).toBeNull();
    parser.push(CLEAR + "Launched: web");
    expect(parser.launchedName).toBeNull();
    parser.end();
    expect(parser.launchedName).toBe("web");
    expect(events).toHaveLength(2);
  });

  test("a spinner that only animates reports its message once", () => {
    const { events } = feed([spin("Starting web", 500) + stopSpinning]);
    expect(events).toEqual([{ phase: "Starting", percent: null, text: "Starting web" }]);
  });

  test("a failed launch reports progress and no name", () => {
    expect(feed([spin("Creating web") + stopSpinning])).toEqual({
      events: [{ phase: "Creating", percent: null, text: "Creating web" }],
      name: null,
    });
  });

  test("an unterminated escape sequence is dropped instead of buffered forever", () => {
    const { events, name } = feed(["\x1b[" + "1;".repeat(100) + "Creating web  \b|", CLEAR + "Launched: w\n"]);
    expect(name).toBe("w");
    expect(events.every((event) => event.text.length < 200)).toBe(true);
  });
});

describe("parseProgressText", () => {
  test.each([
    ["Creating web", "Creating", null],
    ["Creating web in zone1", "Creating", null],
    ["Retrieving image: 42%", "Retrieving image", 42],
    ["Retrieving image: ", "Retrieving image", null],
    ["Verifying image: 100%", "Verifying image", 100],
    ["Preparing image for web", "Preparing image", null],
    ["Preparing image: ", "Preparing image", null],
    ["Configuring web", "Configuring", null],
    ["Starting web", "Starting", null],
    ["Waiting for initialization to complete", "Waiting for initialization", null],
    ["Extracting image: 7%", "Other", 7],
    ["Retrieving image: 420%", "Retrieving image", null],
    ["Something new", "Other", null],
    ["Startingly", "Other", null],
  ] as const)("%p → %p %p", (text, phase, value) => {
    expect(parseProgressText(text)).toEqual({ phase, percent: value, text: text.trim() });
  });

  test("blank text carries no progress", () => {
    expect(parseProgressText("   ")).toBeNull();
  });
});
