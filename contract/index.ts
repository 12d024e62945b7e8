/**
 * The contract between the token function and the CDK stack: every fact both sides need, spelled
 * once. `functions/`, `lib/`, `local/` and `bench/` import it; it imports nothing from them, and
 * nothing from AWS or CDK, so the Lambda bundle and the CDK app load it alike.
 *
 * - settings.ts: names, defaults, ranges and checks of the shared settings; the typed Lambda environment
 * - lease-timing.ts: the lease, request budget and function timeout formulas
 * - tenant-id.ts: what a tenant id may look like
 * - routes.ts: the API's routes
 * - metrics.ts: the metric names the functions emit, and which function emits which
 * - table.ts: the token table's attribute names
 * - tenant-session.ts: the session tag and lifetime of tenant sessions
 * - lazy-modules.ts: the modules the functions import only when needed, files of their own in the asset
 */
export * from './lazy-modules';
export * from './lease-timing';
export * from './metrics';
export * from './routes';
export * from './settings';
export * from './table';
export * from './tenant-id';
export * from './tenant-session';
