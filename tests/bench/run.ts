/**
 * `bun run bench`: every benchmark, one after the other, each printing its
 * table. Benchmarks report figures; they never pass or fail on timing.
 */
import { runRelayBench } from "./relay.ts";

await runRelayBench();
