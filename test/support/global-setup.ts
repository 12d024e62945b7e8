/** Starts one DynamoDB Local for the whole run; test files each use tables of their own. */
import { startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local';

declare global {
  var __dynamoDbLocal: DynamoDbLocal | undefined;
}

export default async function globalSetup(): Promise<void> {
  const engine = await startDynamoDbLocal();
  globalThis.__dynamoDbLocal = engine;
  process.env.DYNAMODB_LOCAL_ENDPOINT = engine.endpoint;
}
