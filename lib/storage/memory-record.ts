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
 * and the manager's own records (`{ cookie, esm, attributes }`, in that
 * order) also lose the names of their two other fields, 21 characters:
 * `[<expires ms or null>,<originalMaxAge>,<esm>,<attributes>]`.
 *
 * A record with any other cookie (express-session's, a caller's own) keeps
 * it: `[<expires ms or null>,false,<the whole record>]`.
 */

/** The kept form of a record (a copy: nothing of the caller's is kept). */
export function pack(session: SessionData): string {
  const cookie = session.cookie as unknown as Record<string, unknown> | undefined;
  const expires = expiryOf(cookie);
  if (!isUsualCookie(cookie, expires)) return flat(JSON.stringify([expires, false, session]));
  const maxAge = cookie!.originalMaxAge;
  if (isManagerRecord(session)) return flat(JSON.stringify([expires, maxAge, session.esm, session.attributes]));
  return flat(JSON.stringify([expires, maxAge, { ...session, cookie: undefined }]));
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
  const [expires, maxAge, body, attributes] = JSON.parse(kept) as [number | null, number | null | false, Record<string, unknown>, unknown?];
  if (maxAge === false) return body as unknown as SessionData;
  const cookie = { originalMaxAge: maxAge, expires: expires === null ? null : new Date(expires).toISOString(), httpOnly: true, path: '/' };
  if (attributes !== undefined) return { cookie, esm: body, attributes } as unknown as SessionData;
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

/** Whether `session` is exactly `{ cookie, esm, attributes }`, both objects, in that order (what the manager writes). */
function isManagerRecord(session: SessionData): session is SessionData & { esm: object; attributes: object } {
  const keys = Object.keys(session);
  if (keys.length !== 3 || keys[0] !== 'cookie' || keys[1] !== 'esm' || keys[2] !== 'attributes') return false;
  const { esm, attributes } = session as unknown as Record<string, unknown>;
  return typeof esm === 'object' && esm !== null && typeof attributes === 'object' && attributes !== null;
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

/**
 * Whether `kept` has the shape `pack` gives (`[<expires or null>,...]`):
 * enough for `expiresAtOf` to read it, checked before a string read back
 * from a snapshot is kept.
 */
export function isKept(kept: unknown): kept is string {
  if (typeof kept !== 'string' || kept.length < 4 || kept.charCodeAt(0) !== 91 /* [ */ || kept.charCodeAt(kept.length - 1) !== 93 /* ] */) return false;
  const comma = kept.indexOf(',');
  if (comma < 2) return false;
  const head = kept.slice(1, comma);
  return head === 'null' || /^[0-9]{1,16}$/.test(head);
}

/** The kept record expiring at `ms` instead (its cookie's `expires` moves with it). */
export function withExpiresAt(kept: string, ms: number): string {
  const comma = kept.indexOf(',');
  if (!kept.startsWith('false', comma + 1)) return `[${Math.round(ms)}${kept.slice(comma)}`;
  const session = unpack(kept) as unknown as { cookie?: Record<string, unknown> };
  return pack({ ...session, cookie: { ...session.cookie, expires: new Date(ms).toISOString() } } as unknown as SessionData);
}
