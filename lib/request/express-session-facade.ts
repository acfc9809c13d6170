import createDebug from 'debug';
import type { ServletSession } from '../session/http-session';
import { cookieLifetime, sendCookie } from '../tracking/cookie-lifetime';
import { SessionCookie } from './express-session-cookie';
import type { RequestContext } from './request-context';
import { reloadSession } from './session-reload';

const debug = createDebug('express-session-management');

/** A Node-style callback, as express-session's session methods take. */
type Callback = (err?: unknown) => void;

/** Names that are the session's methods and fields, never attributes. */
const OWN = new Set(['regenerate', 'destroy', 'save', 'reload', 'touch', 'resetMaxAge', 'id', 'cookie']);

/**
 * `req.session` as express-session shapes it, over the request's
 * `HttpSession` (docs/architecture.md, "express-session compatibility"):
 * properties are attributes (same rules, same events, nested changes
 * noticed), and the methods are express-session's. One view per session:
 * after `regenerate()` the old view still reads what its session held
 * (passport's `keepSessionInfo` copies it across), but changes nothing.
 */
class SessionView implements ProxyHandler<object> {
  /** The attributes as they were when `regenerate()` or `destroy()` ended the session. */
  private kept: Record<string, unknown> | undefined;
  private cookieView: SessionCookie | undefined;
  private methods: Record<string, unknown> | undefined;
  readonly proxy: object;

  constructor(
    private readonly context: RequestContext,
    readonly session: ServletSession,
  ) {
    this.proxy = new Proxy({}, this);
  }

  get(target: object, name: string | symbol, receiver: unknown): unknown {
    if (typeof name === 'symbol' || name in Object.prototype) return Reflect.get(target, name, receiver);
    if (OWN.has(name)) return this.own(name);
    return this.read(name);
  }

  set(_target: object, name: string | symbol, value: unknown): boolean {
    if (typeof name === 'symbol' || (OWN.has(name) && name !== 'cookie')) return false;
    const { session } = this;
    if (session.state.status === 'invalid') return true; // an ended session's view changes nothing
    if (name === 'cookie') {
      this.cookie().adopt(value);
      return true;
    }
    if (value === undefined) {
      session.removeAttribute(name);
      return true;
    }
    // The value it holds already (`req.session.flash = req.session.flash || {}`): nothing to write
    // unless it changed in place, which the commit notices.
    if (session.state.attributes.get(name) === value) return true;
    session.setAttribute(name, value);
    return true;
  }

  deleteProperty(_target: object, name: string | symbol): boolean {
    if (typeof name === 'symbol' || OWN.has(name)) return false;
    if (this.session.state.status !== 'invalid') this.session.removeAttribute(name);
    return true;
  }

  has(_target: object, name: string | symbol): boolean {
    if (typeof name === 'symbol') return false;
    return OWN.has(name) || this.names().includes(name);
  }

  ownKeys(): string[] {
    return [...this.names().filter((name) => name !== 'cookie'), 'cookie'];
  }

  getOwnPropertyDescriptor(_target: object, name: string | symbol): PropertyDescriptor | undefined {
    if (typeof name === 'symbol' || (name !== 'cookie' && !this.names().includes(name))) return undefined;
    return { value: name === 'cookie' ? this.cookie() : this.read(name), writable: true, enumerable: true, configurable: true };
  }

  defineProperty(target: object, name: string | symbol, descriptor: PropertyDescriptor): boolean {
    return 'value' in descriptor && this.set(target, name, descriptor.value);
  }

  /** Keeps what the session holds, for this view to show once the session has ended. */
  keep(): void {
    if (this.session.state.status === 'live') this.kept = this.session.state.snapshot();
  }

  private read(name: string): unknown {
    const { session } = this;
    if (session.state.status === 'invalid') return this.kept?.[name];
    return session.getAttribute(name);
  }

  private names(): string[] {
    const { session } = this;
    if (session.state.status === 'invalid') return this.kept ? Object.keys(this.kept) : [];
    return session.getAttributeNames();
  }

  private cookie(): SessionCookie {
    return (this.cookieView ??= new SessionCookie(this.context, this.session));
  }

  private own(name: string): unknown {
    if (name === 'id') return this.session.getId();
    if (name === 'cookie') return this.cookie();
    this.methods ??= {
      regenerate: (cb?: Callback) => this.regenerate(cb),
      destroy: (cb?: Callback) => this.destroy(cb),
      save: (cb?: Callback) => this.save(cb),
      reload: (cb?: Callback) => this.reload(cb),
      touch: () => this.proxy,
      resetMaxAge: () => this.resetMaxAge(),
    };
    return this.methods[name];
  }

  /** Ends the request's session and gives it a new, empty, pending one with a new id. */
  private regenerate(cb: Callback | undefined): void {
    const current = this.context.session;
    viewOf(this.context, current).keep();
    if (current.state.status === 'live') current.invalidate();
    this.context.replaceSession();
    this.context.compatGone = undefined;
    later(cb);
  }

  /** Ends the session; `req.session` is then `undefined` for the rest of the request. */
  private destroy(cb: Callback | undefined): void {
    const { session, context } = this;
    this.keep();
    if (session.state.status === 'live') session.invalidate();
    if (context.session === session) context.compatGone = session;
    later(cb);
  }

  /** Makes the session live and writes it now; the callback once the store has it. */
  private save(cb: Callback | undefined): void {
    const { session, context } = this;
    if (session.state.status === 'invalid') {
      later(cb);
      return;
    }
    try {
      session.makeLive();
    } catch (error) {
      later(cb, error);
      return;
    }
    context.save(session).then(
      () => later(cb),
      (error: unknown) => {
        debug('save() of a session failed: %O', error);
        later(cb, error);
      },
    );
  }

  /** Reads the session again from the store: this request's changes are dropped. */
  private reload(cb: Callback | undefined): void {
    reloadSession(this.context, this.session).then(
      () => later(cb),
      (error: unknown) => later(cb, error),
    );
  }

  /** Sends a persistent cookie again with its whole lifetime. */
  private resetMaxAge(): object {
    const { session, context } = this;
    if (session.state.status === 'live' && cookieLifetime(session.state, context.runtime.cookieMaxAgeMs) !== undefined) {
      sendCookie(session.state, context.runtime.clock.now());
      if (!context.res.headersSent) context.hooks.hookHeaders();
    }
    return this.proxy;
  }
}

/** The view of `session` in this request (made on first use; the last one made is kept). */
function viewOf(context: RequestContext, session: ServletSession): SessionView {
  const cached = context.compatView;
  if (cached && cached.session === session) return cached.view as SessionView;
  const view = new SessionView(context, session);
  context.compatView = { session, view };
  return view;
}

/** `req.session`: the view of the request's session, or `undefined` after `destroy()`. */
export function sessionView(context: RequestContext): object | undefined {
  const { session } = context;
  if (context.compatGone === session) return undefined;
  return viewOf(context, session).proxy;
}

/** `req.sessionID`: the id of a live session, else `undefined` (reading it creates nothing). */
export function sessionIdOf(context: RequestContext): string | undefined {
  const { session } = context;
  return session.state.status === 'live' ? session.getId() : undefined;
}

/** Calls back on a later tick, as express-session's store callbacks do (never inside a promise chain). */
function later(cb: Callback | undefined, error?: unknown): void {
  if (typeof cb !== 'function') return;
  if (error === undefined) process.nextTick(cb);
  else process.nextTick(cb, error);
}
