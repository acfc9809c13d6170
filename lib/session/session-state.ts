import type { LoadedRecord } from '../storage/session-record';
import { copyValue, sameValue } from './attribute-values';

/** pending: not stored yet; live: stored or to be stored; invalid: invalidated. */
export type SessionStatus = 'pending' | 'live' | 'invalid';

/** In {@link SessionState.changed}: the attribute was removed. */
export const REMOVED: unique symbol = Symbol('removed');

/** What a state that changed nothing answers (never written to). */
const NONE: ReadonlyMap<string, never> = new Map<string, never>();

/** Initial state of a session. */
export interface SessionStateInit {
  app: string;
  status: SessionStatus;
  id?: string;
  creationTime: number;
  lastAccessedTime: number;
  /** Timeout set on the session itself, seconds (`-1` never); absent: the app's (a subsession: the parent's). */
  timeout?: number;
  attributes?: Record<string, unknown>;
  /** The user a top-level session is bound to (the `principal` option). */
  principal?: string;
}

/**
 * One session's data and its bookkeeping within one request — Jetty's
 * `SessionData` beside the session: what the loader read, what the
 * `HttpSession` facade changes, what the commit writes. The request owns it;
 * the application sees only the facade (`session/http-session.ts`).
 */
export class SessionState {
  readonly app: string;
  status: SessionStatus;
  /** The id; `undefined` until a pending session needs one. */
  id: string | undefined;
  readonly creationTime: number;
  /** Start of the previous request of this session; fixed within a request. */
  readonly lastAccessedTime: number;
  /** Timeout set on the session itself, seconds (`-1` never); `undefined`: the app's (a subsession: the parent's). */
  timeout: number | undefined;
  /** The user a top-level session is bound to. */
  principal: string | undefined;
  readonly attributes: Map<string, unknown>;
  /** Created in this request. */
  fresh = false;
  /** Something changed that must be written. */
  dirty = false;
  /** A subsession used (got) in this request: its idle clock restarts. */
  used = false;
  /** Key under which the store holds this session now; `null` when not stored. */
  storedKey: string | null = null;
  /** This request called `coordinator.enter()` for `storedKey`. */
  entered = false;
  /** When the store's copy expires by its own TTL (ms); `null` when unknown. */
  storeExpires: number | null = null;
  /** The record as loaded: what a merge goes onto while nobody else wrote it (colocated records). */
  base: LoadedRecord | undefined;
  /** The record's version as loaded (colocated records: see `ColocatedRecords.write`). */
  version = 0;
  /**
   * What this request changed, for a commit that merges it onto the record
   * as it is in the store then (docs/architecture.md, "Commit"): attributes
   * set (their value) or removed ({@link REMOVED}), by name.
   */
  private changes: Map<string, unknown> | undefined;
  /** `setMaxInactiveInterval` was called. */
  timeoutChanged = false;
  /** Subsessions created (`true`) or invalidated or found gone (`false`) in this request (a parent's). */
  private subsessionChanges: Map<string, boolean> | undefined;
  /** The session was bound to its user in this request. */
  principalBound = false;
  /** Counted among its app's sessions in this request (`maxActiveSessions`, docs/architecture.md "Caps"). */
  capCounted = false;
  /** The session's own cookie lifetime in ms (`-1` a browser-session cookie); `undefined`: the manager's. */
  cookieMaxAge: number | undefined;
  /** When its cookie was last sent with a lifetime (ms). */
  cookieSentAt: number | undefined;
  /** `cookieMaxAge` or `cookieSentAt` changed in this request (they are written with the record). */
  cookieChanged = false;
  /** This response re-sends the cookie (a new lifetime, or a rolling one due). */
  cookieDue = false;
  /** A `save()` (express-session's) wrote the session in this request: the commit writes what changed since. */
  saved = false;
  /**
   * The attribute values are the store's own objects (an in-process store
   * shares its records): an object is copied before the application gets it.
   */
  sharedValues = false;
  /**
   * Object attributes handed out, each with a copy of what was loaded, to
   * notice changes made in place.
   */
  private snapshots: Map<string, unknown> | undefined;

  constructor(init: SessionStateInit) {
    this.app = init.app;
    this.status = init.status;
    this.id = init.id;
    this.creationTime = init.creationTime;
    this.lastAccessedTime = init.lastAccessedTime;
    this.timeout = init.timeout;
    this.principal = init.principal;
    this.attributes = new Map(init.attributes ? Object.entries(init.attributes) : undefined);
  }

  /**
   * An attribute's value as the application may hold it. The application may
   * change an object in place, so the first time one it did not set itself
   * is handed out, a copy is made: the application gets the copy when the
   * store shares the original (copy on read: the store's record never
   * changes under it), else the copy is kept as the original; either way the
   * two are compared at commit.
   */
  handOut(name: string, value: unknown): unknown {
    if (typeof value !== 'object' || value === null) return value;
    if (this.snapshots?.has(name) || this.changes?.has(name)) return value;
    const copy = copyValue(value);
    const snapshots = (this.snapshots ??= new Map());
    if (!this.sharedValues) {
      snapshots.set(name, copy);
      return value;
    }
    snapshots.set(name, value);
    this.attributes.set(name, copy);
    return copy;
  }

  /** Whether the stored copy is out of date: written to, or an object attribute changed in place. */
  hasChanges(): boolean {
    return this.dirty || this.changedInPlace().length > 0;
  }

  /** Notes an attribute set (its value) or removed ({@link REMOVED}) by this request. */
  noteChange(name: string, value: unknown): void {
    (this.changes ??= new Map()).set(name, value);
    this.dirty = true;
  }

  /** The attributes this request set (their value) or removed ({@link REMOVED}). */
  changed(): ReadonlyMap<string, unknown> {
    return this.changes ?? NONE;
  }

  /** Attributes handed out as objects and changed in place since (not set again). */
  changedInPlace(): string[] {
    if (!this.snapshots) return [];
    const names: string[] = [];
    for (const [name, original] of this.snapshots) {
      if (!this.changes?.has(name) && !sameValue(this.attributes.get(name), original)) names.push(name);
    }
    return names;
  }

  /** Notes a subsession created (`added`) or gone in this request, on its parent's state. */
  noteSubsession(name: string, added: boolean): void {
    (this.subsessionChanges ??= new Map()).set(name, added);
    this.dirty = true;
  }

  /** The subsessions created (`true`) or gone (`false`) in this request. */
  subsessionsChanged(): ReadonlyMap<string, boolean> {
    return this.subsessionChanges ?? NONE;
  }

  /**
   * After a `save()` wrote the session as it is now: what changed so far is
   * stored, so the commit compares with this (objects handed out are
   * compared with their value now; attributes set are remembered as copies).
   */
  markSaved(): void {
    for (const [name, value] of this.changes ?? NONE) {
      if (value !== REMOVED && typeof value === 'object' && value !== null) (this.snapshots ??= new Map()).set(name, copyValue(value));
    }
    if (this.snapshots) for (const name of this.snapshots.keys()) this.snapshots.set(name, copyValue(this.attributes.get(name)));
    this.changes = undefined;
    this.subsessionChanges = undefined;
    this.timeoutChanged = false;
    this.cookieChanged = false;
    this.dirty = false;
    this.saved = true;
  }

  /** Replaces the data with the stored record's (express-session's `reload()`): this request's changes are dropped. */
  reloadFrom(record: LoadedRecord): void {
    this.attributes.clear();
    for (const [name, value] of Object.entries(record.attributes)) this.attributes.set(name, value);
    this.timeout = record.meta.timeout;
    this.cookieMaxAge = record.meta.cookieMaxAge;
    this.cookieSentAt = record.meta.cookieSentAt;
    this.base = record;
    this.changes = undefined;
    this.snapshots = undefined;
    this.timeoutChanged = false;
    this.cookieChanged = false;
    this.dirty = false;
  }

  /** The attributes as a plain object (what is stored, and what events carry). */
  snapshot(): Record<string, unknown> {
    return Object.fromEntries(this.attributes);
  }
}
