import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { IllegalStateError } from './errors';
import type { ServletSession } from './http-session';
import { RequestContext } from './request-context';
import type { AppContext, SessionRuntime } from './runtime';

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
    const context = new RequestContext(runtime, app, req, res);
    managed[kContext] = context;
    const decoded = runtime.codec.decode(runtime.tracking.read(req));
    if (!decoded) {
      expose(managed, context);
      next();
      return;
    }
    context.load(decoded).then(() => {
      expose(managed, context);
      next();
    }, next);
  };
}

/** The middleware of a `stateless` app: no cookie read, no store, no session. */
export function createStatelessMiddleware(): RequestHandler {
  return function statelessSession(req: Request, _res: Response, next: NextFunction): void {
    const plain = req as unknown as Record<string, unknown>;
    plain.httpSession = undefined;
    plain.getSession = noSession;
    plain.getRequestedSessionId = noId;
    plain.isRequestedSessionIdValid = notValid;
    plain.changeSessionId = noSessionToChange;
    next();
  };
}

/** Puts the session and the Servlet request methods on `req`. */
function expose(req: ManagedRequest, context: RequestContext): void {
  req.httpSession = context.session;
  req.getSession = getSession as Request['getSession'];
  req.getRequestedSessionId = getRequestedSessionId;
  req.isRequestedSessionIdValid = isRequestedSessionIdValid;
  req.changeSessionId = changeSessionId;
}

// Shared functions (not closures per request) that find the context through `this`.
function contextOf(req: ManagedRequest): RequestContext {
  return req[kContext]!;
}
function getSession(this: ManagedRequest, create = true): ServletSession | null {
  return contextOf(this).getSession(create);
}
function getRequestedSessionId(this: ManagedRequest): string | null {
  return contextOf(this).requestedId;
}
function isRequestedSessionIdValid(this: ManagedRequest): boolean {
  return contextOf(this).isRequestedSessionIdValid();
}
function changeSessionId(this: ManagedRequest): string {
  return contextOf(this).changeSessionId();
}
function noSession(): null {
  return null;
}
function noId(): null {
  return null;
}
function notValid(): boolean {
  return false;
}
function noSessionToChange(): never {
  throw new IllegalStateError('changeSessionId: this route is stateless');
}
