/**
 * One operation at a time per key (per instance on a worker): callers on the
 * same key run in arrival order, callers on different keys run in parallel.
 * Nothing is kept for a key once its queue is empty.
 */
export interface KeyedLock {
  run<T>(key: string, task: () => Promise<T>): Promise<T>;
  /**
   * Runs `task` holding every key of `keys`, taken one by one in sorted
   * order, so two callers of several keys can never wait on each other.
   */
  runAll<T>(keys: readonly string[], task: () => Promise<T>): Promise<T>;
  /** Keys with a running or waiting task. */
  readonly busy: number;
}

export function createKeyedLock(): KeyedLock {
  const tails = new Map<string, Promise<unknown>>();
  const lock: KeyedLock = {
    runAll<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
      const sorted = [...new Set(keys)].sort();
      const take = (i: number): Promise<T> => (i === sorted.length ? task() : lock.run(sorted[i]!, () => take(i + 1)));
      return take(0);
    },
    run(key, task) {
      const previous = tails.get(key) ?? Promise.resolve();
      const result = previous.then(task, task);
      const tail = result.then(
        () => {},
        () => {},
      );
      tails.set(key, tail);
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return result;
    },
    get busy() {
      return tails.size;
    },
  };
  return lock;
}

/**
 * At most `limit` tasks at a time per key (per node): the rest wait, in
 * arrival order. Nothing is kept for a key with no task running or waiting.
 */
export interface KeyedLimit {
  run<T>(key: string, task: () => Promise<T>, onQueued?: (ahead: number) => void): Promise<T>;
}

export function createKeyedLimit(limit: number): KeyedLimit {
  const keys = new Map<string, { running: number; waiting: (() => void)[] }>();
  return {
    async run(key, task, onQueued) {
      let slot = keys.get(key);
      if (!slot) keys.set(key, (slot = { running: 0, waiting: [] }));
      if (slot.running >= limit) {
        onQueued?.(slot.waiting.length + slot.running);
        await new Promise<void>((resolve) => slot!.waiting.push(resolve));
      } else slot.running++;
      try {
        return await task();
      } finally {
        const next = slot.waiting.shift();
        // The slot passes straight to the next in line; only the last one out frees it.
        if (next) next();
        else if (--slot.running === 0) keys.delete(key);
      }
    },
  };
}
