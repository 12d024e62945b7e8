import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import { LAMBDA_SDK_MODULE } from '../contract/lazy-modules';

/** The repository root: NodejsFunction bundles from here with the root lock file. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Lambda entry points; the traced ones add Powertools Tracer (`traceAwsCalls`). */
export const FUNCTION_ENTRIES = {
  token: path.join(REPO_ROOT, 'functions', 'token', 'handler.ts'),
  tokenTraced: path.join(REPO_ROOT, 'functions', 'token', 'traced-handler.ts'),
  warmer: path.join(REPO_ROOT, 'functions', 'warmer', 'handler.ts'),
  warmerTraced: path.join(REPO_ROOT, 'functions', 'warmer', 'traced-handler.ts'),
} as const;

/**
 * The sources of the modules the functions import only when needed, by the name the code imports
 * them with (contract/lazy-modules.ts), which is relative to the importing module's folder:
 * functions/adapters/ for the Lambda client (refresh-trigger.ts).
 */
export const LAZY_MODULE_ENTRIES = {
  [LAMBDA_SDK_MODULE]: path.join(REPO_ROOT, 'functions', 'adapters', LAMBDA_SDK_MODULE.replace(/\.js$/, '.ts')),
} as const;

export const LOCK_FILE = path.join(REPO_ROOT, 'package-lock.json');
