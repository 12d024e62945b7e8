/**
 * The dependencies are the ones the code uses, at one version per family: every AWS SDK client
 * shares its core (one `@aws-sdk/core` in the bundle), and Powertools' packages are released
 * together.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../../lib/paths';

const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (name === 'node_modules' || name === 'cdk.out' || name === 'dist') return [];
    return statSync(full).isDirectory() ? sources(full) : /\.ts$/.test(name) ? [full] : [];
  });
}

test('every runtime dependency is imported by the functions, the contract, the app or local mode', () => {
  const code = ['functions', 'contract', 'lib', 'local'].flatMap((d) => sources(path.join(REPO_ROOT, d))).map((f) => readFileSync(f, 'utf8'));
  const unused = Object.keys(pkg.dependencies).filter((name) => !code.some((text) => text.includes(`'${name}'`) || text.includes(`'${name}/`)));
  expect(unused).toEqual([]);
});

test.each([
  ['AWS SDK clients and lib-dynamodb', /^@aws-sdk\/(client-|lib-)/],
  ['Powertools', /^@aws-lambda-powertools\//],
  ['Middy', /^@middy\//],
])('%s share one exact version', (_, family) => {
  const versions = Object.entries(pkg.dependencies).filter(([name]) => family.test(name)).map(([, v]) => v);
  expect(versions.length).toBeGreaterThan(0);
  expect(new Set(versions).size).toBe(1);
  for (const v of versions) expect(v).toMatch(/^\d+\.\d+\.\d+$/);
});
