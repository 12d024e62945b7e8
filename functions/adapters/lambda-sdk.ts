/**
 * The two names `LambdaRefreshTrigger` needs from the Lambda SDK, in a module of their own: it is
 * loaded with a dynamic `import()` on the first refresh request, and importing this module rather
 * than the package lets the bundler keep only these two (the package's namespace has every command).
 */
export { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
