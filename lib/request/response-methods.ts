import { ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { encodeUrl, type RequestOrigin } from '../tracking/url-encoding';
import { isUrlCapable } from '../tracking/url-tracking';
import { methodHome } from './method-home';
import { kContext, type ManagedRequest } from './request-methods';

/** A response as the methods see it: Express (and Node) link it to its request. */
type ManagedResponse = ServerResponse & { req?: ManagedRequest };

/** Response prototypes that already carry the methods. */
const equipped = new WeakSet<object>();

/**
 * Puts the Servlet `encodeURL` / `encodeRedirectURL` (docs/url-tracking.md)
 * once on Express's `response` prototype ({@link methodHome}), as the
 * request methods go on its `request` prototype.
 */
export function installResponseMethods(res: ServerResponse): void {
  const own = Object.getPrototypeOf(res) as object;
  if (equipped.has(own)) return;
  const methods = { encodeURL, encodeRedirectURL };
  const home = methodHome(res, ServerResponse.prototype);
  if (!home) {
    Object.assign(res, methods);
    return;
  }
  Object.assign(home, methods);
  equipped.add(own);
}

/**
 * `url` with the session id while the client is tracked by URL and the
 * request has a live session; unchanged otherwise (Servlet
 * `HttpServletResponse.encodeURL`).
 */
function encodeURL(this: ManagedResponse, url: string): string {
  const req = this.req;
  const context = req?.[kContext];
  if (!req || !context) return url;
  const { tracking, codec } = context.runtime;
  if (!isUrlCapable(tracking) || !tracking.encodesUrls(req)) return url;
  const id = idToEncode(context);
  return id === null ? url : encodeUrl(url, originOf(req), tracking.url, encodeURIComponent(codec.encode(id)));
}

/**
 * The id URLs carry: the live session's; else the requested one while
 * another app of the manager holds a session on it — apps share one id
 * (web modules), and a link from an app where the browser has no session
 * yet must not lose the others'.
 */
function idToEncode(context: NonNullable<ManagedRequest[typeof kContext]>): string | null {
  const { session } = context;
  if (session.state.status === 'live') return session.getId();
  return context.sharedId ? context.requestedId : null;
}

/** The same rules for redirects (the Servlet API keeps them apart; we have no reason to differ). */
function encodeRedirectURL(this: ManagedResponse, url: string): string {
  return encodeURL.call(this, url);
}

/** Scheme, host and browser URL of the request, as Express sees them. */
function originOf(req: ManagedRequest): RequestOrigin {
  const express = req as ManagedRequest & { protocol?: string; originalUrl?: string };
  const protocol = express.protocol ?? ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
  return { protocol, host: req.headers.host, originalUrl: express.originalUrl ?? req.url ?? '/' };
}
