import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

/** The repository root: NodejsFunction bundles from here with the root lock file. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Lambda entry points; the traced ones add Powertools Tracer (`traceAwsCalls`). */
export const FUNCTION_ENTRIES = {
  token: path.join(REPO_ROOT, 'functions', 'token', 'handler.ts'),
  tokenTraced: path.join(REPO_ROOT, 'functions', 'token', 'traced-handler.ts'),
  warmer: path.join(REPO_ROOT, 'functions', 'warmer', 'handler.ts'),
  warmerTraced: path.join(REPO_ROOT, 'functions', 'warmer', 'traced-handler.ts'),
} as const;

export const LOCK_FILE = path.join(REPO_ROOT, 'package-lock.json');
