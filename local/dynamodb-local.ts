/**
 * AWS's DynamoDB Local (the jar shipped in the npm package `amplify-dynamodb-simulator`), started
 * in memory on a free loopback port, for the tests and the benchmark. It fails loudly when Java is
 * missing: nothing that needs it may silently skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ensureTokenTable, localDynamoDbConfig } from './token-table-setup';

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly process: ChildProcess;
  createTable(name: string): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startDynamoDbLocal(): Promise<DynamoDbLocal> {
  const require = createRequire(import.meta.url);
  const directory = join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
  const port = await freePort();
  const child = spawn(
    process.env.JAVA ?? 'java',
    [
      `-Djava.library.path=${join(directory, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(directory, 'DynamoDBLocal.jar'),
      '-inMemory',
      // One set of tables whatever the credentials, as in one AWS account: tenant sessions
      // (test/integration/tenant-sessions.test.ts) sign with their own keys.
      '-sharedDb',
      '-disableTelemetry',
      '-port',
      String(port),
    ],
    { cwd: directory, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new Error(`DynamoDB Local could not start (is Java installed?): ${error.message}`)));
    child.once('exit', (code) => reject(new Error(`DynamoDB Local exited with ${code}: ${output}`)));
  });
  exited.catch(() => {});
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  try {
    await Promise.race([waitUntilReady(endpoint), exited]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, process: child, stop, createTable: (name) => ensureTokenTable(endpoint, name) };
}

async function waitUntilReady(endpoint: string): Promise<void> {
  const client = new DynamoDBClient({ ...localDynamoDbConfig(endpoint), maxAttempts: 1 });
  const deadline = Date.now() + 60_000;
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({}));
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer within 60 s: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    client.destroy();
  }
}
