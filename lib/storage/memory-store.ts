import { Store } from 'express-session';
import type { SessionData } from 'express-session';
import { systemClock, type Clock } from '../clock';
import { ShardedMap } from '../collections/sharded-map';
import { expiresAtOf, pack, unpack, withCookie } from './memory-record';

type Callback<T = void> = (err?: unknown, value?: T) => void;

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
 * number of live sessions.
 *
 * How records are kept (docs/architecture.md, "Records"): each as one string
 * (`memory-record.ts`: the cookie the manager writes folded into two
 * numbers, the rest as JSON), the most compact form; the records read lately
 * also parsed, in a bounded cache, never changed in place: what the
 * express-session API hands out is a copy, the session manager reads them
 * without one (`peek`).
 */
export class MemoryStore extends Store {
  /** Sharded (docs/architecture.md, "Large maps"): no single table to rehash whole as it grows. */
  private readonly records = new ShardedMap<string, string>();
  /** Records read lately, parsed: a write or a delete drops its key; the oldest goes first when full. */
  private readonly parsed = new Map<string, SessionData>();
  private readonly clock: Clock;

  constructor(options: MemoryStoreOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
  }

  /** Fetches a copy of a live record, or `undefined` (an expired one is dropped). */
  override get(sid: string, callback: Callback<SessionData | null>): void {
    const kept = this.live(sid);
    defer(callback, undefined, kept === undefined ? undefined : unpack(kept));
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
    for (const [sid, kept] of this.records) result[sid] = unpack(kept);
    defer(callback, undefined, result);
  }

  /**
   * The live record, at once and not a copy when read lately: for the
   * session manager, which never changes it (it copies an attribute before
   * handing it out).
   */
  peek(sid: string): SessionData | undefined {
    const kept = this.live(sid);
    if (kept === undefined) return undefined;
    let record = this.parsed.get(sid);
    if (record === undefined) {
      record = unpack(kept);
      if (this.parsed.size >= PARSED_CACHE_SIZE) this.parsed.delete(this.parsed.keys().next().value!);
      this.parsed.set(sid, record);
    }
    return record;
  }

  /** `set` at once: stores it packed (a copy: the caller's objects are never the store's). */
  put(sid: string, session: SessionData): void {
    this.records.set(sid, pack(session));
    this.parsed.delete(sid);
  }

  /** `destroy` at once. */
  remove(sid: string): void {
    this.records.delete(sid);
    this.parsed.delete(sid);
  }

  /** `touch` at once: the record with the given one's cookie replaces it. */
  extend(sid: string, session: SessionData): void {
    const kept = this.live(sid);
    if (kept === undefined) return;
    this.records.set(sid, withCookie(kept, session.cookie));
    this.parsed.delete(sid);
  }

  /**
   * Every kept record as it is kept (`memory-record.ts`), for a snapshot
   * (docs/architecture.md, "Persistence"): live iteration, so a caller that
   * yields between records sees those added meanwhile and not those deleted.
   */
  keptRecords(): IterableIterator<[string, string]> {
    return this.records.entries();
  }

  /** The kept form of one record, expired or not; `undefined` when there is none. */
  kept(sid: string): string | undefined {
    return this.records.get(sid);
  }

  /** Puts back a record in its kept form, read from a snapshot (checked with `isKept`). */
  restore(sid: string, kept: string): void {
    this.records.set(sid, kept);
    this.parsed.delete(sid);
  }

  /** The number of live records. */
  override length(callback: Callback<number>): void {
    this.prune();
    defer(callback, undefined, this.records.size);
  }

  /** Deletes every record. */
  override clear(callback?: Callback): void {
    this.records.clear();
    this.parsed.clear();
    defer(callback);
  }

  /** Drops every record whose `cookie.expires` has passed; returns how many. */
  prune(): number {
    const now = this.clock.now();
    let dropped = 0;
    for (const [sid, kept] of this.records) {
      if (expiresAtOf(kept) <= now) {
        this.remove(sid);
        dropped++;
      }
    }
    return dropped;
  }

  /** The kept record of `sid` unless it has expired (then it is dropped). */
  private live(sid: string): string | undefined {
    const kept = this.records.get(sid);
    if (kept !== undefined && expiresAtOf(kept) <= this.clock.now()) {
      this.remove(sid);
      return undefined;
    }
    return kept;
  }
}

/** How many records the store keeps parsed besides packed (the sessions in use now, typically). */
const PARSED_CACHE_SIZE = 4096;

/** Calls back asynchronously, as express-session's own stores do. */
function defer<T>(callback: Callback<T> | undefined, err?: unknown, value?: T): void {
  if (callback) queueMicrotask(() => callback(err, value));
}
