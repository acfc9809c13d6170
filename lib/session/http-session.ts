import { IllegalStateError } from '../errors';
import { SUBSESSION_NAME } from '../storage/session-key';
import { assertAttributeName, assertStorable } from './attribute-values';
import { REMOVED, SessionState } from './session-state';
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

/**
 * The implementation behind {@link HttpSession}: a facade over one session's
 * {@link SessionState} within one request. The request owns the state (it
 * loads and commits it); the facade reads and changes it as the Servlet API
 * says, marking it dirty so an unchanged session is never written back.
 */
export class ServletSession implements HttpSession {
  /** The parent of a subsession. */
  readonly parent: ServletSession | undefined;
  /** A subsession's name. */
  readonly name: string | undefined;
  /** A parent's subsessions known in this request (live or invalidated here); made on first use. */
  private subs: Map<string, ServletSession> | undefined;

  constructor(
    private readonly host: SessionHost,
    readonly state: SessionState,
    parent?: { session: ServletSession; name: string },
  ) {
    this.parent = parent?.session;
    this.name = parent?.name;
  }

  get app(): string {
    return this.state.app;
  }

  get signal(): AbortSignal {
    return this.host.signalOf(this);
  }

  getId(): string {
    if (this.parent) return this.parent.getId();
    return (this.state.id ??= this.host.newId());
  }

  getCreationTime(): number {
    this.assertValid('getCreationTime');
    return this.state.creationTime;
  }

  getLastAccessedTime(): number {
    this.assertValid('getLastAccessedTime');
    return this.state.lastAccessedTime;
  }

  getMaxInactiveInterval(): number {
    this.assertValid('getMaxInactiveInterval');
    return this.effectiveTimeout();
  }

  /** Effective idle timeout in seconds, `-1` never: its own, else the parent's, else the app's. */
  effectiveTimeout(): number {
    const seconds = this.state.timeout ?? (this.parent ? this.parent.effectiveTimeout() : this.host.appTimeout);
    return seconds <= 0 ? -1 : seconds;
  }

  setMaxInactiveInterval(seconds: number): void {
    this.assertValid('setMaxInactiveInterval');
    if (!Number.isInteger(seconds)) throw new TypeError(`setMaxInactiveInterval: ${seconds} is not a whole number of seconds`);
    this.makeLive();
    this.state.timeout = seconds <= 0 ? -1 : seconds;
    this.state.timeoutChanged = true;
    this.state.dirty = true;
  }

  getAttribute<T = unknown>(name: string): T | undefined {
    this.assertValid('getAttribute');
    const { attributes } = this.state;
    if (this.parent && !attributes.has(name)) return this.parent.getAttribute<T>(name); // chained context
    return this.state.handOut(name, attributes.get(name)) as T | undefined;
  }

  getAttributeNames(): string[] {
    this.assertValid('getAttributeNames');
    return [...this.state.attributes.keys()];
  }

  setAttribute(name: string, value: unknown): void {
    this.assertValid('setAttribute');
    assertAttributeName(name);
    if (value === null || value === undefined) {
      this.removeAttribute(name);
      return;
    }
    assertStorable(name, value);
    this.makeLive();
    const { attributes } = this.state;
    const had = attributes.has(name);
    const old = attributes.get(name);
    attributes.set(name, value);
    this.state.noteChange(name, value);
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
    const { attributes } = this.state;
    if (!attributes.has(name)) return;
    const value = attributes.get(name);
    attributes.delete(name);
    this.state.noteChange(name, REMOVED);
    this.notifyBinding(value, 'valueUnbound', name);
    this.host.events.fire('attributeRemoved', { ...this.base(), session: this, name, value });
  }

  invalidate(): void {
    this.assertValid('invalidate');
    this.destroy('invalidated');
    if (this.parent) this.parent.state.noteSubsession(this.name!, false); // its list of subsessions changed
  }

  /** Ends the session in this request: subsessions first (`parent-destroyed`), then itself. */
  private destroy(reason: 'invalidated' | 'parent-destroyed'): void {
    for (const sub of this.heldSubsessions()) if (sub.state.status === 'live') sub.destroy('parent-destroyed');
    const { state } = this;
    const wasLive = state.status === 'live';
    state.status = 'invalid';
    if (wasLive) {
      // Servlet 2.4+ order: sessionDestroyed while the attributes are readable, then each removal.
      const attributes = state.snapshot();
      this.host.events.fire('sessionDestroyed', {
        ...this.base(),
        reason,
        attributes,
        creationTime: state.creationTime,
        lastAccessedTime: state.lastAccessedTime,
      });
      for (const [name, value] of Object.entries(attributes)) {
        this.notifyBinding(value, 'valueUnbound', name);
        this.host.events.fire('attributeRemoved', { ...this.base(), session: this, name, value });
      }
    }
    state.attributes.clear();
    this.host.invalidated(this);
  }

  isNew(): boolean {
    this.assertValid('isNew');
    return this.state.fresh;
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
    const existing = this.subs?.get(name);
    if (existing && existing.state.status === 'live') {
      existing.state.used = true;
      return existing;
    }
    if (options.create === false) return null;
    this.makeLive();
    const state = new SessionState({
      app: this.app,
      status: 'live',
      creationTime: this.host.start,
      lastAccessedTime: this.host.start,
      timeout: timeout === undefined ? undefined : timeout <= 0 ? -1 : timeout,
    });
    state.fresh = true;
    state.dirty = true;
    state.used = true;
    const sub = new ServletSession(this.host, state, { session: this, name });
    if (existing) this.host.retire(existing);
    this.hold(name, sub);
    this.state.noteSubsession(name, true);
    this.host.subsessionCreated(sub);
    return sub;
  }

  getSubsessionNames(): string[] {
    this.assertValid('getSubsessionNames');
    return this.heldSubsessions().filter((s) => s.state.status === 'live').map((s) => s.name!);
  }

  /** The subsessions this request holds (live or invalidated in it). */
  heldSubsessions(): ServletSession[] {
    return this.subs ? [...this.subs.values()] : [];
  }

  /** Holds `sub` as this request's subsession `name` (a loaded one, or one just created). */
  hold(name: string, sub: ServletSession): void {
    (this.subs ??= new Map()).set(name, sub);
  }

  getParent(): ServletSession | null {
    this.assertValid('getParent');
    return this.parent ?? null;
  }

  /** The pending session becomes a real one (first write or `getSession()`). */
  makeLive(): void {
    if (this.state.status === 'pending') this.host.activate(this);
  }

  private base(): { id: string; app: string; subsession?: string } {
    return this.name === undefined ? { id: this.getId(), app: this.app } : { id: this.getId(), app: this.app, subsession: this.name };
  }

  private assertValid(method: string): void {
    if (this.state.status === 'invalid') throw new IllegalStateError(`${method}: the session has been invalidated`);
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
