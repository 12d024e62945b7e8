/** Lambda entry of the warmer, without X-Ray subsegments (the default; `traced-handler.ts` has them). */
import { createWarmerHandler } from './create-handler';

export const handler = createWarmerHandler();
