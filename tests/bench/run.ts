/**
 * `bun run bench`: every benchmark, one after the other, each printing its
 * table. Benchmarks report figures; they never pass or fail on timing.
 */
import { runApplyBench } from "./apply.ts";
import { runAuditBench } from "./audit.ts";
import { runBinariesBench } from "./binaries.ts";
import { runCpBench } from "./cp.ts";
import { runFanOutBench } from "./fan-out.ts";
import { runFlowControlBench } from "./flow-control.ts";
import { runPollingBench } from "./polling.ts";
import { runPortForwardBench } from "./port-forward.ts";
import { runKeptShellsBench } from "./kept-shells.ts";
import { runRelayBench } from "./relay.ts";
import { runScaleBench } from "./scale.ts";
import { runScreenMirrorBench } from "./screen-mirror.ts";
import { runSelectorsBench } from "./selectors.ts";
import { runWebBench } from "./web.ts";

await runRelayBench();
await runScaleBench();
await runPollingBench();
// Over three minutes at the figures; alone and shorter: see tests/bench/flow-control.ts.
await runFlowControlBench();
await runScreenMirrorBench();
await runKeptShellsBench();
// cp (issue 14) beside cat, exec's cat and the host's own multipass transfer.
await runCpBench();
// port-forward (issue 14): throughput and connection set-up beside a direct loopback connection.
await runPortForwardBench();
// The audit trail at a million records: the JSON-lines file against the SQLite table (issue 15).
await runAuditBench();
// exec on 200 instances over 10 nodes beside the slowest single exec (issue 15).
await runFanOutBench();
// Label selectors over 20,000 instances (issue 15).
await runSelectorsBench();
// apply -f of 12 instances over 3 nodes beside the same launches one by one (issue 17).
await runApplyBench();
// Says it is skipped when there is no Chromium.
await runWebBench();
// Says it is skipped when there are no executables (npm run build first).
await runBinariesBench();
