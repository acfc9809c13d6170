import type { SessionData, Store } from 'express-session';
import { StoreUnavailableError } from '../errors';

/** A record as it lies in an express-session store. */
export type StoredRecord = SessionData;

/**
 * Promise face over a callback express-session store. Knows what the store
 * can do beyond the required `get`/`set`/`destroy`, and bounds every call:
 * an error or no answer within the timeout becomes `StoreUnavailableError`.
 */
export class StoreAdapter {
  /** The store has `touch` (else a touch is a full `set`). */
  readonly canTouch: boolean;
  /** The store has `all` (the reaper and admin can fall back to a scan). */
  readonly canList: boolean;

  constructor(readonly store: Store, private readonly timeoutMs: number) {
    this.canTouch = typeof store.touch === 'function';
    this.canList = typeof store.all === 'function';
  }

  /** The record under `key`, or `undefined`. */
  get(key: string): Promise<StoredRecord | undefined> {
    return this.call<SessionData | null | undefined>('get', (cb) => this.store.get(key, cb)).then(
      (record) => (record && typeof record === 'object' ? record : undefined),
    );
  }

  /** Writes the record under `key`. */
  set(key: string, record: StoredRecord): Promise<void> {
    return this.call<void>('set', (cb) => this.store.set(key, record, cb));
  }

  /** Deletes the record under `key`. */
  destroy(key: string): Promise<void> {
    return this.call<void>('destroy', (cb) => this.store.destroy(key, cb));
  }

  /** Extends the store's TTL of `key` to the record's `cookie.expires`. */
  touch(key: string, record: StoredRecord): Promise<void> {
    if (!this.canTouch) return this.set(key, record);
    return this.call<void>('touch', (cb) => this.store.touch!(key, record, cb));
  }

  /** Every record, keyed by store key (stores with `all` only). */
  all(): Promise<Record<string, StoredRecord>> {
    return this.call<Record<string, SessionData> | SessionData[] | null>('all', (cb) => this.store.all!(cb)).then(
      (records) => normaliseAll(records),
    );
  }

  /** Runs one callback-style store call with the timeout. */
  private call<T>(operation: string, start: (callback: (err?: unknown, value?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StoreUnavailableError(operation, new Error(`no answer within ${this.timeoutMs} ms`))),
        this.timeoutMs,
      );
      timer.unref();
      const callback = (err?: unknown, value?: T): void => {
        clearTimeout(timer);
        if (err) reject(new StoreUnavailableError(operation, err));
        else resolve(value as T);
      };
      try {
        const result: unknown = start(callback);
        // Promise-returning stores (connect-redis) may also reject; the callback reports it.
        if (result instanceof Promise) result.catch(() => undefined);
      } catch (err) {
        callback(err ?? new Error('store threw'));
      }
    });
  }
}

/** `all()` answers an object keyed by id (express-session) or an array (some stores). */
function normaliseAll(records: Record<string, StoredRecord> | StoredRecord[] | null): Record<string, StoredRecord> {
  if (!records) return {};
  if (!Array.isArray(records)) return records;
  const byId: Record<string, StoredRecord> = {};
  for (const record of records) {
    const id = (record as { id?: unknown }).id;
    if (typeof id === 'string') byId[id] = record;
  }
  return byId;
}
