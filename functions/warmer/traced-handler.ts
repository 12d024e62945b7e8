/** Lambda entry of the warmer with Powertools Tracer: the stack uses it when `traceAwsCalls` is on. */
import { createTracing } from '../token/tracing';
import { createWarmerHandler } from './create-handler';

export const handler = createWarmerHandler(createTracing());
