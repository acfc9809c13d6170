import type { SessionData } from 'express-session';

/**
 * How `MemoryStore` keeps one record: a single flat string, the most compact
 * form in V8 (one byte a character, no object per field, no rope of
 * concatenated parts). Most records carry the cookie the session manager
 * writes — `{ originalMaxAge, expires, httpOnly: true, path: '/' }` — which
 * folds into two numbers before the rest:
 *
 * ```
 * [<expires ms or null>,<originalMaxAge>,<the record but its cookie>]
 * ```
 *
 * A record with any other cookie (express-session's, a caller's own) keeps
 * it: `[<expires ms or null>,false,<the whole record>]`.
 */

/** The kept form of a record (a copy: nothing of the caller's is kept). */
export function pack(session: SessionData): string {
  const cookie = session.cookie as unknown as Record<string, unknown> | undefined;
  const expires = expiryOf(cookie);
  if (isUsualCookie(cookie, expires)) return flat(JSON.stringify([expires, cookie!.originalMaxAge, { ...session, cookie: undefined }]));
  return flat(JSON.stringify([expires, false, session]));
}

/**
 * `text` as one flat string. `JSON.stringify` builds its result in parts
 * joined by rope nodes (a 160-character record: three parts, two nodes, ~270
 * bytes). Reading a character flattens a rope in place, and the next young
 * collection drops its nodes, leaving one sequential string (~176 bytes).
 */
function flat(text: string): string {
  text.charCodeAt(0);
  return text;
}

/** The record back, a fresh object. */
export function unpack(kept: string): SessionData {
  const [expires, maxAge, body] = JSON.parse(kept) as [number | null, number | null | false, Record<string, unknown>];
  if (maxAge === false) return body as unknown as SessionData;
  const cookie = { originalMaxAge: maxAge, expires: expires === null ? null : new Date(expires).toISOString(), httpOnly: true, path: '/' };
  return { cookie, ...body } as unknown as SessionData;
}

/** The kept record with the cookie of `session` instead of its own (a touch). */
export function withCookie(kept: string, cookie: SessionData['cookie']): string {
  return pack({ ...unpack(kept), cookie } as SessionData);
}

/** When a kept record expires, ms (`Infinity`: never), read from its start without allocating. */
export function expiresAtOf(kept: string): number {
  if (kept.charCodeAt(1) === 110 /* n of null */) return Infinity;
  let ms = 0;
  for (let i = 1; i < kept.length; i++) {
    const code = kept.charCodeAt(i);
    if (code === 44 /* , */) return ms;
    ms = ms * 10 + (code - 48);
  }
  return Infinity;
}

/** A cookie's `expires` in ms; `null` when it has none. */
function expiryOf(cookie: Record<string, unknown> | undefined): number | null {
  const expires = cookie?.expires;
  if (!expires) return null;
  const ms = new Date(expires as string).getTime();
  return Number.isNaN(ms) ? null : ms;
}

/** Whether `cookie` is exactly what the manager writes for a record expiring at `expires`. */
function isUsualCookie(cookie: Record<string, unknown> | undefined, expires: number | null): boolean {
  if (!cookie || Object.keys(cookie).length !== 4 || cookie.httpOnly !== true || cookie.path !== '/') return false;
  const maxAge = cookie.originalMaxAge;
  if (maxAge !== null && (typeof maxAge !== 'number' || !Number.isFinite(maxAge))) return false;
  return 'originalMaxAge' in cookie && cookie.expires === (expires === null ? null : new Date(expires).toISOString());
}
