import type { SimulatorCounters, SimulatorEndpoint } from './types';

/**
 * Calls per endpoint, 403s, and the peak of concurrent calls. The peak is what tells a
 * single-flight client apart from one that stampedes the slow token endpoint.
 */
export class CallCounter {
  private calls = { getAccessToken: 0, refreshToken: 0, protected: 0 };
  private rejectedCount = 0;
  // Current in-flight counts survive reset(): the calls are still open and will decrement later.
  private readonly inFlight = { getAccessToken: 0, refreshToken: 0, protected: 0 };
  private inFlightMax = { getAccessToken: 0, refreshToken: 0 };

  /** Counts a call on arrival; the returned function marks it finished (call it once). */
  arrive(endpoint: SimulatorEndpoint): () => void {
    this.calls[endpoint]++;
    this.inFlight[endpoint]++;
    if (endpoint !== 'protected') {
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
    this.calls = { getAccessToken: 0, refreshToken: 0, protected: 0 };
    this.rejectedCount = 0;
    this.inFlightMax = { getAccessToken: 0, refreshToken: 0 };
  }
}
