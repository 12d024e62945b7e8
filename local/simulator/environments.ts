/**
 * Where each corporation's Open API lives: its address prefix ("environment", docs §3 and §6).
 * The docs say the prefix changes with platform upgrades and that a call at a prefix that
 * does not match the enterprise's environment gets 403; this is the one place that knows
 * which prefix serves which corporation.
 *
 * Prefixes are kept without a trailing slash, as `Simulator.baseUrl` is; the location lookup
 * adds the slash the docs show.
 */
export class Environments {
  /** Every corporation a credential names, with its explicit prefix (undefined: our root). */
  private readonly prefixes = new Map<string, string | undefined>();

  /** @param ownBaseUrl this simulator's base URL, known only once it listens. */
  constructor(private readonly ownBaseUrl: () => string) {}

  /** A credential's corporation becomes known; a given prefix replaces the current one. */
  register(corporationId: string, baseUrl: string | undefined): void {
    if (baseUrl !== undefined || !this.prefixes.has(corporationId)) this.prefixes.set(corporationId, baseUrl);
  }

  isKnown(corporationId: string): boolean {
    return this.prefixes.has(corporationId);
  }

  /** @returns false for a corporation no credential names. */
  move(corporationId: string, baseUrl: string): boolean {
    if (!this.prefixes.has(corporationId)) return false;
    this.prefixes.set(corporationId, baseUrl);
    return true;
  }

  /** The location lookup's answer: the prefix with a trailing slash, or undefined if unknown. */
  locationOf(corporationId: string): string | undefined {
    if (!this.prefixes.has(corporationId)) return undefined;
    return `${this.prefixes.get(corporationId) ?? this.ownBaseUrl()}/`;
  }

  /** Every known corporation's location answer, for the control API. */
  snapshot(): Record<string, string> {
    return Object.fromEntries([...this.prefixes.keys()].map((id) => [id, this.locationOf(id)!]));
  }

  /**
   * Whether a call that arrived under `pathPrefix` of this server ('' = the root) may act for
   * `corporationId`. Only the path is compared for prefixes on this server, so a client that
   * reaches it as `localhost` rather than `127.0.0.1` is not refused for that.
   */
  serves(corporationId: string, pathPrefix: string): boolean {
    const prefix = this.prefixes.get(corporationId);
    if (prefix === undefined) return pathPrefix === '';
    return this.pathHere(prefix) === pathPrefix;
  }

  /**
   * Splits a request path into a prefix some corporation lives under on this server and the
   * rest. The root is always served; other paths only while a corporation's prefix names them,
   * so an arbitrary `/x/api/...` stays a 404.
   */
  split(pathname: string): Array<{ pathPrefix: string; rest: string }> {
    const found = [{ pathPrefix: '', rest: pathname }];
    for (const prefix of new Set(this.prefixes.values())) {
      const path = prefix === undefined ? undefined : this.pathHere(prefix);
      if (path && pathname.startsWith(`${path}/`)) found.push({ pathPrefix: path, rest: pathname.slice(path.length) });
    }
    return found;
  }

  /** The path part of a prefix on this server ('' = root), or undefined for another host. */
  private pathHere(prefix: string): string | undefined {
    const own = new URL(this.ownBaseUrl());
    const url = new URL(prefix);
    return url.origin === own.origin ? url.pathname.replace(/\/+$/, '') : undefined;
  }
}
