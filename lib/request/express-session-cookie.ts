import type { ServletSession } from '../session/http-session';
import { cookieLifetime, sendCookie } from '../tracking/cookie-lifetime';
import { CookieTracking } from '../tracking/tracking';
import type { RequestContext } from './request-context';

/** What `req.session.cookie` serialises to (express-session's `Cookie#toJSON`). */
export interface CookieJSON {
  originalMaxAge: number | null;
  expires: Date | null;
  secure: boolean;
  httpOnly: boolean;
  domain: string | undefined;
  path: string;
  sameSite: 'lax' | 'strict' | 'none' | boolean;
}

/**
 * express-session's `req.session.cookie` over one session
 * (docs/architecture.md, "express-session compatibility"). Times are in ms,
 * as there. `maxAge` and `expires` are the session's own: assigning one
 * gives the session a persistent cookie of that lifetime ("remember me";
 * `null` a browser-session cookie), re-sends the cookie, and raises the
 * session's idle timeout to at least that long. `path`, `domain`,
 * `secure`, `httpOnly` and `sameSite` are the manager's `cookie` options,
 * the same for every session: read-only here.
 */
export class SessionCookie {
  constructor(
    private readonly context: RequestContext,
    private readonly session: ServletSession,
  ) {}

  /** The lifetime the cookie was given (ms), `null` for a browser-session cookie. */
  get originalMaxAge(): number | null {
    return this.lifetime() ?? null;
  }

  /** What is left of the cookie's lifetime (ms), `null` for a browser-session cookie. */
  get maxAge(): number | null {
    const expires = this.expiresAt();
    return expires === null ? null : expires - this.context.runtime.clock.now();
  }

  set maxAge(ms: number | null) {
    this.setLifetime(ms);
  }

  /** When the cookie lapses, `null` for a browser-session cookie. */
  get expires(): Date | null {
    const expires = this.expiresAt();
    return expires === null ? null : new Date(expires);
  }

  set expires(date: Date | null) {
    if (date !== null && !(date instanceof Date)) throw new TypeError('req.session.cookie.expires must be a Date or null');
    this.setLifetime(date === null ? null : Math.max(0, date.getTime() - this.context.runtime.clock.now()));
  }

  get path(): string {
    return this.options.path;
  }

  get domain(): string | undefined {
    return this.options.domain;
  }

  get httpOnly(): boolean {
    return this.options.httpOnly;
  }

  get sameSite(): 'lax' | 'strict' | 'none' | boolean {
    return this.options.sameSite;
  }

  /** Whether the cookie goes out Secure on this response (`'auto'`: whether the request is secure). */
  get secure(): boolean {
    const { tracking } = this.context.runtime;
    return tracking instanceof CookieTracking ? tracking.isSecure(this.context.res) : false;
  }

  toJSON(): CookieJSON {
    const { originalMaxAge, expires, secure, httpOnly, domain, path, sameSite } = this;
    return { originalMaxAge, expires, secure, httpOnly, domain, path, sameSite };
  }

  /**
   * Takes the lifetime of another session's cookie (passport's
   * `keepSessionInfo` copies `cookie` across at login): a persistent one
   * carries over, anything else changes nothing.
   */
  adopt(other: unknown): void {
    if (other === this || typeof other !== 'object' || other === null) return;
    const lifetime = (other as { originalMaxAge?: unknown }).originalMaxAge;
    if (typeof lifetime === 'number' && lifetime !== this.lifetime()) this.setLifetime(lifetime);
  }

  private get options(): { path: string; domain?: string; httpOnly: boolean; sameSite: 'lax' | 'strict' | 'none' | false } {
    return this.context.runtime.cookieOptions;
  }

  private lifetime(): number | undefined {
    return cookieLifetime(this.session.state, this.context.runtime.cookieMaxAgeMs);
  }

  private expiresAt(): number | null {
    const lifetime = this.lifetime();
    if (lifetime === undefined) return null;
    return (this.session.state.cookieSentAt ?? this.context.start) + lifetime;
  }

  /** The session's own cookie lifetime (see the class comment). */
  private setLifetime(ms: number | null | undefined): void {
    if (ms !== null && ms !== undefined && (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)) {
      throw new TypeError(`req.session.cookie.maxAge must be a number of milliseconds or null, not ${String(ms)}`);
    }
    const { session } = this;
    const { state } = session;
    if (state.status === 'invalid') return;
    const own = ms === null || ms === undefined ? -1 : Math.round(ms);
    if ((own < 0 ? undefined : own) === this.lifetime()) return;
    session.makeLive();
    state.cookieMaxAge = own;
    sendCookie(state, this.context.runtime.clock.now());
    if (!this.context.res.headersSent) this.context.hooks.hookHeaders();
    const seconds = Math.ceil(own / 1000);
    const timeout = session.effectiveTimeout();
    if (own > 0 && timeout !== -1 && timeout < seconds) session.setMaxInactiveInterval(seconds);
  }
}
