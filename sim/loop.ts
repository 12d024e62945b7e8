/**
 * Simulated time for the fault simulator: one event queue, one clock, nothing real. Every await in
 * the code under test ends on a promise this loop settles, so a run is a pure function of its plan:
 * the same seed replays the same interleaving, to the millisecond and the microtask.
 */
import { setImmediate as macrotask } from 'node:timers/promises';

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

/** Mulberry32: a tiny seeded PRNG; Math.random would make runs unreplayable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A discrete-event loop. `schedule` queues a callback at a simulated time; `run` pops events in
 * time order (ties in scheduling order), and after each one lets every microtask it caused run
 * to completion before the next event, so promise continuations interleave deterministically.
 *
 * @example
 * const loop = new SimLoop(Date.UTC(2026, 0, 1));
 * loop.schedule(100, () => console.log(loop.now));
 * await loop.run(loop.now + 1_000);
 */
export class SimLoop {
  private queue: Scheduled[] = [];
  private seq = 0;
  /** Events run so far: a runaway run (a busy loop in simulated time) is stopped by a cap. */
  steps = 0;

  constructor(public now: number) {}

  schedule(delayMs: number, run: () => void): void {
    const event: Scheduled = { at: this.now + Math.max(0, delayMs), seq: this.seq++, run };
    // Binary insertion keeps the queue sorted by (at, seq).
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const other = this.queue[mid]!;
      if (other.at < event.at || (other.at === event.at && other.seq < event.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, event);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.schedule(ms, resolve));
  }

  /** Runs events until none is due before `until` or `maxSteps` have run; returns whether it went idle. */
  async run(until: number, maxSteps: number, afterEach?: () => void): Promise<boolean> {
    await macrotask();
    while (this.queue.length > 0 && this.queue[0]!.at <= until) {
      if (this.steps++ >= maxSteps) return false;
      const event = this.queue.shift()!;
      this.now = event.at;
      event.run();
      // Every continuation of that event runs now: microtasks drain before the next macrotask.
      await macrotask();
      afterEach?.();
    }
    if (this.queue.length === 0) return true;
    this.now = Math.max(this.now, until);
    return true;
  }

  get pending(): number {
    return this.queue.length;
  }
}
