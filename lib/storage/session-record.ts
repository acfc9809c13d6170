import type { StoredRecord } from './store-adapter';

/** What we keep beside the attributes in a store record, as the library works with it. */
export interface SessionMeta {
  /** The app (web module) the session belongs to (from its key). */
  app: string;
  /** Creation time, ms since epoch. */
  created: number;
  /** Start of the last request that wrote the record, ms (a fallback for the coordinator's time). */
  accessed: number;
  /** Timeout set on the session itself in seconds (`-1` never); absent: the app's (a subsession: the parent's). */
  timeout?: number;
  /** Names of the session's subsessions (each stored under `<key>#<name>`). */
  subsessions?: string[];
  /** The user the session is bound to (the `principal` option; top-level sessions). */
  principal?: string;
  /** The session's own cookie lifetime in ms ("remember me"); `-1` a browser-session cookie; absent: the manager's. */
  cookieMaxAge?: number;
  /** When the session's cookie was last sent with a lifetime (ms): it is re-sent after a tenth of it. */
  cookieSentAt?: number;
}

/** A session as read from a store record. */
export interface LoadedRecord {
  meta: SessionMeta;
  attributes: Record<string, unknown>;
}

/** `esm` as version 2 writes it: short names (every byte is kept once per session). */
interface StoredMeta {
  v: 2;
  /** created */
  c: number;
  /** accessed */
  a: number;
  /** timeout */
  t?: number;
  /** subsessions */
  s?: string[];
  /** principal */
  p?: string;
  /** cookieMaxAge */
  m?: number;
  /** cookieSentAt */
  k?: number;
}

/** `esm` as version 1 wrote it (still read): the meta under its own names. */
interface StoredMetaV1 extends SessionMeta {
  v: 1;
}

/**
 * Record layout, express-session-shaped so any store computes its own TTL
 * (docs/architecture.md, "Records"):
 *
 * ```
 * { cookie: { originalMaxAge, expires, httpOnly, path },   // expires = idle deadline + grace
 *   esm: { v: 2, c: created, a: accessed, t?: timeout, s?: subsessions, p?: principal,
 *          m?: cookie max age (ms), k?: cookie sent at (ms) },
 *   attributes: { ... } }
 * ```
 *
 * The app is the key's (`storage/session-key.ts`). A version 1 record (long
 * names, and the app) is read as well. A record written by express-session
 * (no `esm`) is read as a live session of the default app whose fields other
 * than `cookie` are its attributes.
 */
export function readRecord(record: StoredRecord, app: string, now: number): LoadedRecord {
  const stored = (record as { esm?: StoredMeta | StoredMetaV1 }).esm;
  const attributes = (record as { attributes?: unknown }).attributes;
  if (stored && typeof attributes === 'object' && attributes !== null) {
    const found = attributes as Record<string, unknown>;
    if (stored.v === 2) {
      const meta: SessionMeta = { app, created: stored.c, accessed: stored.a };
      if (stored.t !== undefined) meta.timeout = stored.t;
      if (stored.s !== undefined) meta.subsessions = stored.s;
      if (stored.p !== undefined) meta.principal = stored.p;
      if (stored.m !== undefined) meta.cookieMaxAge = stored.m;
      if (stored.k !== undefined) meta.cookieSentAt = stored.k;
      return { meta, attributes: found };
    }
    if (stored.v === 1) return { meta: { ...stored, app }, attributes: found };
  }
  const legacy: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(record as object)) if (name !== 'cookie') legacy[name] = value;
  return { meta: { app, created: now, accessed: now }, attributes: legacy };
}

/** Builds the record to store; `storeExpires` null means no TTL of our own. */
export function buildRecord(
  meta: SessionMeta,
  attributes: Record<string, unknown>,
  storeExpires: number | null,
  now: number,
): StoredRecord {
  const esm: StoredMeta = { v: 2, c: meta.created, a: meta.accessed };
  if (meta.timeout !== undefined) esm.t = meta.timeout;
  if (meta.subsessions !== undefined) esm.s = meta.subsessions;
  if (meta.principal !== undefined) esm.p = meta.principal;
  if (meta.cookieMaxAge !== undefined) esm.m = meta.cookieMaxAge;
  if (meta.cookieSentAt !== undefined) esm.k = meta.cookieSentAt;
  const cookie = {
    originalMaxAge: storeExpires === null ? null : storeExpires - now,
    expires: storeExpires === null ? null : new Date(storeExpires).toISOString(),
    httpOnly: true,
    path: '/',
  };
  // express-session's Cookie computes `maxAge` and leaves it out of its JSON; stores that set
  // their TTL from it (memorystore, better-sqlite3-session-store) read it from the object.
  Object.defineProperty(cookie, 'maxAge', { value: cookie.originalMaxAge, enumerable: false });
  return { cookie, esm, attributes } as unknown as StoredRecord;
}

/** The record's own expiry (its `cookie.expires`) in ms, `null` when none. */
export function recordExpiry(record: StoredRecord): number | null {
  const expires = record.cookie?.expires;
  if (!expires) return null;
  const ms = new Date(expires).getTime();
  return Number.isNaN(ms) ? null : ms;
}
