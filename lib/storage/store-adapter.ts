import type { SessionData, Store } from 'express-session';
import { StoreUnavailableError } from '../errors';
import { Instruments, timed } from '../instruments';
import { MemoryStore } from './memory-store';

/** A record as it lies in an express-session store. */
export type StoredRecord = SessionData;

/**
 * Promise face over a callback express-session store. Knows what the store
 * can do beyond the required `get`/`set`/`destroy`, and bounds every call:
 * an error or no answer within the timeout becomes `StoreUnavailableError`.
 * Our in-process `MemoryStore` is called directly: it answers at once, so it
 * needs neither a callback nor a timer, and its records are read without a
 * copy (`sharesRecords`) — as long as its express-session methods are its
 * own (a subclass or a wrapper that changes them gets the generic path).
 */
export class StoreAdapter {
  /** The store has `touch` (else a touch is a full `set`). */
  readonly canTouch: boolean;
  /** The store has `all` (the reaper and admin can fall back to a scan). */
  readonly canList: boolean;
  /**
   * `get` answers the store's own record, shared with whoever reads it next:
   * it must not be changed, and an object attribute must be copied before an
   * application gets it.
   */
  readonly sharesRecords: boolean;
  /** The store, when it is our in-process one. */
  private readonly memory: MemoryStore | undefined;

  constructor(
    readonly store: Store,
    private readonly timeoutMs: number,
    /** Times the store's calls when metrics are collected. */
    private readonly instruments: Instruments = new Instruments(),
  ) {
    this.canTouch = typeof store.touch === 'function';
    this.canList = typeof store.all === 'function';
    this.memory = store instanceof MemoryStore ? store : undefined;
    this.sharesRecords = this.memory !== undefined;
  }

  /**
   * Our MemoryStore, to be called directly (it answers at once), unless its
   * methods were replaced since.
   */
  get local(): MemoryStore | undefined {
    const memory = this.memory;
    if (!memory) return undefined;
    const own = MemoryStore.prototype;
    const direct = memory.get === own.get && memory.set === own.set && memory.touch === own.touch && memory.destroy === own.destroy;
    return direct ? memory : undefined;
  }

  /**
   * The record under `key`, or `undefined`. With `sharesRecords`, the store's
   * own object: never change it.
   */
  get(key: string): Promise<StoredRecord | undefined> {
    const local = this.local;
    if (local) return Promise.resolve(local.peek(key));
    return this.call<SessionData | null | undefined>('get', (cb) => this.store.get(key, cb), isMissing).then(
      (record) => (record && typeof record === 'object' ? record : undefined),
    );
  }

  /** Writes the record under `key`. */
  set(key: string, record: StoredRecord): Promise<void> {
    const local = this.local;
    if (local) {
      local.put(key, record);
      return DONE;
    }
    return this.call<void>('set', (cb) => this.store.set(key, record, cb));
  }

  /** Deletes the record under `key`. */
  destroy(key: string): Promise<void> {
    const local = this.local;
    if (local) {
      local.remove(key);
      return DONE;
    }
    return this.call<void>('destroy', (cb) => this.store.destroy(key, cb));
  }

  /** Extends the store's TTL of `key` to the record's `cookie.expires`. */
  touch(key: string, record: StoredRecord): Promise<void> {
    const local = this.local;
    if (local) {
      local.extend(key, record);
      return DONE;
    }
    if (!this.canTouch) return this.set(key, record);
    return this.call<void>('touch', (cb) => this.store.touch!(key, record, cb));
  }

  /** Every record, keyed by store key (stores with `all` only). */
  all(): Promise<Record<string, StoredRecord>> {
    return this.call<Record<string, SessionData> | SessionData[] | null>('all', (cb) => this.store.all!(cb)).then(
      (records) => normaliseAll(records),
    );
  }

  /**
   * Runs one callback-style store call with the timeout. An error `absent`
   * recognises means "nothing there" (the call answers `undefined`).
   */
  private call<T>(
    operation: string,
    start: (callback: (err?: unknown, value?: T) => void) => void,
    absent?: (err: unknown) => boolean,
  ): Promise<T> {
    return timed(this.instruments, operation, () => this.bounded(operation, start, absent));
  }

  /** {@link call} without the timing. */
  private bounded<T>(
    operation: string,
    start: (callback: (err?: unknown, value?: T) => void) => void,
    absent?: (err: unknown) => boolean,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StoreUnavailableError(operation, new Error(`no answer within ${this.timeoutMs} ms`))),
        this.timeoutMs,
      );
      timer.unref();
      const callback = (err?: unknown, value?: T): void => {
        clearTimeout(timer);
        if (err && absent?.(err)) resolve(undefined as T);
        else if (err) reject(new StoreUnavailableError(operation, err));
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

/**
 * A `get` error that means "no such session", as express-session takes it:
 * `ENOENT` (session-file-store, and any store on files).
 */
function isMissing(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

/** What a call done at once answers: one settled promise for all of them. */
const DONE = Promise.resolve();

/** A record kept as JSON in a table row (better-sqlite3-session-store's `all()`). */
function parseRow(json: string): StoredRecord {
  return JSON.parse(json) as StoredRecord;
}

/**
 * `all()` answers an object keyed by id (express-session), an array of
 * records with their `id` (connect-redis), or a table's rows `{ sid, sess }`
 * (better-sqlite3-session-store).
 */
function normaliseAll(records: Record<string, StoredRecord> | StoredRecord[] | null): Record<string, StoredRecord> {
  if (!records) return {};
  if (!Array.isArray(records)) return records;
  const byId: Record<string, StoredRecord> = {};
  for (const record of records) {
    const { id, sid, sess } = record as { id?: unknown; sid?: unknown; sess?: unknown };
    if (typeof id === 'string') byId[id] = record;
    else if (typeof sid === 'string' && typeof sess === 'string') byId[sid] = parseRow(sess); // a table's rows
  }
  return byId;
}
