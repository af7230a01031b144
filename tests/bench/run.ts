/**
 * `bun run bench`: every benchmark, one after the other, each printing its
 * table. Benchmarks report figures; they never pass or fail on timing.
 */
import { runBinariesBench } from "./binaries.ts";
import { runPollingBench } from "./polling.ts";
import { runRelayBench } from "./relay.ts";
import { runScaleBench } from "./scale.ts";

await runRelayBench();
await runScaleBench();
await runPollingBench();
// Says it is skipped when there are no executables (npm run build first).
await runBinariesBench();
