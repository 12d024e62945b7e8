/** Reading a synthesized template the way a reviewer does: intrinsics as placeholders, policies as statements. */
import type { TemplateJson } from './synth';

/**
 * Renders a value with CloudFormation intrinsics as `${...}` placeholders, e.g.
 * `arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:ekuaibao/tenants/*`.
 */
export function render(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    if ('Ref' in o) return `\${${String(o.Ref)}}`;
    if ('Fn::GetAtt' in o) return `\${${(o['Fn::GetAtt'] as string[]).join('.')}}`;
    if ('Fn::Join' in o) {
      const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(separator);
    }
    if ('Fn::Sub' in o) return String(o['Fn::Sub']);
  }
  return JSON.stringify(value);
}

export interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Resource?: unknown;
  readonly NotResource?: unknown;
  readonly Principal?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

export interface FoundStatement {
  readonly logicalId: string;
  readonly type: string;
  /** Where in the resource the policy document sits, e.g. `Properties.KeyPolicy`. */
  readonly at: string;
  readonly statement: Statement;
}

/** Every statement of every policy document in the template: IAM, key, API, topic policies alike. */
export function allStatements(json: TemplateJson): FoundStatement[] {
  const found: FoundStatement[] = [];
  const visit = (logicalId: string, type: string, at: string, node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => visit(logicalId, type, `${at}[${i}]`, child));
    } else if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (Array.isArray(o.Statement)) {
        for (const statement of o.Statement as Statement[]) found.push({ logicalId, type, at, statement });
      }
      for (const [key, child] of Object.entries(o)) if (key !== 'Statement') visit(logicalId, type, `${at}.${key}`, child);
    }
  };
  for (const [logicalId, resource] of Object.entries(json.Resources)) visit(logicalId, resource.Type, 'Properties', resource.Properties);
  return found;
}

export function asList<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Statements of identity policies (what a principal of this stack may do). */
export function identityStatements(json: TemplateJson): FoundStatement[] {
  const identityTypes = new Set(['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy', 'AWS::IAM::Role']);
  return allStatements(json).filter(
    (s) => identityTypes.has(s.type) && !s.at.startsWith('Properties.AssumeRolePolicyDocument'),
  );
}

/** The one resource whose construct path ends with `suffix`. */
export function resourceAt(json: TemplateJson, suffix: string): { logicalId: string; resource: TemplateJson['Resources'][string] } {
  const matches = Object.entries(json.Resources).filter(([, r]) =>
    String((r.Metadata as Record<string, unknown> | undefined)?.['aws:cdk:path'] ?? '').endsWith(suffix),
  );
  if (matches.length !== 1) throw new Error(`expected one resource at ...${suffix}, found ${matches.length}`);
  const [logicalId, resource] = matches[0]!;
  return { logicalId, resource };
}

/**
 * Every identity statement that applies to a role: its inline policies, the IAM policies attached
 * to it, and the managed policies it lists or that list it.
 */
export function statementsOfRole(json: TemplateJson, roleId: string): FoundStatement[] {
  const managedArns = asList(json.Resources[roleId]!.Properties?.ManagedPolicyArns as unknown[]).map(render);
  return identityStatements(json).filter((s) => {
    const attachedTo = asList(json.Resources[s.logicalId]!.Properties?.Roles as unknown[]).map(render);
    switch (s.type) {
      case 'AWS::IAM::Role':
        return s.logicalId === roleId;
      case 'AWS::IAM::Policy':
        return attachedTo.includes(`\${${roleId}}`);
      case 'AWS::IAM::ManagedPolicy':
        return attachedTo.includes(`\${${roleId}}`) || managedArns.includes(`\${${s.logicalId}}`);
      default:
        return false;
    }
  });
}

/** The roles an identity statement applies to (logical ids): its own role, or those its policy is attached to. */
export function rolesOfStatement(json: TemplateJson, s: FoundStatement): string[] {
  if (s.type === 'AWS::IAM::Role') return [s.logicalId];
  const attached = asList(json.Resources[s.logicalId]!.Properties?.Roles as unknown[]).map(render).map((r) => r.replace(/^\$\{(.*)\}$/, '$1'));
  const listing = Object.entries(json.Resources)
    .filter(([, r]) => r.Type === 'AWS::IAM::Role' && asList(r.Properties?.ManagedPolicyArns as unknown[]).map(render).includes(`\${${s.logicalId}}`))
    .map(([id]) => id);
  return [...new Set([...attached, ...listing])].sort();
}

/** The statements of a role's trust policy (who may assume it). */
export function trustStatements(json: TemplateJson, roleId: string): Statement[] {
  const doc = json.Resources[roleId]!.Properties?.AssumeRolePolicyDocument as { Statement?: Statement[] } | undefined;
  return doc?.Statement ?? [];
}
