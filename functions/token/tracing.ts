/**
 * Powertools Tracer, for the traced entries (`traced-handler.ts`, which the stack deploys when
 * `traceAwsCalls` is on): X-Ray subsegments for every DynamoDB, Secrets Manager and Lambda call.
 * Only those entries import it, so the default assets do not even contain the X-Ray SDK: it costs
 * on every request, not just when a trace is sampled (bytes to compile at cold start, and async
 * hooks on every promise: a tenth of a table hit's CPU; README, Performance). Lambda's active
 * tracing records each invocation without it.
 */
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';

export interface Tracing {
  readonly tracer: Tracer;
  /** Middy middleware; never records the response, which carries the token. */
  readonly middleware: ReturnType<typeof captureLambdaHandler>;
}

export function createTracing(): Tracing {
  const tracer = new Tracer();
  return { tracer, middleware: captureLambdaHandler(tracer, { captureResponse: false }) };
}

