import { App, type AppProps } from 'aws-cdk-lib';
import { addCompliancePacks, type CompliancePackOptions } from './compliance';
import { readStackSettings } from './settings';
import { TokenVendingStack } from './token-vending-stack';

export interface TokenVendingApp {
  readonly app: App;
  readonly stack: TokenVendingStack;
}

/**
 * The app cdk.json runs, as a function so tests build exactly the same thing: settings from
 * context, one stack, cdk-nag and Control Tower's proactive controls on every synth.
 */
export function createTokenVendingApp(props: AppProps = {}, options: CompliancePackOptions = {}): TokenVendingApp {
  const app = new App(props);
  const settings = readStackSettings(app.node);
  const stack = new TokenVendingStack(app, settings.stackName, {
    description: 'Ekuaibao Open API token vending (API Gateway, Lambda, DynamoDB)',
    // `cdk deploy` knows the target account and region; the template then names them where a
    // guardrail needs a literal (lib/token-api.ts). Offline synths stay environment-agnostic.
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    tokenVending: settings.props,
    ...(settings.network && { network: settings.network }),
  });
  addCompliancePacks(app, options);
  return { app, stack };
}
