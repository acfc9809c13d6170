import { Store } from 'express-session';
import type { SessionData } from 'express-session';
import { systemClock, type Clock } from '../clock';

type Callback<T = void> = (err?: unknown, value?: T) => void;

interface Entry {
  /** The record as JSON, so callers never share objects with the store. */
  json: string;
  /** `cookie.expires` in ms, or `Infinity` when the record has none. */
  expiresAt: number;
}

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Where time comes from when deciding whether a record has expired.
   * @default the system clock
   */
  clock?: Clock;
}

/**
 * The in-process express-session store used when no `store` option is given.
 *
 * Unlike express-session's MemoryStore it forgets an expired record without
 * being asked for it: `prune()` drops every record whose `cookie.expires` has
 * passed, and `all()` / `length()` never report one. The session manager's
 * reaper deletes idle sessions through `destroy()`, so memory follows the
 * number of live sessions. Records are kept as JSON strings: what the store
 * hands out is always a fresh copy.
 */
export class MemoryStore extends Store {
  private readonly records = new Map<string, Entry>();
  private readonly clock: Clock;

  constructor(options: MemoryStoreOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
  }

  /** Fetches a live record, or `undefined` (an expired one is dropped). */
  override get(sid: string, callback: Callback<SessionData | null>): void {
    const entry = this.live(sid);
    defer(callback, undefined, entry ? (JSON.parse(entry.json) as SessionData) : undefined);
  }

  /** Stores a record, replacing any previous one. */
  override set(sid: string, session: SessionData, callback?: Callback): void {
    this.records.set(sid, { json: JSON.stringify(session), expiresAt: expiresAt(session) });
    defer(callback);
  }

  /** Deletes a record; deleting an unknown id is not an error. */
  override destroy(sid: string, callback?: Callback): void {
    this.records.delete(sid);
    defer(callback);
  }

  /** Moves the expiry of a live record to the given record's `cookie.expires`. */
  override touch(sid: string, session: SessionData, callback?: Callback): void {
    const entry = this.live(sid);
    if (entry) {
      const stored = JSON.parse(entry.json) as SessionData;
      stored.cookie = session.cookie;
      this.records.set(sid, { json: JSON.stringify(stored), expiresAt: expiresAt(session) });
    }
    defer(callback);
  }

  /** Every live record, keyed by id. */
  override all(callback: Callback<Record<string, SessionData>>): void {
    this.prune();
    const result: Record<string, SessionData> = {};
    for (const [sid, entry] of this.records) result[sid] = JSON.parse(entry.json) as SessionData;
    defer(callback, undefined, result);
  }

  /** The number of live records. */
  override length(callback: Callback<number>): void {
    this.prune();
    defer(callback, undefined, this.records.size);
  }

  /** Deletes every record. */
  override clear(callback?: Callback): void {
    this.records.clear();
    defer(callback);
  }

  /** Drops every record whose `cookie.expires` has passed; returns how many. */
  prune(): number {
    const now = this.clock.now();
    let dropped = 0;
    for (const [sid, entry] of this.records) {
      if (entry.expiresAt <= now) {
        this.records.delete(sid);
        dropped++;
      }
    }
    return dropped;
  }

  /** The entry of `sid` unless it has expired (then it is dropped). */
  private live(sid: string): Entry | undefined {
    const entry = this.records.get(sid);
    if (entry && entry.expiresAt <= this.clock.now()) {
      this.records.delete(sid);
      return undefined;
    }
    return entry;
  }
}

/** `cookie.expires` of a record in ms; `Infinity` when it has none. */
function expiresAt(session: SessionData): number {
  const expires = session.cookie?.expires;
  if (!expires) return Infinity;
  const ms = new Date(expires).getTime();
  return Number.isNaN(ms) ? Infinity : ms;
}

/** Calls back asynchronously, as express-session's own stores do. */
function defer<T>(callback: Callback<T> | undefined, err?: unknown, value?: T): void {
  if (callback) queueMicrotask(() => callback(err, value));
}
