/**
 * Simulated wall-clock time for the cost run: `Date.now()` and `new Date()` answer a time we move
 * by hand, so that hours of traffic (secret cache, token lifetimes, refresh windows, the warmer's
 * schedule) pass in seconds. Everything that reads the clock reads it through these two (the
 * vendor's system clock, the Secrets Manager adapter's cache, the simulator when built with
 * `now: () => Date.now()`). Timers are untouched: real waits stay real.
 */
export interface SimulatedTime {
  now(): number;
  set(time: number): void;
  restore(): void;
}

export function installSimulatedTime(start: number): SimulatedTime {
  const RealDate = Date;
  let current = start;
  function SimulatedDate(this: unknown, ...args: unknown[]): Date | string {
    // `Date()` without `new` returns a string of the current time.
    if (new.target === undefined) return new RealDate(current).toString();
    return args.length === 0 ? new RealDate(current) : new (RealDate as unknown as new (...a: unknown[]) => Date)(...args);
  }
  SimulatedDate.prototype = RealDate.prototype;
  Object.assign(SimulatedDate, { now: () => current, parse: RealDate.parse, UTC: RealDate.UTC });
  globalThis.Date = SimulatedDate as unknown as DateConstructor;
  return {
    now: () => current,
    set(time: number) {
      if (time < current) throw new Error('simulated time only moves forward');
      current = time;
    },
    restore() {
      globalThis.Date = RealDate;
    },
  };
}

/** The fault simulator's seeded generator (mulberry32): the same scenario picks the same tenants every run. */
export { seededRandom } from '../../sim/loop';
