/** At most one running task per key; callers of a running key share its promise. */
export class SingleFlight<K, V> {
  readonly #running = new Map<K, Promise<V>>();

  run(key: K, task: () => Promise<V>): Promise<V> {
    const running = this.#running.get(key);
    if (running !== undefined) return running;
    // The key is freed before any caller sees the outcome, so a caller that reacts to a failure
    // by asking again starts a new task instead of joining the failed one.
    const promise = task().finally(() => this.#running.delete(key));
    this.#running.set(key, promise);
    return promise;
  }

  get(key: K): Promise<V> | undefined {
    return this.#running.get(key);
  }
}
