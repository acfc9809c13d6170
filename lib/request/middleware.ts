import { IncomingMessage } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ConfigurationError, IllegalStateError } from '../errors';
import type { ServletSession } from '../session/http-session';
import { RequestContext } from './request-context';
import type { AppContext, SessionRuntime } from '../manager/runtime';

const kContext = Symbol('express-session-management.context');

/** A request as the middleware leaves it, with its context. */
type ManagedRequest = Request & { [kContext]?: RequestContext };

/** Builds the per-app middleware (DESIGN §3). */
export function createMiddleware(runtime: SessionRuntime, app: AppContext): RequestHandler {
  return function sessionManagement(req: Request, res: Response, next: NextFunction): void {
    const managed = req as ManagedRequest;
    const existing = managed[kContext];
    if (existing && existing.appContext === app) {
      next(); // the same app's middleware mounted twice on one path
      return;
    }
    installRequestMethods(managed);
    const context = new RequestContext(runtime, app, req, res);
    managed[kContext] = context;
    const decoded = runtime.codec.decode(runtime.tracking.read(req));
    if (!decoded) {
      managed.httpSession = context.session;
      next();
      return;
    }
    context.load(decoded).then(
      () => {
        if (context.clientGone) return; // nobody is waiting for an answer
        managed.httpSession = context.session;
        next();
      },
      (error: unknown) => {
        if (!context.clientGone) next(error);
      },
    );
  };
}

/** The middleware of a `stateless` app: no cookie read, no store, no session. */
export function createStatelessMiddleware(): RequestHandler {
  return function statelessSession(req: Request, _res: Response, next: NextFunction): void {
    const managed = req as ManagedRequest;
    installRequestMethods(managed);
    managed[kContext] = undefined;
    (managed as { httpSession?: unknown }).httpSession = undefined;
    next();
  };
}

/**
 * `manager.disconnect()`: invalidates the request's session, tells the client
 * to forget the id, and answers 204 (or 303 to `redirect`).
 */
export function createDisconnect(runtime: SessionRuntime, redirect?: string): RequestHandler {
  if (redirect !== undefined && (typeof redirect !== 'string' || redirect === '')) {
    throw new ConfigurationError(['disconnect: redirect must be a non-empty string (an address)']);
  }
  return function disconnect(req: Request, res: Response): void {
    const context = (req as ManagedRequest)[kContext];
    if (context) context.disconnect();
    else runtime.tracking.clear(res); // no session middleware on this route: nothing to end but the id
    if (redirect === undefined) res.status(204).end();
    else res.redirect(303, redirect);
  };
}

/** Request prototypes that already carry the Servlet request methods. */
const equipped = new WeakSet<object>();

/**
 * Puts the Servlet request methods, once, where Express defines `req.get`:
 * on its `request` prototype, below every app's (a mounted sub-app swaps
 * `app.request` in and out, and sees them too). No per-request cost. They
 * find the request's context through `this`; a request without one (a
 * stateless route, or no middleware) has no session.
 */
function installRequestMethods(req: ManagedRequest): void {
  let proto = Object.getPrototypeOf(req) as object;
  if (equipped.has(proto)) return;
  while (proto !== IncomingMessage.prototype) {
    const parent = Object.getPrototypeOf(proto) as object | null;
    if (parent === null || parent === IncomingMessage.prototype) break;
    proto = parent;
  }
  const methods = { getSession, getRequestedSessionId, isRequestedSessionIdValid, changeSessionId };
  if (proto === IncomingMessage.prototype) {
    Object.assign(req, methods); // not Express: own methods, per request
    return;
  }
  Object.assign(proto, methods);
  equipped.add(Object.getPrototypeOf(req) as object);
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
