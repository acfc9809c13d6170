import { Store } from 'express-session';
import type { SessionData } from 'express-session';
import { systemClock, type Clock } from '../clock';

type Callback<T = void> = (err?: unknown, value?: T) => void;

interface Entry {
  /**
   * The record, parsed once when written and never changed afterwards (a
   * touch or a write replaces it): callers of the express-session API get a
   * copy; the session manager shares it (`peek`) and copies what it hands
   * out to an application.
   */
  record: SessionData;
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
 * number of live sessions. Records are kept parsed and never changed in
 * place: what the express-session API hands out is a copy; the session
 * manager reads them without one (`peek`, docs/architecture.md, "Records").
 */
export class MemoryStore extends Store {
  private readonly records = new Map<string, Entry>();
  private readonly clock: Clock;

  constructor(options: MemoryStoreOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
  }

  /** Fetches a copy of a live record, or `undefined` (an expired one is dropped). */
  override get(sid: string, callback: Callback<SessionData | null>): void {
    const record = this.peek(sid);
    defer(callback, undefined, record && copy(record));
  }

  /** Stores a copy of a record, replacing any previous one. */
  override set(sid: string, session: SessionData, callback?: Callback): void {
    this.put(sid, session);
    defer(callback);
  }

  /** Deletes a record; deleting an unknown id is not an error. */
  override destroy(sid: string, callback?: Callback): void {
    this.remove(sid);
    defer(callback);
  }

  /** Moves the expiry of a live record to the given record's `cookie.expires`. */
  override touch(sid: string, session: SessionData, callback?: Callback): void {
    this.extend(sid, session);
    defer(callback);
  }

  /** Every live record (copies), keyed by id. */
  override all(callback: Callback<Record<string, SessionData>>): void {
    this.prune();
    const result: Record<string, SessionData> = {};
    for (const [sid, entry] of this.records) result[sid] = copy(entry.record);
    defer(callback, undefined, result);
  }

  /**
   * The live record itself, not a copy, at once: for the session manager,
   * which never changes it (it copies an attribute before handing it out).
   */
  peek(sid: string): SessionData | undefined {
    return this.live(sid)?.record;
  }

  /** `set` at once: stores a copy, so the caller's objects are never the store's. */
  put(sid: string, session: SessionData): void {
    this.records.set(sid, { record: copy(session), expiresAt: expiresAt(session) });
  }

  /** `destroy` at once. */
  remove(sid: string): void {
    this.records.delete(sid);
  }

  /** `touch` at once: the record with the given one's cookie replaces it (a record is never changed in place). */
  extend(sid: string, session: SessionData): void {
    const entry = this.live(sid);
    if (!entry) return;
    const cookie = copy(session.cookie);
    this.records.set(sid, { record: { ...entry.record, cookie }, expiresAt: expiresAt(session) });
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

/** A deep copy of JSON data. */
function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Calls back asynchronously, as express-session's own stores do. */
function defer<T>(callback: Callback<T> | undefined, err?: unknown, value?: T): void {
  if (callback) queueMicrotask(() => callback(err, value));
}
