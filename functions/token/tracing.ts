/**
 * Powertools Tracer, for functions that run with `TRACE_AWS_CALLS=true`: X-Ray subsegments for
 * every DynamoDB, Secrets Manager and Lambda call. Loaded with a dynamic `import()` only then,
 * because the X-Ray SDK it brings costs on every request, not just when a trace is sampled: it
 * adds about 20 ms to a cold start, and its async hooks track every promise (about a tenth of a
 * table hit's CPU, see README, Performance). Lambda's active tracing records each invocation
 * without it.
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

