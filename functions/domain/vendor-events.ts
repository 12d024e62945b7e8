/** What the vendor reports as it works; the Lambda turns it into Powertools metrics. No secrets in here. */
export type UpstreamOperation = 'getAccessToken' | 'refreshToken';

/** Why a token that was in the table will not be served again. */
export type SupersededReason = 'in-doubt' | 'credentials-changed';

export interface VendorEvents {
  /** A caller was served from the table. */
  cacheHit(): void;
  upstreamCall(operation: UpstreamOperation, outcome: 'ok' | 'failed', latencyMs: number): void;
  leaseWait(outcome: 'served' | 'failed' | 'timed-out', waitedMs: number): void;
  /** A refresh-due token was served although its last refresh failed: callers never see that failure. */
  servedStale(): void;
  /** A refresh elsewhere was asked for (`sent`), or could not be asked for (`failed`; the token was served anyway). */
  refreshTriggered(outcome: 'sent' | 'failed'): void;
  /** The refresh endpoint failed and the holder fell back to getAccessToken under the same lease. */
  refreshFellBack(): void;
  /** A DynamoDB or Secrets Manager call failed transiently and was tried again. */
  storeRetried(operation: string): void;
  /** A token was replaced by a new lineage member for `reason`. */
  lineageSuperseded(reason: SupersededReason): void;
  /** The store kept failing, so a new token went to its caller without being stored. */
  handedOutUnstored(): void;
  /** Something worth a log line that callers do not see; `detail` never holds secrets. */
  notice(message: string, detail: Record<string, unknown>): void;
}

export const silentEvents: VendorEvents = {
  cacheHit: () => {},
  upstreamCall: () => {},
  leaseWait: () => {},
  servedStale: () => {},
  refreshTriggered: () => {},
  refreshFellBack: () => {},
  storeRetried: () => {},
  lineageSuperseded: () => {},
  handedOutUnstored: () => {},
  notice: () => {},
};
