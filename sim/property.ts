/**
 * The simulator as a property: for every plan fast-check generates, the world's history breaks
 * none of I1-I5, PREFIX and V3 (`checker.ts`). Each seed is its own run (`numRuns: 1`), so "seed S" names one plan exactly and
 * `npm run sim -- --seed S` replays it; a failure is shrunk to a shortest plan that still fails.
 */
import fc from 'fast-check';
import { checkInvariants, type Violation } from './checker';
import { planArb, type SimPlan } from './plan';
import { runPlan, type WorldOptions } from './world';

/** Planted bugs (`storeFactory`, `wrapVendor`, `wrapCredentials`: tests only), and shrinking. */
export interface SimOptions extends Omit<WorldOptions, 'trace'> {
  /**
   * How long shrinking a failing plan may take, ms; 0 reports the plan as generated. Shrinking
   * tries many smaller plans, each a full run: it is for a person reading one failure.
   */
  readonly shrinkForMs?: number;
}

const DEFAULT_SHRINK_MS = 60_000;

export async function violationsOf(plan: SimPlan, options: SimOptions = {}): Promise<Violation[]> {
  return checkInvariants(await runPlan(plan, options));
}

export interface SeedFailure {
  readonly seed: number;
  /** The shrunk plan and what it broke. */
  readonly plan: SimPlan;
  readonly violations: Violation[];
}

/** Runs one seed; on failure, shrinks it and returns the shortest failing plan. */
export async function checkSeed(seed: number, options: SimOptions = {}): Promise<SeedFailure | undefined> {
  const shrinkForMs = options.shrinkForMs ?? DEFAULT_SHRINK_MS;
  if (shrinkForMs === 0) {
    const plan = planOf(seed);
    const violations = await violationsOf(plan, options);
    return violations.length === 0 ? undefined : { seed, plan, violations };
  }
  let last: { plan: SimPlan; violations: Violation[] } | undefined;
  const details = await fc.check(
    fc.asyncProperty(planArb, async (plan) => {
      const violations = await violationsOf(plan, options);
      if (violations.length > 0) last = { plan, violations };
      return violations.length === 0;
    }),
    // The one run starts at once; the time limit only ever cuts shrinking short.
    { seed, numRuns: 1, maxSkipsPerRun: 0, interruptAfterTimeLimit: shrinkForMs, markInterruptAsFailure: false },
  );
  if (!details.failed || details.counterexample === null) return last && { seed, ...last };
  const plan = details.counterexample[0];
  const violations = await violationsOf(plan, options);
  return { seed, plan, violations: violations.length > 0 ? violations : last!.violations };
}

/** Runs seeds `from` … `from + count − 1`; stops at the first failure. */
export async function checkSeeds(from: number, count: number, options: SimOptions = {}, onProgress?: (done: number) => void): Promise<SeedFailure | undefined> {
  for (let i = 0; i < count; i++) {
    const failure = await checkSeed(from + i, options);
    if (failure) return failure;
    onProgress?.(i + 1);
  }
  return undefined;
}

/** The plan a seed generates, unshrunk (what `--seed S --trace` replays). */
export function planOf(seed: number): SimPlan {
  return fc.sample(planArb, { seed, numRuns: 1 })[0]!;
}
