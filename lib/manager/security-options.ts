import type { SessionManagerOptions } from './options';
import { isPlainObject } from './option-validators';

/**
 * The checks of the security options that span several options (each
 * option alone is checked by the schemas of `option-resolution.ts`).
 */

/**
 * Cookie name prefixes the browser enforces (RFC 6265bis): a `__Host-`
 * cookie must be Secure, have path `/` and no domain; a `__Secure-` one
 * must be Secure. A cookie breaking them is dropped silently, so it is a
 * `ConfigurationError` here (docs/security.md, "Cookies").
 */
export function cookiePrefixViolations(cookie: unknown): string[] {
  if (!isPlainObject(cookie) || typeof cookie.name !== 'string') return [];
  const { name, secure, path, domain } = cookie;
  const violations: string[] = [];
  const isSecure = secure === true || secure === 'auto';
  if (name.startsWith('__Host-')) {
    if (!isSecure) violations.push("cookie.name __Host-… demands cookie.secure (true or 'auto')");
    if (path !== undefined && path !== null && path !== '/') violations.push("cookie.name __Host-… demands cookie.path '/'");
    if (domain !== undefined && domain !== null) violations.push('cookie.name __Host-… demands no cookie.domain');
  } else if (name.startsWith('__Secure-') && !isSecure) {
    violations.push("cookie.name __Secure-… demands cookie.secure (true or 'auto')");
  }
  return violations;
}

/** The caps that need another option: `maxSessionsPerPrincipal` needs `principal`, `onMaxSessions` that cap. */
export function capViolations(options: SessionManagerOptions): string[] {
  const violations: string[] = [];
  const perPrincipal = options.maxSessionsPerPrincipal !== undefined && options.maxSessionsPerPrincipal !== null;
  if (perPrincipal && !options.principal) {
    violations.push('maxSessionsPerPrincipal needs the principal option (sessions are counted by user)');
  }
  if (options.onMaxSessions !== undefined && options.onMaxSessions !== null && !perPrincipal) {
    violations.push('onMaxSessions needs maxSessionsPerPrincipal');
  }
  return violations;
}
