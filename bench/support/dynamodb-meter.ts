/**
 * A metering proxy in front of DynamoDB Local: forwards every request unchanged except that it asks
 * for `ReturnConsumedCapacity: TOTAL`, and adds up calls and capacity units per operation, the way
 * the on-demand bill counts them. DynamoDB Local computes the units from the real item sizes
 * (0.5 RRU for an eventually consistent read up to 4 KB, 1 for a strongly consistent one, 1 WRU per
 * KB written). A conditional write that fails returns no capacity; DynamoDB still bills it, by item
 * size, so it is counted as 1 WRU (every item here is well under 1 KB; checked by `assertSmall`).
 */
import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback-server';

export interface OperationMeter {
  calls: number;
  consistentReads: number;
  failedConditions: number;
  capacityUnits: number;
}

export interface DynamoDbMeter {
  readonly endpoint: string;
  snapshot(): Record<string, OperationMeter>;
  reset(): void;
  close(): Promise<void>;
}

const READ_OPERATIONS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

export function isReadOperation(operation: string): boolean {
  return READ_OPERATIONS.has(operation);
}

export async function startDynamoDbMeter(target: string): Promise<DynamoDbMeter> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let meters: Record<string, OperationMeter> = {};
  const meterOf = (operation: string) => (meters[operation] ??= { calls: 0, consistentReads: 0, failedConditions: 0, capacityUnits: 0 });

  async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const operation = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? 'unknown';
    let body = Buffer.concat(chunks);
    let consistent = false;
    try {
      const json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      consistent = json.ConsistentRead === true;
      json.ReturnConsumedCapacity = 'TOTAL';
      body = Buffer.from(JSON.stringify(json));
    } catch {
      // Not JSON: pass it through untouched.
    }
    const meter = meterOf(operation);
    meter.calls++;
    if (consistent) meter.consistentReads++;
    // DynamoDB Local does not check signatures, so the rewritten body is accepted as is.
    const headers = { ...req.headers, host: upstream.host, 'content-length': String(body.length) };
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
      async (answer) => {
        const parts: Buffer[] = [];
        for await (const chunk of answer) parts.push(chunk as Buffer);
        const text = Buffer.concat(parts);
        try {
          const json = JSON.parse(text.toString('utf8')) as { ConsumedCapacity?: { CapacityUnits?: number }; __type?: string };
          const units = json.ConsumedCapacity?.CapacityUnits;
          if (json.__type?.endsWith('ConditionalCheckFailedException')) {
            meter.failedConditions++;
            meter.capacityUnits += typeof units === 'number' ? units : 1;
          } else if (typeof units === 'number') {
            meter.capacityUnits += units;
          }
        } catch {
          // Not JSON: nothing to meter.
        }
        const { 'content-length': _length, 'transfer-encoding': _encoding, ...rest } = answer.headers;
        res.writeHead(answer.statusCode ?? 500, { ...rest, 'content-length': String(text.length) });
        res.end(text);
      },
    );
    out.on('error', (error) => {
      res.writeHead(502);
      res.end(String(error));
    });
    out.end(body);
  }

  const server = await listenOnLoopback((req, res) => void forward(req, res));
  return {
    endpoint: server.endpoint,
    snapshot: () => structuredClone(meters),
    reset: () => void (meters = {}),
    close: async () => {
      await server.close();
      agent.destroy();
    },
  };
}
