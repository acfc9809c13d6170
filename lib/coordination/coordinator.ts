/**
 * The coordinator keeps what must be shared by every process that serves a
 * session, and changes on every request: when the session was last accessed,
 * its idle deadline, and how many requests use it now. The store keeps the
 * session's data and is written only when the data changes.
 *
 * Its abilities are small interfaces (docs/architecture.md, "Coordinators"):
 * every coordinator tracks access and claims sessions ({@link Coordinator});
 * one may also keep an expiry index, lock sessions, carry kills and index
 * sessions for administration. The manager checks at startup that the one it
 * is given can do what its options need (`coordination/capabilities.ts`).
 *
 * Keys are session keys (`storage/session-key.ts`), one per session of an app.
 * A request using a session is known by a token of its own (`request`), so
 * leaving is idempotent: a leave whose enter never happened (a call that
 * timed out, its outcome unknown) changes nothing.
 */

import type { Clock } from '../clock';
import type { StoredRecord } from '../storage/store-adapter';
import type { SessionCaps } from './caps';

export type { SessionCaps } from './caps';

/** What the coordinator knows of one session. */
export interface AccessEntry {
  /** Start of the most recent request that used the session, ms since epoch. */
  lastAccessedTime: number;
  /** Idle deadline in ms since epoch; `null` when the session never expires. */
  deadline: number | null;
  /** When the store's copy expires by its own TTL (ms); `null` when unknown or never. */
  storeExpires: number | null;
  /**
   * Requests using the session right now, in every process. With reentrant
   * tokens (`reentrantTokens`) the requests of one process stand as one: those
   * of another process count once.
   */
  active: number;
  /**
   * Claimed for destruction (by the reaper or a request that found it
   * expired): no request may use it any more.
   */
  claimed: boolean;
  /**
   * Killed by an administrator (and then also `claimed`): the last request
   * using it destroys it when it leaves (see `leave()`).
   */
  killed: boolean;
  /** What the kill is to be announced with (see `KillSignals.kill`), when one was given. */
  killNote?: string;
  /**
   * How many times the session's record was written through the coordinator
   * (colocated records only, see {@link ColocatedRecords}); `0` otherwise.
   */
  version: number;
}

/** Idle past its deadline at `now`, and no request is using it. */
export function idleExpired(entry: AccessEntry, now: number): boolean {
  return entry.active === 0 && entry.deadline !== null && now >= entry.deadline;
}

/** Whether `enter()` answering `entry` counted the request as a user (see {@link AccessTracking.enter}). */
export function enterCounted(entry: AccessEntry | undefined, now: number, strictExpiry: boolean): boolean {
  return entry !== undefined && !entry.claimed && !(strictExpiry && idleExpired(entry, now));
}

/** What a request reports when it stops using a session. */
export interface LeaveUpdate {
  /** End of the request (ms): the idle clock restarts here. */
  now: number;
  /**
   * Effective idle timeout in ms; `null` = never; `undefined` keeps the
   * deadline as it was (a request that could not load the session).
   */
  timeoutMs: number | null | undefined;
  /** When the store's copy now expires (ms), `null` when it has no TTL. */
  storeExpires: number | null;
  /**
   * `true` when this request called `enter()` for the key; `false` when it
   * did not: the session was created (or got its id) in this request, or it is
   * a subsession (read, not entered). The entry is then created if missing,
   * and its access time set to `lastAccessedTime`.
   */
  entered: boolean;
  /** The start of this request, for an entry not entered. */
  lastAccessedTime: number;
  /** The user a top-level session is bound to: indexed for `keysOf()`. */
  principal?: string;
  /** The request's token, as it entered (a request that did not enter has one too). */
  request: string;
}

/** A listener of kills (see {@link KillSignals.onKill}). */
export interface KillSubscription {
  /** Resolves once kills in any process reach the listener. */
  readonly ready: Promise<void>;
  /** Stops listening (and connecting, if it was still trying). */
  close(): Promise<void>;
}

/** Who uses a session and since when: the base of every coordinator. */
export interface AccessTracking {
  /**
   * A request starts using a session: returns the entry as it was before (so
   * `lastAccessedTime` is the previous request's start), and records this
   * request as active with `now` as its access time. `undefined` when the
   * coordinator has no entry (the session is unknown to it); then nothing is
   * recorded.
   *
   * With `strictExpiry`, a session that is idle (no active request) and past
   * its deadline is expired: nothing is recorded either (nor for a claimed
   * one), and the caller is to `claim()` it with `entered: false`. Requests
   * that find it expired at the same time thus never count as its users, so
   * exactly one claim wins and none of them is served the session.
   * `request` is the request's token: its `leave()` names it again.
   */
  enter(key: string, now: number, strictExpiry: boolean, request: string): Promise<AccessEntry | undefined>;
  /**
   * `true` when an `enter()` under a token already entered (and not left)
   * refreshes that request's access time and lease and counts it once: the
   * manager then lets the requests of one session in its process stand as
   * one (`shared-standing.ts`). Absent: every request enters as itself.
   */
  readonly reentrantTokens?: boolean;

  /** The entry of a session as it is, changing nothing (subsessions, admin). */
  inspect(key: string): Promise<AccessEntry | undefined>;

  /**
   * A request stops using a session. When no other request uses it, its
   * deadline becomes `now + timeoutMs`. Resolves `true` for the last request
   * (that entered) leaving a session killed while it was in use: that
   * request destroys the session. A request that entered leaves once: a
   * second leave with its token, or one whose enter never happened, changes
   * nothing and resolves `false`.
   */
  leave(key: string, update: LeaveUpdate): Promise<boolean>;

  /**
   * Forgets a session. Resolves `true` for exactly one caller across every
   * process: the one whose call removed the entry.
   */
  remove(key: string): Promise<boolean>;
}

/** Claims for destruction: what makes every destruction happen exactly once. */
export interface SessionClaims {
  /**
   * Atomically claims an expired session for destruction: succeeds only when
   * its deadline is `<= now`, it is not claimed yet, and no request uses it
   * (besides the caller's own, when `entered`). The entry then stays as a
   * tombstone — `enter()` reports it `claimed` — until `remove()`. Resolves
   * the entry as it was for exactly one caller across every process, else
   * `undefined`. `now = Infinity` claims whatever the deadline (a cascade from
   * a destroyed parent).
   * A session claimed (not killed) under a `claimer` token is claimed again
   * for that token until removed, whatever its deadline: a caller whose
   * answer was lost retries with it (docs/architecture.md, "Lost answers").
   */
  claim(key: string, now: number, entered: boolean, claimer?: string): Promise<AccessEntry | undefined>;
}


/** The expiry index the reaper sweeps; without it the reaper scans the store (`all()`). */
export interface ExpiryIndex {
  /** Up to `limit` keys whose deadline is `<= now`. */
  due(now: number, limit: number): Promise<string[]>;
}

/**
 * Locks for serial access across processes; without them serial access
 * holds within each process only (and a remote coordinator without them is
 * refused with `serialAccess`).
 */
export interface SessionLocking {
  /** Takes the lock of `key` for `token`; resolves `false` when another owner holds it. */
  acquireLock(key: string, token: string, ttlMs: number): Promise<boolean>;
  /** Extends a held lock; resolves `false` when `token` no longer owns it. */
  renewLock(key: string, token: string, ttlMs: number): Promise<boolean>;
  /** Deletes the lock only if `token` still owns it. */
  releaseLock(key: string, token: string): Promise<void>;
}

/**
 * Short locks that order the commits of one session across processes (its
 * read-merge-write never interleaves with another); within a process the
 * commits are ordered anyway. Held only while committing.
 */
export interface CommitLocks {
  /** Takes the commit lock of `key` for `token`; resolves `false` while another owner holds it. */
  lockForCommit(key: string, token: string, ttlMs: number): Promise<boolean>;
  /** Releases it, only if `token` still owns it. */
  unlockAfterCommit(key: string, token: string): Promise<void>;
}

/** Killing sessions in use (`manager.sessions.kill*`, the admin router). */
export interface KillSignals {
  /**
   * Marks a session killed: claimed, so no request may use it any more; out
   * of the expiry index; its cross-process lock dropped, so requests queued
   * behind it go on (to a new session); and every process is told
   * (`onKill`), so the requests using it now see their `signal` abort.
   * Resolves the entry as it was, or `undefined` when there is none. When
   * it was unclaimed and idle (`active` 0) the caller destroys the session;
   * when in use, the last request to leave does; when already claimed
   * (killed before, or expiring), nobody new does. `note` (a short string:
   * the reason and who killed it) is kept with the mark, as the entry's
   * `killNote`, for whichever request destroys the session later.
   */
  kill(key: string, note?: string): Promise<AccessEntry | undefined>;

  /**
   * Calls `listener` with the key of every session killed from now on, in
   * any process. Returns at once; the subscription's `ready` resolves once
   * kills are heard (a remote coordinator keeps trying while it cannot
   * connect), and `close()` stops it, ready or not.
   */
  onKill(listener: (key: string) => void): KillSubscription;
}

/** Indexes for administration (`manager.sessions`) and the `principal` option. */
export interface SessionIndex {
  /**
   * Keys of top-level sessions (no subsessions) in key order, the first
   * `limit` after `after` (from the start when `null`): the admin listing,
   * a page at a time. Stable while sessions come and go: a key present
   * throughout is listed exactly once.
   */
  keys(after: string | null, limit: number): Promise<string[]>;

  /** How many top-level sessions the index holds (what `keys()` pages through). */
  count(): Promise<number>;

  /** Keys of the sessions bound to `principal` (see `LeaveUpdate.principal`), in key order. */
  keysOf(principal: string): Promise<string[]>;
}

/**
 * A remote coordinator that bounds its own calls: the manager tells it its
 * `storeTimeout`. Any other remote coordinator has its calls bounded by the
 * manager (docs/architecture.md, "Faults").
 */
export interface BoundedCalls {
  setCallTimeout(ms: number): void;
}

/**
 * A remote coordinator that counts a request as using a session only for a
 * lease, renewed while the request runs: a request whose leave was lost (its
 * connection reset) stops counting once its lease runs out, so the session
 * still expires (docs/architecture.md, "Faults"). The manager renews the
 * leases of its requests that run longer than a third of `leaseMs`.
 */
export interface RequestLeases {
  /** How long a lease lasts from an enter or a renewal (ms). */
  readonly leaseMs: number;
  /** The manager's clock: leases run out by it. */
  useClock(clock: Clock): void;
  /** Extends the lease of `request` on `key` to `now + leaseMs`; nothing when it holds none. */
  renewLease(key: string, request: string, now: number): Promise<void>;
}

/**
 * A coordinator, as the `coordinator` option takes it: it must track access
 * and claim sessions (else a `ConfigurationError` at startup names what is
 * missing); it may have any of the other abilities, and the manager checks
 * that it has those its options need.
 */
export type Coordinator = AccessTracking &
  SessionClaims &
  Partial<ExpiryIndex & SessionLocking & CommitLocks & KillSignals & SessionIndex & BoundedCalls & RequestLeases & RecordColocation & SessionCaps>;

/** What {@link ColocatedRecords.write} did. */
export type RecordWrite =
  /** Written, now at `version`; `lastOfKilled`: for each request that left, as `leave()` answers it. */
  | { written: true; version: number; lastOfKilled: boolean[] }
  /** Not written: the record changed (another version), or the session is claimed or gone; nobody left. */
  | { written: false };

/**
 * A store's records that the coordinator reaches itself, on the same Redis,
 * in the same atomic steps as its own state: a read is one round trip and
 * two commands, a write one round trip (docs/architecture.md, "Colocated
 * records"). Records are exactly as the store writes and reads them.
 */
export interface ColocatedRecords {
  /** `enter()` and the record, read together. */
  load(
    key: string,
    now: number,
    strictExpiry: boolean,
    request: string,
  ): Promise<{ record: StoredRecord | undefined; entry: AccessEntry | undefined }>;
  /**
   * Writes `record` (the store's TTL: `ttlSeconds`) and leaves for each of
   * `updates` (the requests of a group of commits, in order), together.
   * `version`: the version the record was merged onto (`entry.version` as
   * loaded); it is written only if that is still the entry's and the session
   * is not claimed. `undefined`: written whatever (a new or renamed session).
   * `writer`: this write's id, unique to it, kept with the version; `after`:
   * the id of the write that must have made `version` — given when the
   * record was merged onto a write not yet answered, whose version number
   * another process's write could have made too.
   */
  write(key: string, record: StoredRecord, ttlSeconds: number, version: number | undefined, updates: LeaveUpdate[], writer?: string, after?: string): Promise<RecordWrite>;
  /** Extends the record's TTL and leaves, together; resolves what `leave()` does. */
  touch(key: string, ttlSeconds: number, update: LeaveUpdate): Promise<boolean>;
  /**
   * The record as it is now, with its version, to merge onto again; whether
   * the session is claimed, and whether the coordinator knows it at all.
   */
  read(key: string): Promise<{ record: StoredRecord | undefined; version: number; claimed: boolean; known: boolean }>;
  /** Deletes the record and forgets the session, together (see `remove()`). */
  remove(key: string): Promise<boolean>;
}

/** A coordinator that may reach a store's records itself. */
export interface RecordColocation {
  /** The store's records as the coordinator reaches them, or `undefined` when it cannot. */
  colocate(store: object): ColocatedRecords | undefined;
}
