/** Lambda entry of the token API, without X-Ray subsegments (the default; `traced-handler.ts` has them). */
import { createTokenHandler } from './create-handler';

export const handler = createTokenHandler();
