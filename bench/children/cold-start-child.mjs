// Runs in a fresh Node process in an empty temp folder: imports one bundle and serves one request,
// like a Lambda init followed by the first invoke. Plain JavaScript: nothing but Node is loaded.
// argv: <bundle file> <event JSON file>. Prints one line: @@COLD@@{...}.
// The hrtime marks (µs) let a --cpu-prof profile of this process be split into its phases: the
// profile's time stamps are on the same monotonic clock.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const micros = () => Number(process.hrtime.bigint() / 1000n);
const importStartUs = micros();
const beforeImport = performance.now();
const module = await import(pathToFileURL(process.argv[2]).href);
const afterImport = performance.now();
const importEndUs = micros();
const event = JSON.parse(readFileSync(process.argv[3], 'utf8'));
const context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'bench-cold-start',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench-cold-start',
  memoryLimitInMB: '512',
  awsRequestId: 'c0ffee00-0000-4000-8000-000000000000',
  logGroupName: '/aws/lambda/bench-cold-start',
  logStreamName: 'bench',
  getRemainingTimeInMillis: () => 25_000,
  done() {},
  fail() {},
  succeed() {},
};
const result = await module.handler(event, context);
const afterRequest = performance.now();
const requestEndUs = micros();
process.stdout.write(
  `\n@@COLD@@${JSON.stringify({
    node: process.version,
    // performance.now() counts from the process's time origin, i.e. its start.
    processStartToImportMs: beforeImport,
    importMs: afterImport - beforeImport,
    firstRequestMs: afterRequest - afterImport,
    totalMs: afterRequest,
    marks: { importStartUs, importEndUs, requestEndUs },
    statusCode: result?.statusCode,
    bodyKeys: Object.keys(JSON.parse(result?.body ?? '{}')),
    // An error body names a code and a request id only, never a token.
    ...(result?.statusCode !== 200 && { errorBody: result?.body }),
  })}\n`,
  () => process.exit(0),
);
