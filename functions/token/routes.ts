/**
 * Routing helpers over the API's routes (contract/routes.ts, which the CDK API is built from):
 * what API Gateway does before it calls us, and where a raw path parameter sits in `path`.
 */
import { ROUTES } from '../../contract/routes';


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

/**
 * The raw (still percent-encoded) path segment where `resource` has the parameter `{name}`, or
 * undefined when `path` does not have the template's shape. API Gateway REST gives `path` as the
 * client sent it but `pathParameters` decoded; behind a custom domain's base-path mapping `path`
 * starts with the mapping's prefix, so the template is laid over the end of the path. One trailing
 * slash is tolerated.
 */
export function rawPathParameter(path: string | null | undefined, resource: string, name: string): string | undefined {
  if (typeof path !== 'string' || !path.startsWith('/')) return undefined;
  const template = resource.split('/');
  const segments = (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path).split('/');
  const offset = segments.length - template.length;
  if (offset < 0) return undefined;
  let raw: string | undefined;
  // template[0] is the empty string before the leading slash; it lines up with the prefix's last segment.
  for (let i = 1; i < template.length; i++) {
    const part = template[i]!;
    const segment = segments[offset + i]!;
    if (part === `{${name}}`) raw = segment;
    else if (!part.startsWith('{') && part !== segment) return undefined;
  }
  return raw;
}
