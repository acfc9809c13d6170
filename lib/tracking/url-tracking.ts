import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedManagerOptions } from '../manager/options';
import { CookieTracking, HeaderTracking, type SessionTracking } from './tracking';
import { takeIdFromUrl, type UrlParameter } from './url-parameter';

/**
 * URL session tracking (docs/url-tracking.md; docs/architecture.md, "URL
 * tracking"): the id read from `;jsessionid=` (or `?jsessionid=`) and
 * removed from `req.url` before routing, so routes match as if it were
 * absent (`req.originalUrl` keeps it). Read once per request, by
 * `manager.urlTracking()` or the first session middleware, whichever runs
 * first; the others find what it read on the request.
 */

/**
 * Where a request keeps what was read from its URL. `Symbol.for`: one key
 * however many copies of the package a process loaded.
 */
const kUrlId: unique symbol = Symbol.for('express-session-management.url-id') as never;

/** What the request's URL and cookie said about its id. */
interface UrlIdState {
  /** The raw id in the URL (one, well-sized), if any. */
  raw: string | undefined;
  /** The id the session middleware used came from the URL. */
  fromUrl: boolean;
  /** The session cookie came back: the client keeps cookies, URLs need no id. */
  cookieBack: boolean;
}

type UrlRequest = IncomingMessage & { [kUrlId]?: UrlIdState };

/**
 * Takes the id out of `req.url` (once per request) and returns its raw
 * value. A URL that carried the parameter (even a bad one) is shown in the
 * browser's address bar with the id: its response gets `Referrer-Policy:
 * no-referrer`, so the id does not travel to other sites in `Referer`.
 */
export function takeUrlId(req: IncomingMessage, res: ServerResponse | undefined, parameter: UrlParameter): string | undefined {
  const request = req as UrlRequest;
  const known = request[kUrlId];
  if (known) return known.raw;
  const found = takeIdFromUrl(req.url ?? '/', parameter);
  request[kUrlId] = { raw: found.raw, fromUrl: false, cookieBack: false };
  if (!found.present) return undefined;
  req.url = found.url;
  if (res && !res.headersSent) res.setHeader('Referrer-Policy', 'no-referrer');
  return found.raw;
}

/** Whether the id the session middleware read came from the URL (`req.isRequestedSessionIdFromURL()`). */
export function isIdFromUrl(req: IncomingMessage): boolean {
  return (req as UrlRequest)[kUrlId]?.fromUrl === true;
}

/** A tracking that may carry the id in URLs: `res.encodeURL` asks it. */
export interface UrlCapableTracking extends SessionTracking {
  readonly url: UrlParameter;
  /** Whether this client is tracked by URL: its URLs get the id. */
  encodesUrls(req: IncomingMessage): boolean;
}

/** Whether `tracking` may carry the id in URLs. */
export function isUrlCapable(tracking: SessionTracking): tracking is UrlCapableTracking {
  return (tracking as Partial<UrlCapableTracking>).url !== undefined;
}

/** `tracking: 'url'`: the id travels only in URLs; nothing is set on the response (`res.encodeURL` carries it). */
export class UrlTracking implements UrlCapableTracking {
  constructor(readonly url: UrlParameter) {}

  read(req: IncomingMessage, res?: ServerResponse): string | undefined {
    const raw = takeUrlId(req, res, this.url);
    if (raw !== undefined) (req as UrlRequest)[kUrlId]!.fromUrl = true;
    return raw;
  }

  write(): void {}

  clear(): void {}

  encodesUrls(): boolean {
    return true;
  }
}

/**
 * `tracking: ['cookie', 'url']`: a cookie, with URL rewriting until the
 * client sends the cookie back (Servlet behaviour). A request with the
 * cookie uses it; the URL's id only when no cookie came.
 */
export class CookieOrUrlTracking extends CookieTracking implements UrlCapableTracking {
  constructor(
    cookie: ResolvedManagerOptions['cookie'],
    readonly url: UrlParameter,
  ) {
    super(cookie);
  }

  override read(req: IncomingMessage, res?: ServerResponse): string | undefined {
    const fromUrl = takeUrlId(req, res, this.url); // always: routes must match without it
    const fromCookie = super.read(req);
    const state = (req as UrlRequest)[kUrlId]!;
    if (fromCookie) {
      state.cookieBack = true;
      return fromCookie;
    }
    if (fromUrl !== undefined) state.fromUrl = true;
    return fromUrl;
  }

  encodesUrls(req: IncomingMessage): boolean {
    return (req as UrlRequest)[kUrlId]?.cookieBack !== true;
  }
}

/** Picks the tracking the options ask for (docs/architecture.md, "URL tracking"). */
export function createTracking(options: ResolvedManagerOptions): SessionTracking {
  switch (options.tracking) {
    case 'header':
      return new HeaderTracking(options.header);
    case 'url':
      return new UrlTracking(options.url);
    case 'cookie+url':
      return new CookieOrUrlTracking(options.cookie, options.url);
    default:
      return new CookieTracking(options.cookie);
  }
}

/** Takes the id out of `req.url` when `tracking` reads URLs; otherwise the URL is left alone (its id is ignored). */
export function stripUrlId(tracking: SessionTracking, req: IncomingMessage, res: ServerResponse): void {
  if (isUrlCapable(tracking)) takeUrlId(req, res, tracking.url);
}

/**
 * `manager.urlTracking()`: the id taken out of `req.url` before routers
 * mounted ahead of the session middleware see it. Passes through when
 * `tracking` does not include `'url'`.
 */
export function createUrlTrackingMiddleware(
  tracking: SessionTracking,
): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return function urlTracking(req, res, next): void {
    stripUrlId(tracking, req, res);
    next();
  };
}
