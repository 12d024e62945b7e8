/**
 * `cdk synth` as an operator runs it from a fresh clone: the CDK CLI, cdk.json's app command,
 * no AWS credentials, no network. cdk-nag runs inside it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../../lib/paths';

const CDK = path.join(REPO_ROOT, 'node_modules', '.bin', 'cdk');
let outdir: string;

beforeAll(() => {
  outdir = mkdtempSync(path.join(tmpdir(), 'token-vending-cli-'));
});

afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
});

function cdkSynth(...args: string[]) {
  // No credentials, no profile, no instance metadata: synth must not need AWS.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('CDK_')));
  return spawnSync(CDK, ['synth', '--quiet', '--no-notices', '--output', outdir, ...args], {
    cwd: REPO_ROOT,
    env: { ...env, AWS_EC2_METADATA_DISABLED: 'true', CDK_DISABLE_CLI_TELEMETRY: 'true' },
    encoding: 'utf8',
    timeout: 90_000,
  });
}

test('cdk synth works offline, bundles both functions and runs cdk-nag', () => {
  const run = cdkSynth('-c', 'secretPrefix=cli/tenants/');
  expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' });
  const template = JSON.parse(readFileSync(path.join(outdir, 'EkuaibaoTokenVending.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Metadata?: Record<string, unknown> }>;
  };
  const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
  expect(functions).toHaveLength(2);
  for (const fn of functions) expect(fn.Metadata?.['aws:asset:is-bundled']).toBe(true);
  // Written by the AwsSolutions pack the app registers: proof that it ran in this synth.
  expect(Object.values(template.Resources).some((r) => r.Metadata?.cdk_nag !== undefined)).toBe(true);
  // The tenant access role reads the session tenant's secret under the prefix given.
  expect(JSON.stringify(template)).toContain('secret:cli/tenants/${aws:PrincipalTag/tenantId}-??????');
}, 90_000);

test('cdk synth refuses an invalid context value with a message naming it', () => {
  const run = cdkSynth('-c', 'wafRateLimit=5');
  expect(run.status).not.toBe(0);
  expect(run.stderr).toContain('Invalid setting "wafRateLimit"');
}, 90_000);
