/**
 * The API's routes, keyed the way API Gateway REST reports a match: `httpMethod` and the
 * `resource` template. Routing on the template (not on `path`) keeps working behind a custom
 * domain's base-path mapping, where `path` carries the mapping's prefix.
 */
export type RouteName = 'getToken' | 'invalidateToken';

export interface Route {
  readonly name: RouteName;
  readonly method: 'GET' | 'POST';
  readonly resource: string;
}

export const ROUTES: readonly Route[] = [
  { name: 'getToken', method: 'GET', resource: '/tenants/{tenantId}/token' },
  { name: 'invalidateToken', method: 'POST', resource: '/tenants/{tenantId}/token/invalidate' },
];

/** What API Gateway does before it calls us: find the resource a raw path belongs to. */
export function matchResource(
  path: string,
): { resource: string; pathParameters: Record<string, string> } | undefined {
  const segments = path.split('/');
  for (const route of ROUTES) {
    const template = route.resource.split('/');
    if (template.length !== segments.length) continue;
    const pathParameters: Record<string, string> = {};
    const matches = template.every((part, i) => {
      const segment = segments[i]!;
      if (part.startsWith('{')) {
        if (segment === '') return false;
        try {
          pathParameters[part.slice(1, -1)] = decodeURIComponent(segment);
        } catch {
          pathParameters[part.slice(1, -1)] = segment;
        }
        return true;
      }
      return part === segment;
    });
    if (matches) return { resource: route.resource, pathParameters };
  }
  return undefined;
}
