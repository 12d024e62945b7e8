/**
 * The flags Lambda's Node.js runtime starts `node` with, for a function of `memoryMb`: its
 * bootstrap (/var/runtime/bootstrap in the runtime images) gives the young generation a tenth of
 * the function's memory (two semi-spaces of a twentieth each) and the old generation the rest. A
 * benchmark process that plays a Lambda container runs with them, so that the garbage collector
 * works as it would in AWS.
 */
export function lambdaRuntimeNodeFlags(memoryMb: number): string[] {
  const newSpace = Math.floor(memoryMb / 10);
  return [
    '--expose-gc',
    '--max-http-header-size=81920',
    `--max-semi-space-size=${Math.floor(newSpace / 2)}`,
    `--max-old-space-size=${memoryMb - newSpace}`,
  ];
}
