/**
 * Modules the functions load with `import()` only when they need them. A function's asset carries
 * each as a file of its own beside index.mjs (lib/token-functions.ts builds it there), so that a
 * cold start neither parses nor links it.
 *
 * Each value is what the code passes to `import()`: relative to the importing module's folder in
 * functions/ (tsx and Jest resolve `.js` to the `.ts` source there), and to index.mjs in the asset,
 * where it is the file's name.
 */

/** The Lambda client (functions/adapters/lambda-sdk.ts), loaded on the first refresh request by functions/adapters/refresh-trigger.ts. */
export const LAMBDA_SDK_MODULE = './lambda-sdk.js';
