import { App, type AppProps } from 'aws-cdk-lib';
import { addCompliancePacks } from './compliance';
import { readStackSettings } from './settings';
import { TokenVendingStack } from './token-vending-stack';

export interface TokenVendingApp {
  readonly app: App;
  readonly stack: TokenVendingStack;
}

/**
 * The app cdk.json runs, as a function so tests build exactly the same thing: settings from
 * context, one stack, cdk-nag on every synth.
 */
export function createTokenVendingApp(props: AppProps = {}): TokenVendingApp {
  const app = new App(props);
  const settings = readStackSettings(app.node);
  const stack = new TokenVendingStack(app, settings.stackName, {
    description: 'Ekuaibao Open API token vending (API Gateway, Lambda, DynamoDB)',
    tokenVending: settings.props,
  });
  addCompliancePacks(app);
  return { app, stack };
}
