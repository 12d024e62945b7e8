import type { SimulatorCounters, SimulatorEndpoint } from './types';

type PerEndpoint = Record<SimulatorEndpoint, number>;
type Peaks = SimulatorCounters['inFlightMax'];

const zeroCalls = (): PerEndpoint => ({ getAccessToken: 0, refreshToken: 0, protected: 0, location: 0, getAccessTokenV3: 0 });
const zeroPeaks = (): Peaks => ({ getAccessToken: 0, refreshToken: 0, getAccessTokenV3: 0, location: 0 });

// The protected endpoint stands in for the callers' own traffic; its peak tells nothing.
const hasPeak = (endpoint: SimulatorEndpoint): endpoint is keyof Peaks => endpoint !== 'protected';

/**
 * Calls per endpoint, refusals, and the peak of concurrent calls. The peak is what tells a
 * single-flight client apart from one that stampedes the slow token endpoints (or the lookup).
 */
export class CallCounter {
  private calls = zeroCalls();
  private rejectedCount = 0;
  // Current in-flight counts survive reset(): the calls are still open and will decrement later.
  private readonly inFlight = zeroCalls();
  private inFlightMax = zeroPeaks();

  /** Counts a call on arrival; the returned function marks it finished (call it once). */
  arrive(endpoint: SimulatorEndpoint): () => void {
    this.calls[endpoint]++;
    this.inFlight[endpoint]++;
    if (hasPeak(endpoint)) {
      this.inFlightMax[endpoint] = Math.max(this.inFlightMax[endpoint], this.inFlight[endpoint]);
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight[endpoint]--;
    };
  }

  rejected(): void {
    this.rejectedCount++;
  }

  snapshot(): SimulatorCounters {
    return {
      ...this.calls,
      rejected: this.rejectedCount,
      inFlightMax: { ...this.inFlightMax },
    };
  }

  reset(): void {
    this.calls = zeroCalls();
    this.rejectedCount = 0;
    this.inFlightMax = zeroPeaks();
  }
}
