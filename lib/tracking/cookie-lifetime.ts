import type { SessionState } from '../session/session-state';

/**
 * Persistent cookies (docs/architecture.md, "express-session compatibility"):
 * a session's cookie lifetime is its own (`req.session.cookie.maxAge`,
 * "remember me") or the manager's `cookie.maxAge`. So that an active user's
 * cookie never lapses mid-session, the cookie is sent again, with a fresh
 * `Max-Age`, by a request that uses the session once its last `Set-Cookie`
 * is older than a tenth of the lifetime; when it was sent is kept in the
 * record (`esm.k`).
 */

/** The share of a lifetime after which the cookie is sent again. */
const RESEND_AFTER = 0.1;

/** A session's cookie lifetime in ms; `undefined`: a browser-session cookie. */
export function cookieLifetime(state: SessionState, managerMs: number | undefined): number | undefined {
  const own = state.cookieMaxAge;
  if (own === undefined) return managerMs;
  return own < 0 ? undefined : own;
}

/** Records that the cookie of `state` goes out in this response (sent at `now`), and is written with the record. */
export function sendCookie(state: SessionState, now: number): void {
  state.cookieSentAt = now;
  state.cookieChanged = true;
  state.cookieDue = true;
  state.dirty = true;
}

/** Whether a session used at `now` should send its persistent cookie again. */
export function cookieResendDue(state: SessionState, managerMs: number | undefined, now: number): boolean {
  const lifetime = cookieLifetime(state, managerMs);
  if (lifetime === undefined) return false;
  const sentAt = state.cookieSentAt;
  return sentAt === undefined || now - sentAt >= lifetime * RESEND_AFTER;
}
