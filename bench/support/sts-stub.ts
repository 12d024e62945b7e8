/**
 * A stand-in for AWS STS over HTTP, speaking its Query protocol (form-encoded `Action=AssumeRole`,
 * XML answers), as the SDK's STS client sends and reads it. Each session it issues has an access
 * key id that names the tenant of its session tag, so a test can tell from any later AWS call
 * which tenant's session made it. Obviously fake credentials only.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AssumeRoleRecord {
  readonly roleArn: string;
  readonly sessionName: string;
  readonly durationSeconds: number;
  readonly tags: Record<string, string>;
}

export interface StsStub {
  readonly endpoint: string;
  /** Every AssumeRole asked, in order. */
  readonly calls: AssumeRoleRecord[];
  /** Answer every AssumeRole with this error (an STS error code) until set back to undefined. */
  failWith(code: 'AccessDenied' | 'Throttling' | 'InternalFailure' | undefined): void;
  close(): Promise<void>;
}

/** The access key id of a session issued for `tenantId` (16-128 characters, like STS's). */
export function stubAccessKeyId(tenantId: string): string {
  return `ASIASTUB${Buffer.from(tenantId).toString('hex').toUpperCase()}`.slice(0, 128);
}

/** The tenant a stub session was issued for, from its access key id; undefined for any other key. */
export function tenantOfAccessKeyId(accessKeyId: string): string | undefined {
  if (!accessKeyId.startsWith('ASIASTUB')) return undefined;
  return Buffer.from(accessKeyId.slice('ASIASTUB'.length), 'hex').toString('utf8');
}

const STATUS_OF: Record<string, number> = { AccessDenied: 403, Throttling: 400, InternalFailure: 500 };

export async function startStsStub(options: { sessionSeconds?: number } = {}): Promise<StsStub> {
  const calls: AssumeRoleRecord[] = [];
  let failure: string | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const requestId = randomUUID();
      res.setHeader('content-type', 'text/xml');
      if (form.get('Action') !== 'AssumeRole') {
        res.statusCode = 400;
        res.end(errorXml('InvalidAction', 'only AssumeRole', requestId));
        return;
      }
      const tags: Record<string, string> = {};
      for (let i = 1; form.has(`Tags.member.${i}.Key`); i++) tags[form.get(`Tags.member.${i}.Key`)!] = form.get(`Tags.member.${i}.Value`) ?? '';
      const record = {
        roleArn: form.get('RoleArn') ?? '',
        sessionName: form.get('RoleSessionName') ?? '',
        durationSeconds: Number(form.get('DurationSeconds') ?? 3600),
        tags,
      };
      calls.push(record);
      if (failure !== undefined) {
        res.statusCode = STATUS_OF[failure] ?? 400;
        res.end(errorXml(failure, 'refused by the stand-in', requestId));
        return;
      }
      const tenant = tags.tenantId ?? 'untagged';
      const expiration = new Date(Date.now() + (options.sessionSeconds ?? record.durationSeconds) * 1000).toISOString();
      res.end(
        `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>` +
          `<Credentials><AccessKeyId>${stubAccessKeyId(tenant)}</AccessKeyId><SecretAccessKey>stub-secret-not-real</SecretAccessKey>` +
          `<SessionToken>stub-session-${tenant}</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
          `<AssumedRoleUser><AssumedRoleId>AROASTUB:${record.sessionName}</AssumedRoleId>` +
          `<Arn>arn:aws:sts::111122223333:assumed-role/TenantAccess/${record.sessionName}</Arn></AssumedRoleUser>` +
          `<PackedPolicySize>1</PackedPolicySize></AssumeRoleResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    failWith: (code) => {
      failure = code;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function errorXml(code: string, message: string, requestId: string): string {
  return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}
