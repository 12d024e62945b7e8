/** What the vendor reports as it works; the Lambda turns it into Powertools metrics. */
export type UpstreamOperation = 'getAccessToken' | 'refreshToken';

export interface VendorEvents {
  cacheHit(layer: 'memory' | 'table'): void;
  upstreamCall(operation: UpstreamOperation, outcome: 'ok' | 'failed', latencyMs: number): void;
  leaseWait(outcome: 'served' | 'failed' | 'timed-out', waitedMs: number): void;
  /** An upstream failure was hidden from callers because a valid token existed. */
  servedStale(): void;
  /** Something worth a log line that callers do not see; `detail` never holds secrets. */
  notice(message: string, detail: Record<string, unknown>): void;
}

export const silentEvents: VendorEvents = {
  cacheHit: () => {},
  upstreamCall: () => {},
  leaseWait: () => {},
  servedStale: () => {},
  notice: () => {},
};
