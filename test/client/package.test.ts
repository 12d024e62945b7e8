import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const clientDir = join(root, 'client');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const manifest = JSON.parse(readFileSync(join(clientDir, 'package.json'), 'utf8')) as {
  name: string;
  dependencies: Record<string, string>;
};

/**
 * The package as a consumer installs it: built from client/tsconfig.build.json into a temporary
 * node_modules (never into client/dist), with its dependencies linked from this repository.
 */
describe('the published package', () => {
  let tmp: string;
  let installed: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'token-vending-client-'));
    installed = join(tmp, 'node_modules', ...manifest.name.split('/'));
    execFileSync(process.execPath, [tsc, '-p', join(clientDir, 'tsconfig.build.json'), '--outDir', join(installed, 'dist')], { cwd: root });
    for (const file of ['package.json', 'README.md']) cpSync(join(clientDir, file), join(installed, file));
    for (const dependency of Object.keys(manifest.dependencies)) {
      const source = [join(clientDir, 'node_modules', dependency), join(root, 'node_modules', dependency)].find((dir) => existsSync(dir))!;
      mkdirSync(dirname(join(tmp, 'node_modules', dependency)), { recursive: true });
      symlinkSync(source, join(tmp, 'node_modules', dependency), 'dir');
    }
  });

  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('loads under plain Node through its exports map and exposes the public API', () => {
    const script = `
      import * as client from '${manifest.name}';
      const vending = new client.TokenVendingClient({
        apiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com/v1',
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
        fetch: async () => new Response('{"error":{"code":"TENANT_NOT_FOUND","message":"m","requestId":"r"}}', { status: 404 }),
      });
      const error = await vending.getToken('acme').catch((e) => e);
      console.log(JSON.stringify({
        exports: Object.keys(client).sort(),
        error: { isTyped: error instanceof client.TokenVendingError, code: error.code, requestId: error.requestId },
      }));
    `;
    writeFileSync(join(tmp, 'consumer.mjs'), script);
    const output = JSON.parse(execFileSync(process.execPath, [join(tmp, 'consumer.mjs')], { cwd: tmp, encoding: 'utf8' }));
    expect(output).toEqual({
      exports: ['DEFAULT_EKUAIBAO_BASE_URL', 'TENANT_ID_PATTERN', 'TokenVendingClient', 'TokenVendingError'],
      error: { isTyped: true, code: 'TENANT_NOT_FOUND', requestId: 'r' },
    });
  });

  it('ships declarations that a NodeNext TypeScript consumer compiles against', () => {
    expect(existsSync(join(installed, 'dist', 'index.d.ts'))).toBe(true);
    writeFileSync(
      join(tmp, 'consumer.ts'),
      `import { TokenVendingClient, TokenVendingError, type VendedToken } from '${manifest.name}';
       const vending = new TokenVendingClient({ apiUrl: 'http://127.0.0.1:3000', expirySkewMs: 1000 });
       export async function use(): Promise<number> {
         const token: VendedToken = await vending.getToken('demo');
         const response: Response = await vending.ekuaibaoFetch('demo', '/api/openapi/v1/staffs');
         try { await vending.reportRejected('demo', token.accessToken); } catch (e) { if (e instanceof TokenVendingError) return e.status ?? 0; }
         return response.status + token.expireTime;
       }
       // @ts-expect-error apiUrl is required
       new TokenVendingClient({});
      `,
    );
    writeFileSync(
      join(tmp, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2023'], strict: true, noEmit: true, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] },
        files: ['consumer.ts'],
      }),
    );
    execFileSync(process.execPath, [tsc, '-p', join(tmp, 'tsconfig.json')], { cwd: tmp, encoding: 'utf8' });
  });

  it('packs dist, the README and package.json only', () => {
    const [pack] = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: installed, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'silent' } }),
    ) as [{ files: { path: string }[] }];
    const files = pack.files.map((f) => f.path).sort();
    expect(files).toEqual(expect.arrayContaining(['README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts']));
    expect(files.filter((f) => !f.startsWith('dist/') && f !== 'README.md' && f !== 'package.json')).toEqual([]);
    expect(files.filter((f) => f.startsWith('dist/') && !/\.(js|d\.ts)$/.test(f))).toEqual([]);
  });
});
