import type { StoredRecord } from './store-adapter';

/** What we keep beside the attributes in a store record. */
export interface SessionMeta {
  /** Format version. */
  v: 1;
  /** The app (web module) the session belongs to. */
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
}

/** A session as read from a store record. */
export interface LoadedRecord {
  meta: SessionMeta;
  attributes: Record<string, unknown>;
}

/**
 * Record layout, express-session-shaped so any store computes its own TTL:
 *
 * ```
 * { cookie: { originalMaxAge, expires, httpOnly, path },   // expires = idle deadline + grace
 *   esm: { v: 1, app, created, accessed, timeout?, subsessions?, principal? },
 *   attributes: { ... } }
 * ```
 *
 * A record written by express-session (no `esm`) is read as a live session of
 * the default app whose fields other than `cookie` are its attributes.
 */
export function readRecord(record: StoredRecord, app: string, now: number): LoadedRecord {
  const meta = (record as { esm?: SessionMeta }).esm;
  const attributes = (record as { attributes?: unknown }).attributes;
  if (meta && meta.v === 1 && typeof attributes === 'object' && attributes !== null) {
    return { meta, attributes: attributes as Record<string, unknown> };
  }
  const legacy: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(record as object)) if (name !== 'cookie') legacy[name] = value;
  return { meta: { v: 1, app, created: now, accessed: now }, attributes: legacy };
}

/** Builds the record to store; `storeExpires` null means no TTL of our own. */
export function buildRecord(
  meta: SessionMeta,
  attributes: Record<string, unknown>,
  storeExpires: number | null,
  now: number,
): StoredRecord {
  return {
    cookie: {
      originalMaxAge: storeExpires === null ? null : storeExpires - now,
      expires: storeExpires === null ? null : new Date(storeExpires).toISOString(),
      httpOnly: true,
      path: '/',
    },
    esm: meta,
    attributes,
  } as unknown as StoredRecord;
}

/** The record's own expiry (its `cookie.expires`) in ms, `null` when none. */
export function recordExpiry(record: StoredRecord): number | null {
  const expires = record.cookie?.expires;
  if (!expires) return null;
  const ms = new Date(expires).getTime();
  return Number.isNaN(ms) ? null : ms;
}
