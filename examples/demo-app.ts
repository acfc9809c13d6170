/**
 * The demo app: three applications ("web modules") of ONE session manager,
 * each a page showing your session in that app, forms that call the
 * HttpSession API, and a log of the manager's events.
 *
 * - `/`      the default app (the manager's 30-minute idle timeout)
 * - `/shop`  a cart, and a `checkout` subsession with its own 2-minute timeout
 * - `/bank`  a balance, and a 5-minute idle timeout
 * - `/admin/` the admin page: every session of every app, kill buttons, stats
 *   (from loopback only)
 *
 * The apps share one session id (one cookie) and never data. A login form
 * (a plain `demo_user` cookie standing in for real authentication) binds
 * sessions to a user, so the admin page can find and kill them by user.
 *
 * Tracking is `['cookie', 'url']` (docs/url-tracking.md): every link, form
 * action and redirect goes through `res.encodeURL`, so a browser that
 * blocks cookies keeps its session through `;jsessionid=` in the URLs. Such
 * a browser's login lives in the default app's session (as a servlet form
 * login's does); without the `demo_user` cookie, its sessions are not bound
 * to the user.
 * `examples/demo.ts` serves it; `test/demo.test.ts` drives it with supertest.
 */
import type { IncomingMessage } from 'node:http';
import { parse as parseCookie } from 'cookie';
import express, { type Express, type Request, type Response, type Router } from 'express';
import { createSessionManager, type HttpSession, type SessionEventBase, type SessionManager, type SessionManagerOptions } from '../lib/index';

interface LogLine {
  at: number;
  event: string;
  app: string;
  subsession: string;
  detail: string;
}

/** One app of the demo: its options, and what it adds to the common page and routes. */
interface DemoApp {
  /** The app name (`AppOptions.app`) and where its router is mounted. */
  name: string;
  path: string;
  /** `AppOptions.maxInactiveInterval`: 0 = the manager's timeout. */
  maxInactiveInterval: number;
  about: string;
  /** Extra forms on the page (trusted markup: nothing the user typed); `encode` is `res.encodeURL`. */
  actions?: (encode: Encode) => string;
  routes?: (router: Router) => void;
}

const DEFAULT_APP: DemoApp = {
  name: 'default',
  path: '/',
  maxInactiveInterval: 0,
  about: 'manager.middleware() at /: the app named "default", with the manager\'s 30-minute idle timeout.',
};

const SHOP: DemoApp = {
  name: 'shop',
  path: '/shop',
  maxInactiveInterval: 0,
  about:
    'manager.middleware({ app: "shop", maxInactiveInterval: 0 }) on a router at /shop (0 = the manager\'s 30 minutes). ' +
    'The checkout is a subsession: its own attributes (reads fall back to the shop session\'s), its own 2-minute timeout. ' +
    'Only requests that get it restart its clock (this page does): go to the bank for 2 minutes and it expires, the cart stays.',
  actions: (encode) => `<h2>Cart and checkout</h2>
<form method="post" action="${encode('/shop/cart')}">
  <button name="item" value="apple">add an apple</button> <button name="item" value="pear">add a pear</button>
</form>
<form method="post" action="${encode('/shop/checkout/start')}"><button>start checkout</button></form>
<form method="post" action="${encode('/shop/checkout/next')}"><button>next step</button></form>
<form method="post" action="${encode('/shop/checkout/cancel')}"><button>cancel checkout</button></form>`,
  routes(router) {
    router.post('/cart', (req, res) => {
      const cart = req.httpSession.getAttribute<string[]>('cart') ?? [];
      req.httpSession.setAttribute('cart', [...cart, field(req, 'item')]);
      back(req, res);
    });
    router.post('/checkout/start', (req, res) => {
      // Creates the subsession (and the shop session, if need be); an existing checkout restarts at step 1.
      req.httpSession.getSubsession('checkout', { maxInactiveInterval: 120 })!.setAttribute('step', 1);
      back(req, res);
    });
    router.post('/checkout/next', (req, res) => {
      const checkout = req.getSession(false)?.getSubsession('checkout', { create: false });
      if (!checkout) return back(req, res, 'No checkout in progress (it may have expired): start one');
      checkout.setAttribute('step', (checkout.getAttribute<number>('step') ?? 0) + 1);
      back(req, res);
    });
    router.post('/checkout/cancel', (req, res) => {
      req.getSession(false)?.getSubsession('checkout', { create: false })?.invalidate(); // the shop session stays
      back(req, res);
    });
  },
};

const BANK: DemoApp = {
  name: 'bank',
  path: '/bank',
  maxInactiveInterval: 300,
  about:
    'manager.middleware({ app: "bank", maxInactiveInterval: 300 }) on a router at /bank: the same session id as the shop, ' +
    'but its own data and a 5-minute idle timeout. Invalidating it leaves the shop\'s session alone.',
  actions: (encode) => `<h2>Balance</h2>
<form method="post" action="${encode('/bank/deposit')}">
  <button name="amount" value="100">deposit 100</button> <button name="amount" value="-50">withdraw 50</button>
</form>`,
  routes(router) {
    router.post('/deposit', (req, res) => {
      const amount = Number(field(req, 'amount'));
      if (!Number.isInteger(amount)) return back(req, res, 'The amount must be a whole number');
      req.httpSession.setAttribute('balance', (req.httpSession.getAttribute<number>('balance') ?? 0) + amount);
      back(req, res);
    });
  },
};

const APPS = [DEFAULT_APP, SHOP, BANK];

/** `res.encodeURL`, escaped for an HTML attribute: the id when the browser is tracked by URL. */
type Encode = (url: string) => string;

/** The default app's attribute holding the login of a browser without cookies. */
const LOGIN_ATTRIBUTE = 'login';

/** The demo's stand-in for authentication: a cookie naming the user, set by the login form. */
const USER_COOKIE = 'demo_user';
/** The manager's default session cookie, which logging out has the browser forget. */
const SESSION_COOKIE = 'JSESSIONID';
const USER_NAME = /^[A-Za-z0-9_.@-]{1,40}$/;

/**
 * Who is logged in. A real app verifies a signed cookie or a token here; the
 * demo trusts a plain cookie. It comes from the request, never from the
 * session: `principal` decides who may use a session, so it cannot be read
 * from one (an anonymous request on a bound session gets a new session).
 */
function demoUser(req: IncomingMessage): string | undefined {
  const user = parseCookie(req.headers.cookie ?? '')[USER_COOKIE];
  return user !== undefined && USER_NAME.test(user) ? user : undefined;
}

/** Who the page says is logged in: the `demo_user` cookie, else a login kept in the default app's session (no cookies). */
function loggedIn(req: Request): string | undefined {
  const kept = req.getSession(false)?.getAttribute(LOGIN_ATTRIBUTE);
  return demoUser(req) ?? (typeof kept === 'string' ? kept : undefined);
}

/**
 * Who may use the admin page: DEMO ONLY — requests from this machine. Behind
 * a reverse proxy every request comes from loopback; a real app asks its own
 * authentication whether the user is an administrator.
 */
function fromLoopback(req: Request): boolean {
  return ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(req.socket.remoteAddress ?? '');
}

export function createDemoApp(
  options: Pick<SessionManagerOptions, 'persist' | 'tracking'> = {},
): { app: Express; manager: SessionManager } {
  // In-process store, 30-minute idle timeout. The reaper sweeps every 10 s
  // (default: every 5 min) so that a short timeout visibly ends in a
  // `sessionDestroyed ... expired` line. `principal` binds sessions to the
  // logged-in user. `persist` (given by demo.ts) keeps the sessions across restarts.
  // A cookie, and `;jsessionid=` in URLs until the browser sends the cookie back.
  const manager = createSessionManager({ reaperInterval: 10, principal: demoUser, tracking: ['cookie', 'url'], ...options });

  // The last 20 events of every session of every app, newest first. Ids are
  // shortened: a full session id is a credential.
  const log: LogLine[] = [];
  const record = (event: string, e: SessionEventBase, detail = ''): void => {
    log.unshift({ at: Date.now(), event, app: e.app, subsession: e.subsession ?? '', detail: `${e.id.slice(0, 8)}… ${detail}` });
    log.length = Math.min(log.length, 20);
  };
  manager.on('sessionCreated', (e) => record('sessionCreated', e));
  manager.on('sessionDestroyed', (e) => record('sessionDestroyed', e, `reason=${e.reason}`));
  manager.on('attributeAdded', (e) => record('attributeAdded', e, `${e.name} = ${json(e.value)}`));
  manager.on('attributeReplaced', (e) => record('attributeReplaced', e, `${e.name}: ${json(e.value)} → ${json(e.newValue)}`));
  manager.on('attributeRemoved', (e) => record('attributeRemoved', e, `${e.name} (was ${json(e.value)})`));
  manager.on('sessionIdChanged', (e) => record('sessionIdChanged', e, `from ${e.oldId.slice(0, 8)}…`));

  const app = express();
  // First: the id leaves the URL before `/shop;jsessionid=…` is matched against `/shop`.
  app.use(manager.urlTracking());
  // Before the apps: the admin page needs no session of its own.
  app.use('/admin', manager.adminRouter({ authorize: fromLoopback }));
  // The default app last: mounted at /, its middleware would otherwise also
  // run for (and keep alive the default session on) /shop and /bank requests.
  for (const demo of [SHOP, BANK, DEFAULT_APP]) app.use(demo.path, appRouter(manager, demo, log));
  return { app, manager };
}

/**
 * `POST /login` and `POST /logout`, on the default app. Logging in binds
 * this browser's sessions to the user when their next request ends;
 * logging out invalidates the default app's session and has the browser
 * forget the id (the shop's and bank's sessions stay bound to the user until
 * they expire, or an administrator kills them).
 */
function loginRoutes(router: Router, manager: SessionManager): void {
  router.post('/login', (req, res) => {
    const user = field(req, 'user').trim();
    if (!USER_NAME.test(user)) return back(req, res, 'A user name is 1-40 letters, digits or _ . @ -');
    // Another user's sessions would answer this browser with 403: start afresh.
    const previous = demoUser(req);
    if (previous !== undefined && previous !== user) res.clearCookie(SESSION_COOKIE);
    // Kept in the session too: a browser without cookies stays logged in through its URLs.
    else req.getSession().setAttribute(LOGIN_ATTRIBUTE, user);
    res.cookie(USER_COOKIE, user, { httpOnly: true, sameSite: 'lax' });
    back(req, res);
  });
  router.post(
    '/logout',
    (_req, res, next) => {
      res.clearCookie(USER_COOKIE);
      next();
    },
    manager.disconnect({ redirect: '/' }),
  );
}

/** One app: its session middleware, the common page and forms, and its own routes. */
function appRouter(manager: SessionManager, demo: DemoApp, log: LogLine[]): Router {
  const router = express.Router();
  router.use(manager.middleware({ app: demo.name, maxInactiveInterval: demo.maxInactiveInterval }));
  router.use(express.urlencoded({ extended: false }));

  router.get('/', (req, res) => {
    // getSession(false): the session if there is one, without creating it.
    const error = typeof req.query.error === 'string' ? req.query.error : undefined;
    const encode: Encode = (url) => escapeHtml(res.encodeURL(url));
    res.type('html').send(page(demo, req.getSession(false), log, error, loggedIn(req), encode));
  });

  router.post('/attributes', (req, res) => {
    try {
      req.httpSession.setAttribute(field(req, 'name'), field(req, 'value')); // the first write creates the session
      back(req, res);
    } catch (error) {
      back(req, res, (error as Error).message); // e.g. the name "__proto__"
    }
  });

  router.post('/attributes/remove', (req, res) => {
    req.getSession(false)?.removeAttribute(field(req, 'name'));
    back(req, res);
  });

  router.post('/timeout', (req, res) => {
    const seconds = Number(field(req, 'seconds'));
    if (!Number.isInteger(seconds)) return back(req, res, 'The timeout must be a whole number of seconds');
    req.httpSession.setMaxInactiveInterval(seconds); // <= 0: never expires
    back(req, res);
  });

  router.post('/invalidate', (req, res) => {
    // Listeners run now (subsessions first); the cookie is cleared only when no other app holds the id.
    req.getSession(false)?.invalidate();
    back(req, res);
  });

  if (demo === DEFAULT_APP) loginRoutes(router, manager);
  demo.routes?.(router);
  return router;
}

/** POST, then redirect (303) to the app's page, with an error to show if any. */
function back(req: Request, res: Response, error?: string): void {
  const home = req.baseUrl || '/';
  res.redirect(303, res.encodeRedirectURL(error === undefined ? home : `${home}?error=${encodeURIComponent(error)}`));
}

function field(req: Request, name: string): string {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

const NO_SESSION = 'No session in this app yet. Set an attribute to create one: reading never creates a session.';

/** The page of one app; `demo.path` prefixes its form actions. */
function page(
  demo: DemoApp,
  session: HttpSession | null,
  log: LogLine[],
  error: string | undefined,
  user: string | undefined,
  encode: Encode,
): string {
  const at = demo.path === '/' ? '' : demo.path;
  const action = (route: string): string => encode(`${at}${route}`);
  const nav = APPS.map((a) => (a === demo ? `<strong>${escapeHtml(a.name)}</strong>` : `<a href="${encode(a.path)}">${escapeHtml(a.name)}</a>`));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>express-session-management demo: ${escapeHtml(demo.name)}</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; padding: 0 1rem; }
  table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .2rem .6rem; text-align: left; }
  form { display: inline-block; margin: .3rem 0; } .error { color: #b00; } code { font-size: 13px; }
</style></head><body>
<nav>Apps of one session manager: ${nav.join(' · ')} — <a href="/admin/">admin page</a> (every session, kill buttons)</nav>
${loginForm(user, encode)}
<h1>Your session in the app "${escapeHtml(demo.name)}"</h1>
<p>${escapeHtml(demo.about)}</p>
${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
${session ? sessionSection(session, action) : `<p id="no-session">${NO_SESSION}</p>`}
${demo.actions?.(encode) ?? ''}

<h2>Set an attribute</h2>
<form method="post" action="${action('/attributes')}">
  <input name="name" placeholder="name" required> <input name="value" placeholder="value" required>
  <button>setAttribute</button>
</form>

<h2>Timeout</h2>
<form method="post" action="${action('/timeout')}">
  <button name="seconds" value="60">1 minute</button> <button name="seconds" value="1800">30 minutes</button>
  <button name="seconds" value="-1">never</button>
</form>
<form method="post" action="${action('/timeout')}">
  <input name="seconds" type="number" placeholder="seconds" required> <button>setMaxInactiveInterval</button>
</form>

<h2>End it</h2>
<form method="post" action="${action('/invalidate')}"><button>invalidate()</button></form> (this app's session only)

<h2>Events (last 20, every session of every app)</h2>
<table><tr><th>time</th><th>event</th><th>app</th><th>subsession</th><th>session, detail</th></tr>
${log.map((l) => tr(time(l.at), escapeHtml(l.event), escapeHtml(l.app), escapeHtml(l.subsession), `<code>${escapeHtml(l.detail)}</code>`)).join('\n')}
</table>
</body></html>`;
}

/** Who you are: the login form, or your name and a logout button. */
function loginForm(user: string | undefined, encode: Encode): string {
  if (user !== undefined) {
    return `<form id="login" method="post" action="${encode('/logout')}">Logged in as <strong>${escapeHtml(user)}</strong>:
your sessions are bound to you. <button>log out</button></form>`;
  }
  return `<form id="login" method="post" action="${encode('/login')}">
  <label>Log in as <input name="user" placeholder="ann" required maxlength="40"></label> <button>log in</button>
  (no password: a demo_user cookie) — binds your sessions to that user, to find and kill them on the admin page.
</form>`;
}

function sessionSection(s: HttpSession, action: (route: string) => string): string {
  const names = s.getSubsessionNames();
  const remove = (name: string): string => `<form method="post" action="${action('/attributes/remove')}">
<input type="hidden" name="name" value="${escapeHtml(name)}"><button>remove</button></form>`;
  return `<section id="session"><table>
<tr><th>id</th><td id="session-id"><code>${escapeHtml(s.getId())}</code></td></tr>
<tr><th>app</th><td>${escapeHtml(s.app)}</td></tr>
<tr><th>created</th><td>${time(s.getCreationTime())}</td></tr>
<tr><th>last accessed</th><td>${time(s.getLastAccessedTime())} (start of your previous request)</td></tr>
<tr><th>timeout</th><td id="timeout">${timeout(s.getMaxInactiveInterval())}</td></tr>
<tr><th>isNew</th><td>${s.isNew()}</td></tr>
<tr><th>subsessions</th><td>${names.length ? names.map(escape).join(', ') : 'none'}</td></tr>
</table>
<h2>Attributes</h2>
${attributeTable(s, s.getAttributeNames(), remove)}
${names.map((name) => subsessionSection(s, name)).join('\n')}
</section>`;
}

/** A subsession: its timeout, and every attribute readable through it (its own first, then the parent's). */
function subsessionSection(parent: HttpSession, name: string): string {
  const sub = parent.getSubsession(name, { create: false })!; // getting it restarts its idle clock
  const own = sub.getAttributeNames();
  const names = [...new Set([...own, ...parent.getAttributeNames()])];
  return `<h2>Subsession "${escapeHtml(name)}"</h2>
<div id="subsession-${escapeHtml(name)}"><p>timeout: ${timeout(sub.getMaxInactiveInterval())}</p>
${attributeTable(sub, names, (n) => (own.includes(n) ? 'own' : 'from the parent'))}</div>`;
}

/** Rows of name, JSON value, and a last cell (trusted markup). */
function attributeTable(s: HttpSession, names: string[], last: (name: string) => string): string {
  if (names.length === 0) return '<p>None.</p>';
  const rows = names.map((n) => tr(escapeHtml(n), `<code>${escapeHtml(json(s.getAttribute(n)))}</code>`, last(n)));
  return `<table>${rows.join('\n')}</table>`;
}

/** A table row of cells that are already markup (escape what goes in). */
function tr(...cells: string[]): string {
  return `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
}

function timeout(seconds: number): string {
  return seconds < 0 ? 'never (-1)' : `${seconds} s idle`;
}

function json(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function time(ms: number): string {
  return `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Everything a user typed goes through this before it reaches the page. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}
