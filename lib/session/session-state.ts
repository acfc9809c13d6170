/** pending: not stored yet; live: stored or to be stored; invalid: invalidated. */
export type SessionStatus = 'pending' | 'live' | 'invalid';

/** In {@link SessionState.changed}: the attribute was removed. */
export const REMOVED: unique symbol = Symbol('removed');

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
  /**
   * What this request changed, for a commit that merges it onto the record
   * as it is in the store then (docs/architecture.md, "Commit"): attributes
   * set (their value) or removed ({@link REMOVED}), by name.
   */
  readonly changed = new Map<string, unknown>();
  /** `setMaxInactiveInterval` was called. */
  timeoutChanged = false;
  /** Subsessions created in this request (a parent's). */
  readonly subsessionsAdded = new Set<string>();
  /** Subsessions invalidated in this request, or found gone (a parent's). */
  readonly subsessionsRemoved = new Set<string>();
  /** The session was bound to its user in this request. */
  principalBound = false;
  /** JSON of object attributes handed out, to notice changes made in place. */
  private snapshots: Map<string, string> | undefined;

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
   * An object attribute was handed to the application, which may change it
   * in place: remember it as it is, unless the session is to be written
   * anyway.
   */
  noteHandedOut(name: string, value: unknown): void {
    if (this.dirty || typeof value !== 'object' || value === null) return;
    this.snapshots ??= new Map();
    if (!this.snapshots.has(name)) this.snapshots.set(name, JSON.stringify(value));
  }

  /** Whether the stored copy is out of date: written to, or an object attribute changed in place. */
  hasChanges(): boolean {
    return this.dirty || this.changedInPlace().length > 0;
  }

  /** Attributes handed out as objects and changed in place since (not set again). */
  changedInPlace(): string[] {
    if (!this.snapshots) return [];
    const names: string[] = [];
    for (const [name, json] of this.snapshots) {
      if (!this.changed.has(name) && JSON.stringify(this.attributes.get(name)) !== json) names.push(name);
    }
    return names;
  }

  /** Notes a subsession created (`added`) or gone in this request, on its parent's state. */
  noteSubsession(name: string, added: boolean): void {
    (added ? this.subsessionsAdded : this.subsessionsRemoved).add(name);
    (added ? this.subsessionsRemoved : this.subsessionsAdded).delete(name);
    this.dirty = true;
  }

  /** The attributes as a plain object (what is stored, and what events carry). */
  snapshot(): Record<string, unknown> {
    return Object.fromEntries(this.attributes);
  }
}
