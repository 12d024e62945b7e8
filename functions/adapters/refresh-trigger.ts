/**
 * Where a refresh of a refresh-due token runs, so that the caller who noticed it is answered at
 * once: a Lambda cannot keep working after it has answered API Gateway (its environment freezes),
 * so in AWS the refresh is an asynchronous invocation of the refresher (the warmer function);
 * locally, where nothing freezes, it is a background task in the same process.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { RefreshTrigger } from '../domain/types';

/** The refresher's event for one tenant; the warmer tells it from its schedule's events by `tenantId`. */
export interface RefreshRequestEvent {
  readonly tenantId: string;
}

/**
 * Invokes the refresher function with `InvocationType: 'Event'`: Lambda queues the event and
 * answers 202 within one round trip. Retries and event age are the function's async invoke config.
 *
 * @example
 * const trigger = new LambdaRefreshTrigger({ functionName: 'ekuaibao-token-warmer' });
 * await trigger.requestRefresh('acme');
 */
export class LambdaRefreshTrigger implements RefreshTrigger {
  private readonly client: LambdaClient;

  constructor(private readonly options: { readonly functionName: string; readonly client?: LambdaClient }) {
    this.client = options.client ?? new LambdaClient({});
  }

  async requestRefresh(tenantId: string): Promise<void> {
    const event: RefreshRequestEvent = { tenantId };
    await this.client.send(
      new InvokeCommand({
        FunctionName: this.options.functionName,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify(event)),
      }),
    );
  }
}

/**
 * Runs the refresh in the background of this process (`npm start`, tests). Failures are reported,
 * never thrown at the caller who asked.
 *
 * @example
 * const trigger = new BackgroundRefreshTrigger((tenantId) => vendor.refresh(tenantId), console.warn);
 */
export class BackgroundRefreshTrigger implements RefreshTrigger {
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly refresh: (tenantId: string) => Promise<unknown>,
    private readonly onError: (error: unknown) => void,
  ) {}

  async requestRefresh(tenantId: string): Promise<void> {
    const run = this.refresh(tenantId)
      .catch(this.onError)
      .finally(() => this.running.delete(run));
    this.running.add(run);
  }

  /** Resolves when every refresh started so far has ended (for a clean shutdown and tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
