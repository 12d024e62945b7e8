/** Lambda entry of the token API with Powertools Tracer: the stack uses it when `traceAwsCalls` is on. */
import { createTokenHandler } from './create-handler';
import { createTracing } from './tracing';

export const handler = createTokenHandler(createTracing());
