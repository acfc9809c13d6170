import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ConfigurationError } from '../errors';
import type { AppContext, SessionRuntime } from '../manager/runtime';
import { DEFAULT_APP } from '../storage/session-key';
import { kCompat, mayProvideSession } from './express-session-accessors';
import { RequestContext } from './request-context';
import { installRequestMethods, kContext, type ManagedRequest } from './request-methods';
import { installResponseMethods } from './response-methods';
import type { SessionTracking } from '../tracking/tracking';
import { stripUrlId } from '../tracking/url-tracking';

/** Builds the per-app middleware (docs/architecture.md, "The request path"). */
export function createMiddleware(runtime: SessionRuntime, app: AppContext): RequestHandler {
  // express-session's req.session is the default app's (docs/architecture.md, "express-session compatibility").
  const compat = runtime.expressSessionCompat && app.name === DEFAULT_APP;
  return function sessionManagement(req: Request, res: Response, next: NextFunction): void {
    const managed = req as ManagedRequest;
    const existing = managed[kContext];
    if (existing && existing.appContext === app) {
      next(); // the same app's middleware mounted twice on one path
      return;
    }
    installRequestMethods(managed);
    installResponseMethods(res);
    const context = new RequestContext(runtime, app, req, res);
    managed[kContext] = context;
    const decoded = runtime.codec.decode(runtime.tracking.read(req, res));
    if (compat) {
      try {
        if (mayProvideSession(req, runtime.store.store, decoded?.id)) managed[kCompat] = context;
      } catch (error) {
        next(error);
        return;
      }
    }
    if (!decoded) {
      managed.httpSession = context.session;
      next();
      return;
    }
    let loading: Promise<void> | undefined;
    try {
      loading = context.load(decoded);
    } catch (error) {
      loadFailed(context, next, error);
      return;
    }
    if (!loading) {
      managed.httpSession = context.session; // loaded at once (in process)
      next();
      return;
    }
    loading.then(() => {
      if (context.clientGone) return; // nobody is waiting for an answer
      managed.httpSession = context.session;
      next();
    }, (error: unknown) => loadFailed(context, next, error));
  };
}

/** The middleware of a `stateless` app: no cookie read, no store, no session (a URL's id is only taken out). */
export function createStatelessMiddleware(tracking: SessionTracking): RequestHandler {
  return function statelessSession(req: Request, res: Response, next: NextFunction): void {
    const managed = req as ManagedRequest;
    installRequestMethods(managed);
    installResponseMethods(res);
    stripUrlId(tracking, req, res);
    managed[kContext] = undefined;
    if (managed[kCompat]) managed[kCompat] = undefined;
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

/** A load that failed: the error goes to Express's error handlers, unless the client left. */
function loadFailed(context: RequestContext, next: NextFunction, error: unknown): void {
  const { instruments } = context.runtime;
  if (instruments.active) instruments.rejected(statusOf(error));
  if (!context.clientGone) next(error);
}

/** The HTTP status an error of the request path answers with (500 for one without). */
function statusOf(error: unknown): number {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : 500;
}
