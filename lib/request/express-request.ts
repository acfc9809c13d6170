/**
 * What the middleware adds to Express's `Request`. Shipped inside the
 * package's type declarations, so `req.httpSession` is typed for every user
 * who imports `express-session-management` — no casts.
 */
import type { HttpSession } from '../session/http-session';
// express-session's own declarations type `req.session` (`Session & Partial<SessionData>`, which
// users augment), `req.sessionID` and `req.sessionStore`: the middleware provides them
// (docs/architecture.md, "express-session compatibility"). @types/express-session is a dependency.
import type {} from 'express-session';

declare global {
  namespace Express {
    interface Request {
      /**
       * The session of this request for the app of the middleware: the live one
       * the client named, or a pending one that is created by its first write.
       * `undefined` on `stateless` routes.
       */
      httpSession: HttpSession;
      /** The session, creating (storing, sending the id) when absent — the Servlet `getSession()`. */
      getSession(): HttpSession;
      getSession(create: true): HttpSession;
      /** The session, or `null` when there is none and none was created in this request. */
      getSession(create: false): HttpSession | null;
      getSession(create?: boolean): HttpSession | null;
      /** The id the client sent (within a valid signature), even if it names no live session. */
      getRequestedSessionId(): string | null;
      /** Whether the requested id names the live session of this request. */
      isRequestedSessionIdValid(): boolean;
      /** Gives the session a new id, keeping its data (call it at login); returns the new id. */
      changeSessionId(): string;
      /** Whether the requested id came in the session cookie (Servlet API). */
      isRequestedSessionIdFromCookie(): boolean;
      /** Whether the requested id came in the URL (`;jsessionid=`, docs/url-tracking.md). */
      isRequestedSessionIdFromURL(): boolean;
    }
    interface Response {
      /**
       * `url` with the session id added while this client is tracked by URL
       * (no cookie came back); unchanged otherwise, and for other origins,
       * `javascript:` and `data:` URLs (docs/url-tracking.md).
       */
      encodeURL(url: string): string;
      /** {@link Response.encodeURL}, for `res.redirect(res.encodeRedirectURL(url))`. */
      encodeRedirectURL(url: string): string;
    }
  }
}
