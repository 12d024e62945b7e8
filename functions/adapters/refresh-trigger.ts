/**
 * Where a refresh of a refresh-due token runs, so that the caller who noticed it is answered at
 * once: a Lambda cannot keep working after it has answered API Gateway (its environment freezes),
 * so in AWS the refresh is an asynchronous invocation of the refresher (the warmer function);
 * locally, where nothing freezes, it is a background task in the same process.
 */
import type { LambdaClient, LambdaClientConfig } from '@aws-sdk/client-lambda';
import { LAMBDA_SDK_MODULE } from '../../contract/lazy-modules';
import type { RefreshTrigger } from '../domain/types';
import { type AwsCallLimits, sendWithin, withCallLimits } from './aws-call-limits';

type LambdaSdk = typeof import('./lambda-sdk.js');

/** The refresher's event for one tenant; the warmer tells it from its schedule's events by `tenantId`. */
export interface RefreshRequestEvent {
  readonly tenantId: string;
}

export interface LambdaRefreshTriggerOptions {
  readonly functionName: string;
  /** The client to invoke with; default: a `LambdaClient` built on the first request. */
  readonly client?: LambdaClient;
  /** The configuration of the client it builds (tests point it at a local endpoint). */
  readonly clientConfig?: LambdaClientConfig;
  /**
   * How long the Invoke may take (aws-call-limits.ts; bounded by how long the caller waits for
   * it): it is sent with an abort signal at the call ceiling, and a client built here gets the
   * timeouts and attempts. Without limits: the SDK's defaults, and no abort.
   */
  readonly limits?: AwsCallLimits;
  /** Wraps the client it builds (X-Ray capture). */
  readonly instrument?: (client: LambdaClient) => LambdaClient;
}

/**
 * Invokes the refresher function with `InvocationType: 'Event'`: Lambda queues the event and
 * answers 202 within one round trip. Retries and event age are the function's async invoke config.
 *
 * The Lambda client is loaded on the first refresh request, not at import: most containers never
 * make one, and the package is a tenth of the bundle (README, Performance: cold start). It is a
 * file of its own in the asset (contract/lazy-modules.ts), so index.mjs does not hold it either.
 *
 * @example
 * const trigger = new LambdaRefreshTrigger({ functionName: 'ekuaibao-token-warmer' });
 * await trigger.requestRefresh('acme');
 */
export class LambdaRefreshTrigger implements RefreshTrigger {
  private sdk: Promise<{ client: LambdaClient; InvokeCommand: LambdaSdk['InvokeCommand'] }> | undefined;

  constructor(private readonly options: LambdaRefreshTriggerOptions) {}

  async requestRefresh(tenantId: string): Promise<void> {
    const event: RefreshRequestEvent = { tenantId };
    // By the contract's name, not a literal: esbuild does not follow an import() of a variable, so
    // the module stays out of index.mjs, and the asset has it under that name.
    this.sdk ??= (import(LAMBDA_SDK_MODULE) as Promise<LambdaSdk>).then(({ LambdaClient, InvokeCommand }) => {
      const { limits, clientConfig = {}, instrument = (client: LambdaClient) => client } = this.options;
      const config = limits ? withCallLimits(limits, clientConfig) : clientConfig;
      return { client: this.options.client ?? instrument(new LambdaClient(config)), InvokeCommand };
    });
    // A failed load is not cached: the next request tries again.
    const { client, InvokeCommand } = await this.sdk.catch((error: unknown) => {
      this.sdk = undefined;
      throw error;
    });
    const command = new InvokeCommand({
      FunctionName: this.options.functionName,
      InvocationType: 'Event',
      Payload: new TextEncoder().encode(JSON.stringify(event)),
    });
    await sendWithin(this.options.limits, (sendOptions) => client.send(command, sendOptions));
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
