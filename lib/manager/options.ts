import type { Store } from 'express-session';
import type { Request } from 'express';
import type { Clock } from '../clock';
import type { Coordinator } from '../coordination/coordinator';
import type { SerialAccessSetting } from '../locking/serial-slot';

/** Options of the session cookie (`tracking: 'cookie'`). */
export interface CookieOptions {
  /**
   * Cookie name. A name starting `__Host-` (the browser's strongest scoping:
   * this host only, every path, HTTPS only) demands `secure` (`true` or
   * `'auto'`), `path: '/'` and no `domain`; one starting `__Secure-` demands
   * `secure`. Else `ConfigurationError`: the browser would drop the cookie
   * silently. @default 'JSESSIONID'
   */
  name?: string;
  /** Cookie path. @default '/' */
  path?: string;
  /** Cookie domain. @default none (host-only cookie) */
  domain?: string;
  /**
   * Send the cookie over HTTPS only. Turn on in production behind TLS.
   * `'auto'`: Secure exactly when `req.secure`, which honours Express's
   * `trust proxy` setting (behind a TLS-terminating proxy, set `trust proxy`).
   * @default false
   */
  secure?: boolean | 'auto';
  /** SameSite attribute; `false` omits it. @default 'lax' */
  sameSite?: 'lax' | 'strict' | 'none' | false;
  /** Hide the cookie from page scripts. Leave on unless you know why not. @default true */
  httpOnly?: boolean;
  /**
   * Lifetime of the browser cookie in whole seconds (express-session's is in
   * milliseconds: a value over 400 days is warned about). It does not decide
   * when the session expires (the idle timeout does). The cookie is re-sent
   * with a fresh `Max-Age` whenever the session is used and its last
   * `Set-Cookie` is older than a tenth of `maxAge`, so an active user's cookie
   * never lapses mid-session. A session may set its own
   * (`req.session.cookie.maxAge`, "remember me"). @default none: a
   * browser-session cookie
   */
  maxAge?: number;
}

/** Where the id travels in URLs (`tracking: 'url'` or `['cookie', 'url']`). */
export interface UrlOptions {
  /** Parameter name. @default 'jsessionid' */
  name?: string;
  /**
   * `'path'`: a path parameter, `/cart;jsessionid=<id>?q` (Servlet URL
   * rewriting); `'query'`: a query parameter, `/cart?q&jsessionid=<id>`.
   * @default 'path'
   */
  style?: 'path' | 'query';
}

/** Serial access settings. */
export interface SerialAccessOptions {
  /** Seconds a request may wait for its session (fractional allowed). @default 120 */
  maxWaitTime?: number;
  /** Run the request anyway (logged) when the wait times out, instead of a 503. @default false */
  accessOnTimeout?: boolean;
}

/** Where and how often the in-process sessions are saved (`persist`). */
export interface PersistOptions {
  /**
   * The snapshot file. Its directory must exist and be writable (checked at
   * startup: `ConfigurationError`); a temporary `<path>.tmp` is written
   * beside it and renamed over it.
   */
  path: string;
  /**
   * Whole seconds between snapshots, besides the one `close()` writes.
   * Hazard: without it, a crash (or a process killed without `close()`)
   * loses every change since the last start. @default none: only at `close()`
   */
  interval?: number;
}

/** Manager-level ("session manager") options. Every duration is in seconds. */
export interface SessionManagerOptions {
  /** Any express-session store. @default an in-process {@link MemoryStore} */
  store?: Store;
  /**
   * Where access times, the expiry index, locks, kill signals and the
   * session and principal indexes live. Use `redisCoordinator()` when
   * several processes share a store. Hazard: a coordinator of your own must
   * at least track access and claim sessions, and have the abilities your
   * other options need (checked at startup: `ConfigurationError`).
   * @default in-process
   */
  coordinator?: Coordinator;
  /**
   * Global idle timeout in whole seconds; `< 0` never expires. `0` is
   * rejected (it means "use the global" only at app level).
   * @default 1800
   */
  invalidationTimeout?: number;
  /**
   * Whole seconds between reaper sweeps (WebSphere's ReaperInterval).
   * @default derived from invalidationTimeout: 60–90 s under 15 minutes, else 300–360 s, drawn per process
   */
  reaperInterval?: number;
  /**
   * `true`: a session past its idle timeout is never served. `false`:
   * WebSphere behaviour, it is served until the reaper has removed it.
   * @default true
   */
  strictExpiry?: boolean;
  /**
   * Signs the id in express-session's format `s:<id>.<signature>`. The first
   * secret signs; all verify (rotation). @default none: ids are unsigned
   */
  secret?: string | string[];
  /**
   * How the id travels: a cookie, a header for cookieless clients, the URL
   * (`;jsessionid=`, written by `res.encodeURL`), or `['cookie', 'url']`: a
   * cookie, with URLs rewritten until the client sends it back
   * (docs/url-tracking.md). Hazard: ids in URLs leak through logs, history
   * and shared links. @default 'cookie'
   */
  tracking?: 'cookie' | 'header' | 'url' | readonly ['cookie', 'url'] | readonly ['url', 'cookie'];
  /** Where the id goes in URLs, with URL tracking. @default { name: 'jsessionid', style: 'path' } */
  url?: UrlOptions;
  /** Cookie settings for `tracking: 'cookie'`. */
  cookie?: CookieOptions;
  /** Header name for `tracking: 'header'`. @default 'x-session-id' */
  header?: string;
  /**
   * Requests of one session run one at a time (WebSphere's "allow serial
   * access"): `true` is `{ maxWaitTime: 120, accessOnTimeout: false }`. Off,
   * requests of one session run side by side and their commits merge: each
   * stores only what it changed (docs/architecture.md, "Commit"). Hazard: on,
   * a page's parallel requests wait for each other, and with
   * `redisCoordinator` each request pays lock round trips. Apps may set their
   * own (`middleware({ serialAccess })`). @default false
   */
  serialAccess?: boolean | SerialAccessOptions;
  /**
   * The authenticated user of a request, if any: enables finding and killing
   * sessions by user (`manager.sessions`) and binds each session to the first
   * user seen on it — another user's request with its id gets
   * `UnauthorizedSessionRequestError` (403), an anonymous one a new session.
   * Hazard: it must read the request's own authentication (a header, a token,
   * `req.user` set by middleware mounted before the sessions), never the
   * session: it is called before `req.httpSession` exists, and a session
   * whose request reads as anonymous is not served. @default none
   */
  principal?: (req: Request) => string | undefined;
  /**
   * Sessions that survive a restart: the in-process store's records and the
   * in-process coordinator's entries (deadlines, the principal index) are
   * written to `path` at `close()` and every `interval`, atomically, and
   * read back when the manager is created; `manager.ready` resolves once
   * they are, and requests, sweeps and admin calls wait for it. With an
   * external store, only the coordinator is saved. An unreadable file is
   * moved aside with a warning and the manager starts empty. Hazard: a
   * crash loses what changed since the last snapshot. @default none
   */
  persist?: PersistOptions;
  /** Seconds (fractional allowed) a store or coordinator call may take before `StoreUnavailableError`. @default 5 */
  storeTimeout?: number;
  /**
   * Absolute timeout in whole seconds (OWASP): a session older than this
   * (from `getCreationTime()`) expires however active it is — on access and
   * by the reaper, `sessionDestroyed` reason `expired`. `< 0`: none; `0` is
   * rejected. A request that is using the session when it falls due finishes
   * first (a session is never expired while in use). @default -1
   */
  maxLifetime?: number;
  /**
   * Most live sessions per app (web module) in this manager's reach — with
   * `redisCoordinator`, across every process sharing it (Tomcat's
   * `maxActiveSessions`). The request that would create one more gets
   * `TooManySessionsError` (503, `Retry-After: 60`); existing sessions are
   * unaffected. Subsessions do not count. Hazard: anyone can create sessions,
   * so a full cap keeps new visitors out until sessions expire — size it
   * for your memory, not as a rate limit. @default none
   */
  maxActiveSessions?: number;
  /**
   * With `principal`: most sessions one user may hold at once, counted over
   * every app (Spring Security's `maximumSessions`). What happens to the one
   * that would exceed it is `onMaxSessions`. @default none
   */
  maxSessionsPerPrincipal?: number;
  /**
   * With `maxSessionsPerPrincipal`: `'evict-oldest'` kills the user's least
   * recently used session (`sessionDestroyed` reason `evicted`; a request
   * running on it sees its `signal` abort), `'reject'` refuses the login:
   * the request's session is not bound, not kept, and the response is
   * `TooManySessionsError` (403). @default 'evict-oldest'
   */
  onMaxSessions?: 'evict-oldest' | 'reject';
  /**
   * With `principal`: when an anonymous session becomes bound to a user
   * (the request that logged in ends), its id changes — fixation defence by
   * default, as Spring Security does. `sessionIdChanged` fires, the response
   * carries the new id, the old id names no session. @default true
   */
  rotateOnLogin?: boolean;
  /**
   * Makes the id of each new session (express-session's `genid`). It must
   * return a fresh, unguessable string of 16–128 characters of A–Z a–z 0–9
   * `_ -` (else the request fails with `ConfigurationError`). Hazard: ids
   * that can be guessed are sessions that can be stolen. @default 256 random
   * bits, base64url
   */
  genid?: (req: Request) => string;
  /**
   * Also expose the default app's session as express-session's `req.session`,
   * `req.sessionID` and `req.sessionStore` (docs/architecture.md,
   * "express-session compatibility"), so passport, connect-flash, csrf-sync
   * and other express-session code run unchanged. Costs nothing on requests
   * that do not read them. @default true
   */
  expressSessionCompat?: boolean;
  /** Where time comes from; inject a fake one in tests. @default the system clock */
  clock?: Clock;
}

/** App-level ("web module") options of `manager.middleware()`. */
export interface AppOptions {
  /** Name of the application; its sessions are invisible to other apps. @default 'default' */
  app?: string;
  /** Idle timeout of this app's sessions in whole seconds; `0` = the manager's, `< 0` never. @default 0 */
  maxInactiveInterval?: number;
  /** Never create, load or touch a session on these routes. @default false */
  stateless?: boolean;
  /** This app's serial access (same values as the manager's option). @default the manager's */
  serialAccess?: boolean | SerialAccessOptions;
}

/** Options of `sessionManagement()`: manager and app options together. */
export type SessionManagementOptions = SessionManagerOptions & AppOptions;

/** Manager options with defaults applied. Durations in milliseconds. */
export interface ResolvedManagerOptions {
  store: Store | undefined;
  coordinator: Coordinator | undefined;
  /** ms; `null` = never. */
  invalidationTimeoutMs: number | null;
  reaperInterval: number | undefined;
  strictExpiry: boolean;
  secrets: string[] | undefined;
  /** `'cookie+url'`: `['cookie', 'url']`. */
  tracking: 'cookie' | 'header' | 'url' | 'cookie+url';
  url: { name: string; style: 'path' | 'query' };
  cookie: Required<Omit<CookieOptions, 'domain' | 'maxAge'>> & Pick<CookieOptions, 'domain' | 'maxAge'>;
  /** `cookie.maxAge` in ms; `undefined`: a browser-session cookie. */
  cookieMaxAgeMs: number | undefined;
  header: string;
  serialAccess: SerialAccessSetting | false;
  principal: ((req: Request) => string | undefined) | undefined;
  storeTimeoutMs: number;
  clock: Clock | undefined;
  persist: { path: string; intervalMs: number | undefined } | undefined;
  genid: ((req: Request) => string) | undefined;
  expressSessionCompat: boolean;
  /** ms; `null` = none. */
  maxLifetimeMs: number | null;
  maxActiveSessions: number | undefined;
  maxSessionsPerPrincipal: number | undefined;
  onMaxSessions: 'evict-oldest' | 'reject';
  rotateOnLogin: boolean;
}

/** App options with defaults applied. */
export interface ResolvedAppOptions {
  app: string;
  /** Seconds as given: 0 = the manager's, < 0 never. */
  maxInactiveInterval: number;
  stateless: boolean;
  /** `undefined`: the manager's. */
  serialAccess: SerialAccessSetting | false | undefined;
}

export const MANAGER_OPTION_NAMES: readonly (keyof SessionManagerOptions)[] = [
  'store', 'coordinator', 'invalidationTimeout', 'reaperInterval', 'strictExpiry', 'secret',
  'tracking', 'url', 'cookie', 'header', 'serialAccess', 'principal', 'storeTimeout', 'clock', 'persist', 'genid',
  'expressSessionCompat', 'maxLifetime', 'maxActiveSessions', 'maxSessionsPerPrincipal', 'onMaxSessions', 'rotateOnLogin',
];
export const APP_OPTION_NAMES: readonly (keyof AppOptions)[] = ['app', 'maxInactiveInterval', 'stateless', 'serialAccess'];
export const COOKIE_OPTION_NAMES: readonly (keyof CookieOptions)[] = [
  'name', 'path', 'domain', 'secure', 'sameSite', 'httpOnly', 'maxAge',
];
export const URL_OPTION_NAMES: readonly (keyof UrlOptions)[] = ['name', 'style'];
export const PERSIST_OPTION_NAMES: readonly (keyof PersistOptions)[] = ['path', 'interval'];
export const SERIAL_ACCESS_OPTION_NAMES: readonly (keyof SerialAccessOptions)[] = ['maxWaitTime', 'accessOnTimeout'];
