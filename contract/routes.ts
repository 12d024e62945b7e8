/**
 * The API's routes, keyed the way API Gateway REST reports a match: `httpMethod` and the
 * `resource` template. The CDK API builds its resources and per-tenant ARNs from this list, the
 * function routes on it, and the local server matches raw paths against it.
 */
export type RouteName = 'getToken' | 'invalidateToken';

export interface Route {
  readonly name: RouteName;
  readonly method: 'GET' | 'POST';
  /** The resource template, with `{tenantId}` for the tenant's segment. */
  readonly resource: string;
}

export const ROUTES: readonly Route[] = [
  { name: 'getToken', method: 'GET', resource: '/tenants/{tenantId}/token' },
  { name: 'invalidateToken', method: 'POST', resource: '/tenants/{tenantId}/token/invalidate' },
];

export function route(name: RouteName): Route {
  return ROUTES.find((r) => r.name === name)!;
}

/** The concrete path of a route for one tenant (the tenant id must already be valid). */
export function routePath(r: Route, tenantId: string): string {
  return r.resource.replace('{tenantId}', tenantId);
}
