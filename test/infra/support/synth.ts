/**
 * Builds the app exactly as `cdk synth` does (cdk.json's feature flags, context keys, cdk-nag
 * packs) and hands back the template. Bundling is skipped unless asked for: template
 * assertions do not need the Lambda code, and esbuild takes seconds per function.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { REPO_ROOT } from '../../../lib/paths';
import { createTokenVendingApp } from '../../../lib/token-vending-app';
import type { TokenVendingStack } from '../../../lib/token-vending-stack';

export interface Synthesized {
  readonly stack: TokenVendingStack;
  readonly template: Template;
  readonly assembly: CloudAssembly;
  /** The raw template JSON, for walking every resource. */
  readonly json: TemplateJson;
}

export interface TemplateJson {
  readonly Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; [k: string]: unknown }>;
  readonly Outputs?: Record<string, { Value: unknown; Description?: string }>;
}

const outdirs: string[] = [];

/** A fresh cloud assembly directory, removed after the test file. */
export function tempOutdir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'token-vending-synth-'));
  outdirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The `context` block of cdk.json: feature flags (and any settings committed there). */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return cdkJson.context ?? {};
}

export interface SynthOptions {
  /** Bundle the functions (esbuild). */
  readonly bundle?: boolean;
  /**
   * Run Control Tower's proactive controls too, as `cdk synth` does. Off by default: they take
   * seconds per synth, and test/infra/control-tower.test.ts runs them on every configuration.
   */
  readonly controlTower?: boolean;
}

export function synthesize(context: Record<string, unknown> = {}, options: SynthOptions = {}): Synthesized {
  const outdir = tempOutdir();
  const { app, stack } = createTokenVendingApp({
    outdir,
    context: {
      ...cdkJsonContext(),
      // What the CDK CLI sets: lets a test find a resource by construct path and a function's
      // asset folder from the template.
      'aws:cdk:enable-path-metadata': true,
      'aws:cdk:enable-asset-metadata': true,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...context,
    },
  }, { controlTower: options.controlTower ?? false });
  const assembly = app.synth();
  const template = Template.fromStack(stack);
  return { stack, template, assembly, json: template.toJSON() as TemplateJson };
}

/** Logical ids of all resources of one type. */
export function logicalIdsOfType(json: TemplateJson, type: string): string[] {
  return Object.entries(json.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id]) => id);
}
