import { describe, expect, test } from "bun:test";
import { createProgress } from "../../lib/client/progress.ts";
import { formatElapsed, stripControl } from "../../lib/core/format.ts";
import { fakeClient } from "../support/fake-client.ts";

describe("format", () => {
  test("elapsed time: seconds, then minutes and seconds, then hours and minutes", () => {
    expect([0, 999, 48_000, 59_999, 60_000, 72_000, 605_000, 3_600_000, 3_725_000].map(formatElapsed)).toEqual(["0 s", "0 s", "48 s", "59 s", "1m00s", "1m12s", "10m05s", "1h00m", "1h02m"]);
  });

  test("text for a terminal loses escape sequences and control characters, keeps tabs, newlines and the rest", () => {
    expect(stripControl("a\u001b[31mred\u001b[0m\r\u0007b\u001b]0;title\u0007\tc\nd\u009b2Jé")).toBe("aredb\tc\nd2Jé");
  });
});

describe("the progress line", () => {
  function setup(live: boolean, cols = 80) {
    const client = fakeClient({ isTTY: live, cols });
    let clock = 1_000_000;
    const progress = createProgress(client.ctx, { live, now: () => clock, tickMs: 20 });
    return { client, progress, advance: (ms: number) => (clock += ms), out: () => client.out.join("") };
  }

  test("on a terminal: the phase and the time spent in it, redrawn on one line; a new key restarts the clock, a new text does not", async () => {
    const { progress, advance, out } = setup(true);
    progress.phase("Retrieving image 10%", "Retrieving image");
    advance(48_000);
    await Bun.sleep(50);
    expect(out()).toEndWith("\r\u001b[2KRetrieving image 10% … 48 s");
    progress.phase("Retrieving image 90%", "Retrieving image");
    expect(out()).toEndWith("\r\u001b[2KRetrieving image 90% … 48 s");
    progress.phase("Waiting for cloud-init in web");
    advance(72_000);
    await Bun.sleep(50);
    expect(out()).toEndWith("\r\u001b[2KWaiting for cloud-init in web … 1m12s");
    progress.line("a result");
    expect(out()).toEndWith("\r\u001b[2Ka result\n");
    progress.stop();
    const after = out();
    await Bun.sleep(50);
    expect(out()).toBe(after);
  });

  test("cut to the window so it never wraps, and stripped of control characters", () => {
    const { progress, out } = setup(true, 20);
    progress.phase("Starting \u001b[2Ja-very-long-instance-name");
    expect(out()).toBe("\r\u001b[2KStarting a-v… … 0 s");
    progress.stop();
  });

  test("not on a terminal: each new phase once, as a plain line, with no clock", () => {
    const { progress, out } = setup(false);
    progress.phase("Retrieving image", "Retrieving image");
    progress.phase("Retrieving image", "Retrieving image");
    progress.phase("Starting web");
    progress.line("done");
    progress.stop();
    expect(out()).toBe("Retrieving image\nStarting web\ndone\n");
  });
});
