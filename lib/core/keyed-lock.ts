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
