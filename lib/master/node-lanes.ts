/**
 * How a verb on many instances goes through their nodes: each node has a lane
 * of its own, so a slow or hung node never holds up the results of another.
 *
 * A lane sends its first call alone, and opens up to PER_NODE_CONCURRENCY
 * calls at once only when the node has begun to answer it (response headers:
 * a worker opens its stream before Multipass works, and keeps it alive while
 * the host takes its time, so a slow node is never mistaken for a hung one).
 * A node that accepts connections and never answers (hung, stopped) fails
 * that first call at the agent client's headers deadline; its lane is then
 * silent, and every instance of it still waiting is reported at once as not
 * sent — left as it was — instead of each waiting out a deadline of its own,
 * or sitting in a stopped worker's socket to run whenever it resumes.
 */
import type { AppError } from "../core/errors.ts";

/** Calls one lane has in flight at once on its node. */
export const PER_NODE_CONCURRENCY = 8;

/** What a call on a node tells its lane, and what the lane tells the next call. */
export interface Lane {
  /** Why nothing more is sent to this node (it did not answer a call), or null. */
  readonly silent: AppError | null;
  /** The node has begun to answer a call: it is there, and the lane opens up. */
  answered(): void;
  /** The node never began to answer a call: nothing more is sent to it. */
  unanswered(why: AppError): void;
}

interface OpenLane extends Lane {
  /** Settles once the node has answered or been found silent. */
  readonly heard: Promise<void>;
}

function createLane(): OpenLane {
  let hear = (): void => {};
  const heard = new Promise<void>((resolve) => (hear = resolve));
  let silent: AppError | null = null;
  return {
    get silent() {
      return silent;
    },
    heard,
    answered: () => hear(),
    unanswered(why) {
      silent ??= why;
      hear();
    },
  };
}

/**
 * Runs `work` on every target, a lane per node (in the order the targets
 * come), and resolves when all have ended. `work` must check `lane.silent`
 * before it sends anything, tell the lane what it learns of the node, and
 * not throw.
 */
export async function runInLanes<T extends { node: { name: string } }>(
  targets: readonly T[],
  work: (target: T, lane: Lane) => Promise<void>,
  perNode = PER_NODE_CONCURRENCY,
): Promise<void> {
  const byNode = new Map<string, T[]>();
  for (const target of targets) {
    const list = byNode.get(target.node.name);
    if (list) list.push(target);
    else byNode.set(target.node.name, [target]);
  }
  await Promise.all([...byNode.values()].map((list) => runLane(list, work, perNode)));
}

async function runLane<T>(targets: T[], work: (target: T, lane: Lane) => Promise<void>, perNode: number): Promise<void> {
  const lane = createLane();
  const queue = [...targets];
  const drain = async (): Promise<void> => {
    for (let target = queue.shift(); target !== undefined; target = queue.shift()) await work(target, lane);
  };
  const first = queue.shift();
  if (first === undefined) return;
  const firstDone = work(first, lane);
  // The others wait until the node has shown it answers (or the first call has ended either way).
  await Promise.race([lane.heard, firstDone]);
  const others = Array.from({ length: Math.max(0, Math.min(perNode - 1, queue.length)) }, drain);
  await Promise.all([firstDone.then(drain), ...others]);
}
