/**
 * Promise face over callback express-session stores, for tests, plus the
 * shape of the records express-session writes. Every call is bounded so a
 * store that never calls back fails the test with a message instead of a
 * jest timeout.
 */
import type { SessionData, Store } from 'express-session';

/** The cookie part of a record, as express-session serialises its `Cookie`. */
export interface RecordCookie {
  originalMaxAge: number | null;
  /** ISO string, or `null` for a browser-session cookie. */
  expires: string | null;
  httpOnly: boolean;
  path: string;
}

/** A stored session record: `{ cookie, ...data }`, all JSON. */
export interface StoreRecord {
  cookie: RecordCookie;
  [name: string]: unknown;
}

/** The optional methods of the express-session store contract. */
export type OptionalStoreMethod = 'all' | 'length' | 'clear';

/** Promise versions of a store's methods; optional ones are absent when the store lacks them. */
export interface PromiseStore {
  get(sid: string): Promise<StoreRecord | null | undefined>;
  set(sid: string, record: StoreRecord): Promise<void>;
  destroy(sid: string): Promise<void>;
  touch?(sid: string, record: StoreRecord): Promise<void>;
  /** `all()` normalised to records keyed by id (stores answer an array or an object). */
  all?(): Promise<Record<string, StoreRecord>>;
  length?(): Promise<number>;
  clear?(): Promise<void>;
  /** Which of `all`, `length`, `clear` the store has. */
  optionalMethods: OptionalStoreMethod[];
}

/** How long a single store call may take. */
const CALL_TIMEOUT_MS = 5000;

/** A record like express-session writes: `cookie` with an ISO `expires` at `expiresAt` (ms), plus `data`. */
export function makeRecord(expiresAt: number, now: number, data: Record<string, unknown> = {}): StoreRecord {
  const originalMaxAge = expiresAt - now;
  const cookie = { originalMaxAge, expires: new Date(expiresAt).toISOString(), httpOnly: true, path: '/' };
  // As express-session's Cookie and the library's records: `maxAge` readable, not serialised.
  Object.defineProperty(cookie, 'maxAge', { value: originalMaxAge, enumerable: false });
  return { cookie, ...data };
}

/** Wraps `store` in promises. */
export function promisifyStore(store: Store): PromiseStore {
  const result: PromiseStore = {
    get: (sid) => call<SessionData | null | undefined>('get', (cb) => store.get(sid, cb)).then(asRecord),
    set: (sid, record) => call('set', (cb) => store.set(sid, asSessionData(record), cb)).then(nothing),
    destroy: (sid) => call('destroy', (cb) => store.destroy(sid, cb)).then(nothing),
    optionalMethods: [],
  };
  const { touch, all, length, clear } = store;
  if (typeof touch === 'function') {
    result.touch = (sid, record) =>
      call('touch', (cb) => touch.call(store, sid, asSessionData(record), cb as () => void)).then(nothing);
  }
  if (typeof all === 'function') {
    result.optionalMethods.push('all');
    result.all = () => call<AllResult>('all', (cb) => all.call(store, cb)).then(byId);
  }
  if (typeof length === 'function') {
    result.optionalMethods.push('length');
    result.length = () => call<number>('length', (cb) => length.call(store, cb)).then((n) => n ?? 0);
  }
  if (typeof clear === 'function') {
    result.optionalMethods.push('clear');
    result.clear = () => call('clear', (cb) => clear.call(store, cb)).then(nothing);
  }
  return result;
}

/** What a store's `all` may answer. */
type AllResult = SessionData[] | Record<string, SessionData> | null | undefined;

/** A node-style callback. */
type Callback<T> = (err?: unknown, value?: T) => void;

/** Runs a callback-style store call as a promise, bounded by {@link CALL_TIMEOUT_MS}. */
function call<T = unknown>(operation: string, start: (cb: Callback<T>) => unknown): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`store.${operation}() did not call back within ${CALL_TIMEOUT_MS} ms`)),
      CALL_TIMEOUT_MS,
    );
    const done: Callback<T> = (err, value) => {
      clearTimeout(timer);
      // An error of another realm (Node's own, under Jest) is an object but no `instanceof Error`: kept as it is.
      if (err) reject(typeof err === 'object' ? err : new Error(String(err)));
      else resolve(value);
    };
    try {
      // Some stores (connect-redis) also return a promise; the callback is what counts.
      start(done);
    } catch (err) {
      done(err);
    }
  });
}

/** `all()`'s answer keyed by id: objects as they are, arrays (connect-redis) by their `id` field, rows by `sid`. */
function byId(result: AllResult): Record<string, StoreRecord> {
  if (!result) return {};
  if (!Array.isArray(result)) return result as unknown as Record<string, StoreRecord>;
  const records: Record<string, StoreRecord> = {};
  for (const entry of result as unknown as Array<StoreRecord & { id?: unknown; sid?: unknown; sess?: unknown }>) {
    // better-sqlite3-session-store answers its table's rows: { sid, sess (the record's JSON), expire }.
    if (typeof entry.sid === 'string' && typeof entry.sess === 'string') {
      records[entry.sid] = JSON.parse(entry.sess) as StoreRecord;
      continue;
    }
    const { id, ...record } = entry;
    if (typeof id !== 'string') throw new Error('store.all() answered an array whose entries have no string id');
    records[id] = record as StoreRecord;
  }
  return records;
}

/** Stores deal in `SessionData`; what they hold is plain JSON like {@link StoreRecord}. */
function asSessionData(record: StoreRecord): SessionData {
  return record as unknown as SessionData;
}

/** The other direction of {@link asSessionData}. */
function asRecord(data: SessionData | null | undefined): StoreRecord | null | undefined {
  return data as unknown as StoreRecord | null | undefined;
}

/** Drops a store call's value for operations that answer nothing. */
function nothing(): void {}
