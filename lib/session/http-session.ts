import { IllegalStateError } from '../errors';
import type { BindingEvent, EventSink, SessionBindingListener } from '../manager/events';

/**
 * The Servlet `HttpSession` as the application sees it on `req.httpSession`.
 * Times are ms since the epoch; intervals are whole seconds.
 */
export interface HttpSession {
  /** The application (web module) this session belongs to. */
  readonly app: string;
  /** Aborted when an administrator kills this session while this request runs. */
  readonly signal: AbortSignal;
  /** The id; still allowed after `invalidate()`. */
  getId(): string;
  /** When the session was created. */
  getCreationTime(): number;
  /** Start of the previous request of this session (creation time for a new one); fixed within a request. */
  getLastAccessedTime(): number;
  /** Effective idle timeout in seconds; `-1` = never. */
  getMaxInactiveInterval(): number;
  /** Sets this session's idle timeout in whole seconds; `<= 0` = never. Persists across requests. */
  setMaxInactiveInterval(seconds: number): void;
  /** The attribute's value, or `undefined`. */
  getAttribute<T = unknown>(name: string): T | undefined;
  /** Names of all attributes. */
  getAttributeNames(): string[];
  /** Binds a JSON-serialisable value; `null`/`undefined` removes. */
  setAttribute(name: string, value: unknown): void;
  /** Unbinds an attribute. */
  removeAttribute(name: string): void;
  /** Ends the session now: listeners run inside the call, the data is deleted before the response completes. */
  invalidate(): void;
  /** True until the client has sent this id back. */
  isNew(): boolean;
  /**
   * An application subsession: its own attributes (`getAttribute` falls back
   * to the parent's) and its own idle timeout (default: the parent's). `null`
   * when absent and `create` is false. The same object on every call within a
   * request. Names: 1–64 letters, digits, `_ . -`.
   */
  getSubsession(name: string, options?: { create?: boolean; maxInactiveInterval?: number }): HttpSession | null;
  /** Names of this session's live subsessions. */
  getSubsessionNames(): string[];
  /** The parent of a subsession; `null` for a top-level session. */
  getParent(): HttpSession | null;
  /** The subsession's name; `undefined` for a top-level session. */
  readonly name: string | undefined;
}

/** pending: not stored yet; live: stored or to be stored; invalid: invalidated. */
export type SessionStatus = 'pending' | 'live' | 'invalid';

/** What a session needs from the request that holds it. */
export interface SessionHost {
  readonly events: EventSink;
  /** The app's default idle timeout in seconds (`-1` never). */
  readonly appTimeout: number;
  /** Makes a pending session live: stores it at commit, sends its id, fires `sessionCreated`. */
  activate(session: ServletSession): void;
  /** The session was invalidated (its events have fired). */
  invalidated(session: ServletSession): void;
  /** A fresh id for a new session. */
  newId(): string;
  /** A subsession was created: fires `sessionCreated` with its name. */
  subsessionCreated(sub: ServletSession): void;
  /** A subsession invalidated in this request was replaced by a new one of the same name. */
  retire(sub: ServletSession): void;
  /** The request's start, ms (creation time of a subsession made now). */
  readonly start: number;
  /** The signal of `session` in this request (aborted when it is killed). */
  signalOf(session: ServletSession): AbortSignal;
}

/** Initial state of a session object. */
export interface SessionInit {
  app: string;
  status: SessionStatus;
  id?: string;
  creationTime: number;
  lastAccessedTime: number;
  timeout?: number;
  attributes?: Record<string, unknown>;
  /** For a subsession: its parent and name. */
  parent?: ServletSession;
  name?: string;
}

const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype']);
const SUBSESSION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The implementation behind {@link HttpSession}: a facade over one session's
 * state within one request, with dirty tracking so an unchanged session is
 * never written back.
 */
export class ServletSession implements HttpSession {
  readonly app: string;
  status: SessionStatus;
  /** Created in this request. */
  fresh = false;
  /** Key under which the store holds this session now; `null` when not stored. */
  storedKey: string | null = null;
  /** This request called `coordinator.enter()` for `storedKey`. */
  entered = false;
  /** When the store's copy expires by its own TTL (ms); `null` when unknown. */
  storeExpires: number | null = null;
  /** Something changed that must be written. */
  dirty = false;
  /** Timeout set on the session itself, seconds (`-1` never); `undefined`: the app's. */
  timeout: number | undefined;
  readonly creationTime: number;
  readonly lastAccessedTime: number;
  readonly name: string | undefined;
  /** The parent of a subsession. */
  readonly parent: ServletSession | undefined;
  /** A parent's subsessions known in this request (live or invalidated here). */
  readonly subsessions = new Map<string, ServletSession>();
  /** A subsession used (got) in this request: its idle clock restarts. */
  used = false;
  /** The user a top-level session is bound to (the `principal` option). */
  principal: string | undefined;
  private idValue: string | undefined;
  private readonly attributes: Map<string, unknown>;
  /** JSON of object attributes handed out by getAttribute, to notice in-place changes. */
  private snapshots: Map<string, string> | undefined;

  constructor(private readonly host: SessionHost, init: SessionInit) {
    this.app = init.app;
    this.status = init.status;
    this.idValue = init.id;
    this.creationTime = init.creationTime;
    this.lastAccessedTime = init.lastAccessedTime;
    this.timeout = init.timeout;
    this.parent = init.parent;
    this.name = init.name;
    this.attributes = new Map(init.attributes ? Object.entries(init.attributes) : undefined);
  }

  get signal(): AbortSignal {
    return this.host.signalOf(this);
  }

  getId(): string {
    if (this.parent) return this.parent.getId();
    if (this.idValue === undefined) this.idValue = this.host.newId();
    return this.idValue;
  }

  /** Gives the session a new id (changeSessionId). */
  setId(id: string): void {
    this.idValue = id;
  }

  getCreationTime(): number {
    this.assertValid('getCreationTime');
    return this.creationTime;
  }

  getLastAccessedTime(): number {
    this.assertValid('getLastAccessedTime');
    return this.lastAccessedTime;
  }

  getMaxInactiveInterval(): number {
    this.assertValid('getMaxInactiveInterval');
    return this.effectiveTimeout();
  }

  /** Effective idle timeout in seconds, `-1` never: its own, else the parent's, else the app's. */
  effectiveTimeout(): number {
    const seconds = this.timeout ?? (this.parent ? this.parent.effectiveTimeout() : this.host.appTimeout);
    return seconds <= 0 ? -1 : seconds;
  }

  setMaxInactiveInterval(seconds: number): void {
    this.assertValid('setMaxInactiveInterval');
    if (!Number.isInteger(seconds)) throw new TypeError(`setMaxInactiveInterval: ${seconds} is not a whole number of seconds`);
    this.makeLive();
    this.timeout = seconds <= 0 ? -1 : seconds;
    this.dirty = true;
  }

  getAttribute<T = unknown>(name: string): T | undefined {
    this.assertValid('getAttribute');
    if (this.parent && !this.attributes.has(name)) return this.parent.getAttribute<T>(name); // chained context
    const value = this.attributes.get(name);
    if (!this.dirty && typeof value === 'object' && value !== null) {
      this.snapshots ??= new Map();
      if (!this.snapshots.has(name)) this.snapshots.set(name, JSON.stringify(value));
    }
    return value as T | undefined;
  }

  getAttributeNames(): string[] {
    this.assertValid('getAttributeNames');
    return [...this.attributes.keys()];
  }

  setAttribute(name: string, value: unknown): void {
    this.assertValid('setAttribute');
    assertName(name);
    if (value === null || value === undefined) {
      this.removeAttribute(name);
      return;
    }
    assertStorable(name, value);
    this.makeLive();
    const had = this.attributes.has(name);
    const old = this.attributes.get(name);
    this.attributes.set(name, value);
    this.dirty = true;
    if (old !== value) {
      this.notifyBinding(value, 'valueBound', name);
      if (had) this.notifyBinding(old, 'valueUnbound', name);
    }
    if (had) {
      this.host.events.fire('attributeReplaced', { ...this.base(), session: this, name, value: old, newValue: value });
    } else {
      this.host.events.fire('attributeAdded', { ...this.base(), session: this, name, value });
    }
  }

  removeAttribute(name: string): void {
    this.assertValid('removeAttribute');
    if (!this.attributes.has(name)) return;
    const value = this.attributes.get(name);
    this.attributes.delete(name);
    this.dirty = true;
    this.notifyBinding(value, 'valueUnbound', name);
    this.host.events.fire('attributeRemoved', { ...this.base(), session: this, name, value });
  }

  invalidate(): void {
    this.assertValid('invalidate');
    this.destroy('invalidated');
    if (this.parent) this.parent.dirty = true; // its list of subsessions changed
  }

  /** Ends the session in this request: subsessions first (`parent-destroyed`), then itself. */
  private destroy(reason: 'invalidated' | 'parent-destroyed'): void {
    for (const sub of this.subsessions.values()) if (sub.status === 'live') sub.destroy('parent-destroyed');
    const wasLive = this.status === 'live';
    this.status = 'invalid';
    if (wasLive) {
      // Servlet 2.4+ order: sessionDestroyed while the attributes are readable, then each removal.
      const attributes = this.snapshot();
      this.host.events.fire('sessionDestroyed', {
        ...this.base(),
        reason,
        attributes,
        creationTime: this.creationTime,
        lastAccessedTime: this.lastAccessedTime,
      });
      for (const [name, value] of Object.entries(attributes)) {
        this.notifyBinding(value, 'valueUnbound', name);
        this.host.events.fire('attributeRemoved', { ...this.base(), session: this, name, value });
      }
    }
    this.attributes.clear();
    this.host.invalidated(this);
  }

  isNew(): boolean {
    this.assertValid('isNew');
    return this.fresh;
  }

  getSubsession(name: string, options: { create?: boolean; maxInactiveInterval?: number } = {}): ServletSession | null {
    this.assertValid('getSubsession');
    if (this.parent) throw new IllegalStateError('getSubsession: a subsession has no subsessions');
    if (typeof name !== 'string' || !SUBSESSION_NAME.test(name)) {
      throw new TypeError(`getSubsession: "${name}" is not a subsession name (1-64 of A-Z a-z 0-9 _ . -)`);
    }
    const timeout = options.maxInactiveInterval;
    if (timeout !== undefined && !Number.isInteger(timeout)) {
      throw new TypeError(`getSubsession: maxInactiveInterval ${timeout} is not a whole number of seconds`);
    }
    const existing = this.subsessions.get(name);
    if (existing && existing.status === 'live') {
      existing.used = true;
      return existing;
    }
    if (options.create === false) return null;
    this.makeLive();
    const sub = new ServletSession(this.host, {
      app: this.app,
      status: 'live',
      creationTime: this.host.start,
      lastAccessedTime: this.host.start,
      timeout: timeout === undefined ? undefined : timeout <= 0 ? -1 : timeout,
      parent: this,
      name,
    });
    sub.fresh = true;
    sub.dirty = true;
    sub.used = true;
    if (existing) this.host.retire(existing);
    this.subsessions.set(name, sub);
    this.dirty = true;
    this.host.subsessionCreated(sub);
    return sub;
  }

  getSubsessionNames(): string[] {
    this.assertValid('getSubsessionNames');
    return [...this.subsessions.values()].filter((s) => s.status === 'live').map((s) => s.name!);
  }

  getParent(): ServletSession | null {
    this.assertValid('getParent');
    return this.parent ?? null;
  }

  /** Whether the stored copy is out of date: written to, or an object attribute changed in place. */
  hasChanges(): boolean {
    if (this.dirty) return true;
    if (!this.snapshots) return false;
    for (const [name, json] of this.snapshots) {
      if (JSON.stringify(this.attributes.get(name)) !== json) return true;
    }
    return false;
  }

  /** The attributes as a plain object (what is stored, and what events carry). */
  snapshot(): Record<string, unknown> {
    return Object.fromEntries(this.attributes);
  }

  /** The pending session becomes a real one (first write or `getSession()`). */
  makeLive(): void {
    if (this.status === 'pending') this.host.activate(this);
  }

  private base(): { id: string; app: string; subsession?: string } {
    return this.name === undefined ? { id: this.getId(), app: this.app } : { id: this.getId(), app: this.app, subsession: this.name };
  }

  private assertValid(method: string): void {
    if (this.status === 'invalid') throw new IllegalStateError(`${method}: the session has been invalidated`);
  }

  /** Calls `valueBound` / `valueUnbound` on a value that has it; a throw is reported, not raised. */
  private notifyBinding(value: unknown, method: keyof SessionBindingListener, name: string): void {
    if (typeof value !== 'object' || value === null) return;
    const hook = (value as SessionBindingListener)[method];
    if (typeof hook !== 'function') return;
    const event: BindingEvent = { session: this, name, value };
    try {
      const result: unknown = hook.call(value, event);
      if (result instanceof Promise) result.catch((error) => this.host.events.failed(method, this.base(), error));
    } catch (error) {
      this.host.events.failed(method, this.base(), error);
    }
  }
}

/** Attribute names must be strings and must not be prototype keys. */
function assertName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new TypeError('attribute names must be strings');
  if (RESERVED_NAMES.has(name)) throw new TypeError(`"${name}" cannot be an attribute name`);
}

/**
 * A value is storable when JSON keeps it whole: no functions, symbols or
 * BigInt anywhere, no cycles, no Map/Set (JSON turns them into `{}`).
 * `valueBound` / `valueUnbound` methods on the value itself are allowed (they
 * are not stored).
 */
function assertStorable(name: string, value: unknown): void {
  const type = typeof value;
  if (type === 'function' || type === 'symbol' || type === 'bigint') {
    throw new TypeError(`setAttribute("${name}"): a ${type} cannot be stored as JSON`);
  }
  if (type !== 'object') return;
  try {
    JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
      const t = typeof v;
      if (t === 'function' || t === 'symbol') {
        if (this === value && (key === 'valueBound' || key === 'valueUnbound')) return undefined;
        throw new TypeError(`"${key}" is a ${t}`);
      }
      if (v instanceof Map || v instanceof Set || v instanceof WeakMap || v instanceof WeakSet) {
        throw new TypeError(`"${key}" is a ${v.constructor.name}, which JSON turns into {}`);
      }
      return v;
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TypeError(`setAttribute("${name}"): the value cannot be stored as JSON (${reason})`);
  }
}
