/**
 * The two names `LambdaRefreshTrigger` needs from the Lambda SDK, in a module of their own: it is
 * loaded with a dynamic `import()` on the first refresh request, and bundling this module rather
 * than the package keeps only these two (the package's namespace has every command). The asset
 * carries it bundled as a file of its own beside index.mjs (contract/lazy-modules.ts).
 */
export { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
