/**
 * A tiny stand-in for AWS Secrets Manager on loopback: answers `GetSecretValue` in the AWS JSON 1.1
 * protocol the SDK speaks, from a map of secret name → SecretString, and counts the calls. Any
 * other operation, or a missing secret, gets the service's own error shapes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback-server';

/**
 * The `CreatedDate` of every secret the stub answers (epoch seconds, as AWS JSON 1.1 sends it). The
 * SDK turns it into a Date, whose ms value is the credentials' rank: a token seeded for the stub's
 * tenants must carry `STUB_SECRET_RANK`, or the service supersedes it as issued for an older secret.
 */
export const STUB_SECRET_CREATED_DATE_SECONDS = 1_700_000_000;
export const STUB_SECRET_RANK = STUB_SECRET_CREATED_DATE_SECONDS * 1000;

export interface SecretsStub {
  readonly endpoint: string;
  /** GetSecretValue calls answered, found or not. */
  calls(): number;
  resetCalls(): void;
  close(): Promise<void>;
}

export async function startSecretsStub(secrets: ReadonlyMap<string, string>): Promise<SecretsStub> {
  let calls = 0;

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target !== 'secretsmanager.GetSecretValue') {
      return send(res, 400, { __type: 'InvalidRequestException', message: `unsupported operation ${target}` });
    }
    calls++;
    let secretId = '';
    try {
      secretId = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { SecretId?: unknown }).SecretId ?? '');
    } catch {
      return send(res, 400, { __type: 'InvalidRequestException', message: 'body is not JSON' });
    }
    const value = secrets.get(secretId);
    if (value === undefined) {
      return send(res, 400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
    }
    send(res, 200, {
      ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${secretId}-AbCdEf`,
      Name: secretId,
      VersionId: '00000000-0000-4000-8000-000000000000',
      SecretString: value,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: STUB_SECRET_CREATED_DATE_SECONDS,
    });
  }

  const server = await listenOnLoopback((req, res) => void answer(req, res));
  return {
    endpoint: server.endpoint,
    calls: () => calls,
    resetCalls: () => void (calls = 0),
    close: server.close,
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string> = {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': String(Buffer.byteLength(text)),
    'x-amzn-requestid': '00000000-0000-4000-8000-000000000001',
  };
  if (status !== 200) headers['x-amzn-errortype'] = String((body as { __type: string }).__type);
  res.writeHead(status, headers);
  res.end(text);
}
