import { IncomingMessage } from 'node:http';
import { IllegalStateError } from '../errors';
import type { ServletSession } from '../session/http-session';
import { installSessionAccessors, kCompat } from './express-session-accessors';
import { methodHome } from './method-home';
import type { RequestContext } from './request-context';
import { CookieTracking } from '../tracking/tracking';
import { isIdFromUrl } from '../tracking/url-tracking';

/**
 * Where a request keeps its context (one per app middleware it passed; the
 * last one wins). `Symbol.for`: one key however many copies of the package
 * a process loaded (a `require` and an `import` of different builds).
 */
export const kContext: unique symbol = Symbol.for('express-session-management.context') as never;

/** A request as the middleware leaves it, with its context. */
export type ManagedRequest = IncomingMessage & { [kContext]?: RequestContext; [kCompat]?: RequestContext; httpSession?: unknown };

/** Request prototypes that already carry the Servlet request methods. */
const equipped = new WeakSet<object>();

/**
 * Puts the Servlet request methods (and express-session's `req.session`
 * accessors), once, where Express defines `req.get` ({@link methodHome}).
 * They find the request's context through `this`; a request without one (a
 * stateless route, or no middleware) has no session.
 */
export function installRequestMethods(req: ManagedRequest): void {
  const own = Object.getPrototypeOf(req) as object;
  if (equipped.has(own)) return;
  const methods = {
    getSession,
    getRequestedSessionId,
    isRequestedSessionIdValid,
    changeSessionId,
    isRequestedSessionIdFromCookie,
    isRequestedSessionIdFromURL,
  };
  const home = methodHome(req, IncomingMessage.prototype);
  if (!home) {
    Object.assign(req, methods); // not Express: own methods, per request
    installSessionAccessors(req);
    return;
  }
  Object.assign(home, methods);
  installSessionAccessors(home);
  equipped.add(own);
}

function getSession(this: ManagedRequest, create = true): ServletSession | null {
  return this[kContext]?.getSession(create) ?? null;
}
function getRequestedSessionId(this: ManagedRequest): string | null {
  return this[kContext]?.requestedId ?? null;
}
function isRequestedSessionIdValid(this: ManagedRequest): boolean {
  return this[kContext]?.isRequestedSessionIdValid() ?? false;
}
function changeSessionId(this: ManagedRequest): string {
  const context = this[kContext];
  if (!context) throw new IllegalStateError('changeSessionId: the request has no session (stateless route?)');
  return context.changeSessionId();
}
function isRequestedSessionIdFromCookie(this: ManagedRequest): boolean {
  const context = this[kContext];
  return context !== undefined && context.requestedId !== null && context.runtime.tracking instanceof CookieTracking && !isIdFromUrl(this);
}
function isRequestedSessionIdFromURL(this: ManagedRequest): boolean {
  const context = this[kContext];
  return context !== undefined && context.requestedId !== null && isIdFromUrl(this);
}
