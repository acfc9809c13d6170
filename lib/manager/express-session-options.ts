/**
 * Options pasted from an express-session setup, and what replaces each one
 * here (docs/architecture.md, "express-session compatibility"). An unknown
 * option is a `ConfigurationError`; for these its line says what to use.
 */
const NOT_NEEDED = 'not needed: sessions are created by their first write and written only when changed';

/** Top-level express-session options, by name. */
const MANAGER_HINTS: Readonly<Record<string, string>> = {
  name: "use cookie: { name } (this library's default is 'JSESSIONID'; keep 'connect.sid' to keep express-session's sessions)",
  resave: NOT_NEEDED,
  saveUninitialized: NOT_NEEDED,
  rolling: 'use cookie.maxAge (seconds): a persistent cookie is re-sent as the session is used, and the idle timeout (invalidationTimeout) decides expiry',
  unset: 'not needed: delete req.session.<name> removes an attribute, req.session.destroy() ends the session',
  proxy: "use cookie.secure: 'auto' with Express's `trust proxy` setting",
};

/** Options of express-session's `cookie`, by name. */
const COOKIE_HINTS: Readonly<Record<string, string>> = {
  expires: 'use cookie.maxAge (whole seconds); a session may set its own with req.session.cookie.maxAge (ms)',
  originalMaxAge: 'use cookie.maxAge (whole seconds)',
};

/** The line for an express-session option `key` (under `prefix`), or `undefined` when `key` is not one. */
export function expressSessionHint(prefix: string, key: string): string | undefined {
  const hints = prefix === '' ? MANAGER_HINTS : prefix === 'cookie.' ? COOKIE_HINTS : undefined;
  const hint = hints && Object.hasOwn(hints, key) ? hints[key] : undefined;
  return hint === undefined ? undefined : `${prefix}${key} is an express-session option: ${hint}`;
}

/** Browsers keep a cookie at most 400 days (RFC 6265bis); a longer `cookie.maxAge` was probably given in ms. */
export const MAX_COOKIE_AGE_SECONDS = 400 * 24 * 3600;
