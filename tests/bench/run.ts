/**
 * `bun run bench`: every benchmark, one after the other, each printing its
 * table. Benchmarks report figures; they never pass or fail on timing.
 */
import { runBinariesBench } from "./binaries.ts";
import { runPollingBench } from "./polling.ts";
import { runRelayBench } from "./relay.ts";
import { runScaleBench } from "./scale.ts";
import { runScreenMirrorBench } from "./screen-mirror.ts";

await runRelayBench();
await runScaleBench();
await runPollingBench();
await runScreenMirrorBench();
// Says it is skipped when there are no executables (npm run build first).
await runBinariesBench();
