/**
 * The cold-start baseline: a function that builds the same AWS SDK clients as the token function
 * (DynamoDB with the document client, Secrets Manager) at import and returns a constant. Bundled
 * with the same esbuild options as the token function's asset.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

// Exported so that the bundler keeps them, as a real function keeps the clients it uses.
export const dynamoDb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
export const secretsManager = new SecretsManagerClient({});

const BODY = JSON.stringify({ ok: true });

export const handler = async () => ({
  statusCode: 200,
  headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
  body: BODY,
});
