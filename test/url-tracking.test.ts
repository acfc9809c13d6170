/**
 * URL session tracking over HTTP (lib/tracking/url-tracking.ts,
 * lib/request/response-methods.ts; docs/url-tracking.md): the id read from
 * `;jsessionid=` and taken out of `req.url` before routing (routers,
 * mounted sub-apps, express.static), `res.encodeURL`, the Servlet
 * `isRequestedSessionIdFrom*`, `Referrer-Policy`, and bad input. Every case
 * runs on Express 4 and Express 5.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express5 from 'express';
import express4 from 'express4';
import type { Express, Request, Response } from 'express';
import request from 'supertest';
import { ConfigurationError, createSessionManager, type SessionManager, type SessionManagerOptions } from '../lib/index';
import { cookieFrom } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';

/** What the probe routes answer. */
interface Seen {
  url: string;
  originalUrl: string;
  user: unknown;
  fromUrl: boolean;
  fromCookie: boolean;
  requested: string | null;
  link: string;
}

/** Where express.static serves from (one file). */
const STATIC_DIR = mkdtempSync(path.join(tmpdir(), 'esm-url-static-'));
writeFileSync(path.join(STATIC_DIR, 'hello.txt'), 'hello from disk');

/** The id parameter in an encoded link, e.g. `;jsessionid=<value>`. */
function idParameterOf(link: string): string {
  const match = /;jsessionid=[^?#/;]+/.exec(link);
  if (!match) throw new Error(`no id in ${link}`);
  return match[0];
}

describe.each(EXPRESS_FLAVOURS)('URL tracking on %s', (flavour, createExpress: () => Express) => {
  const managers: SessionManager[] = [];
  const staticMiddleware = flavour === 'express 4' ? (express4 as unknown as typeof express5).static : express5.static;

  afterEach(async () => {
    await Promise.all(managers.splice(0).map((manager) => manager.close()));
  });

  function seen(req: Request, res: Response): Seen {
    return {
      url: req.url,
      originalUrl: req.originalUrl,
      user: req.getSession(false)?.getAttribute('user') ?? null,
      fromUrl: req.isRequestedSessionIdFromURL(),
      fromCookie: req.isRequestedSessionIdFromCookie(),
      requested: req.getRequestedSessionId(),
      link: res.encodeURL('/page?x=1#top'),
    };
  }

  /**
   * An app with a router mounted before the session middleware (behind
   * `manager.urlTracking()`), the middleware, a login, a probe, a mounted
   * sub-app and express.static.
   */
  function build(options: SessionManagerOptions, withUrlTracking = true): { app: Express; manager: SessionManager } {
    const manager = createSessionManager(options);
    managers.push(manager);
    const app = createExpress();
    if (withUrlTracking) app.use(manager.urlTracking());
    const early = createExpress();
    early.get('/early/ping', (req, res) => {
      res.json({ url: req.url });
    });
    app.use(early);
    app.use(manager.middleware());
    app.post('/login', (req, res) => {
      req.getSession().setAttribute('user', 'alice');
      res.json(seen(req, res));
    });
    app.post('/go', (_req, res) => {
      res.redirect(303, res.encodeRedirectURL('/page'));
    });
    app.get('/page', (req, res) => {
      res.json(seen(req, res));
    });
    const sub = createExpress();
    sub.get('/inner', (req, res) => {
      res.json(seen(req, res));
    });
    app.use('/sub', sub);
    app.use('/static', staticMiddleware(STATIC_DIR));
    app.use((req, res) => {
      res.status(404).json(seen(req, res));
    });
    return { app, manager };
  }

  async function login(app: Express): Promise<{ link: string; cookie: string | undefined; body: Seen }> {
    const res = await request(app).post('/login').expect(200);
    const body = res.body as Seen;
    return { link: body.link, cookie: cookieFrom(res), body };
  }

  describe("tracking: 'url'", () => {
    it('sends no cookie and puts the id into links; a request on that link has the session', async () => {
      const { app } = build({ tracking: 'url' });
      const { link, cookie } = await login(app);
      expect(cookie).toBeUndefined();
      expect(link).toMatch(/^\/page;jsessionid=[A-Za-z0-9_-]{43}\?x=1#top$/);
      const res = await request(app).get(link.replace('#top', '')).expect(200);
      const body = res.body as Seen;
      expect(body.user).toBe('alice');
      expect(body.fromUrl).toBe(true);
      expect(body.fromCookie).toBe(false);
      expect(body.url).toBe('/page?x=1');
      expect(body.originalUrl).toBe(link.replace('#top', ''));
      expect(body.link).toBe(link); // the same id, not doubled
      expect(res.headers['referrer-policy']).toBe('no-referrer');
    });

    it('has routers mounted before the session middleware, sub-apps and express.static match without the id', async () => {
      const { app } = build({ tracking: 'url' });
      const id = idParameterOf((await login(app)).link);
      expect((await request(app).get(`/early/ping${id}`).expect(200)).body).toEqual({ url: '/early/ping' });
      const inner = (await request(app).get(`/sub/inner${id}?q=1`).expect(200)).body as Seen;
      expect(inner.user).toBe('alice');
      expect(inner.url).toBe('/inner?q=1');
      expect(inner.link).toContain(id);
      const file = await request(app).get(`/static/hello.txt${id}`).expect(200);
      expect(file.text).toBe('hello from disk');
    });

    it('without urlTracking(), routes after the session middleware still match', async () => {
      const { app } = build({ tracking: 'url' }, false);
      const id = idParameterOf((await login(app)).link);
      expect(((await request(app).get(`/page${id}`).expect(200)).body as Seen).user).toBe('alice');
      expect(((await request(app).get(`/sub/inner${id}`).expect(200)).body as Seen).user).toBe('alice');
    });

    it('encodes redirects with encodeRedirectURL', async () => {
      const { app } = build({ tracking: 'url' });
      const id = idParameterOf((await login(app)).link);
      const res = await request(app).post(`/go${id}`).expect(303);
      expect(res.headers.location).toBe(`/page${id}`);
    });

    it('leaves links alone while the request has no session', async () => {
      const { app } = build({ tracking: 'url' });
      const body = (await request(app).get('/page').expect(200)).body as Seen;
      expect(body.link).toBe('/page?x=1#top');
      expect(body.fromUrl).toBe(false);
    });

    it('signs the id in the URL like the cookie, and refuses a tampered one', async () => {
      const { app } = build({ tracking: 'url', secret: 'url-secret' });
      const { link } = await login(app);
      const id = idParameterOf(link);
      expect(decodeURIComponent(id)).toMatch(/^;jsessionid=s:[A-Za-z0-9_-]{43}\.[A-Za-z0-9+/]+$/);
      expect(((await request(app).get(`/page${id}`).expect(200)).body as Seen).user).toBe('alice');
      const tampered = `${id.slice(0, -3)}AAA`;
      const body = (await request(app).get(`/page${tampered}`).expect(200)).body as Seen;
      expect(body.user).toBeNull();
      expect(body.requested).toBeNull();
    });

    it('reads the id from a query parameter with style query', async () => {
      const { app } = build({ tracking: 'url', url: { name: 'sid', style: 'query' } });
      const { link } = await login(app);
      expect(link).toMatch(/^\/page\?x=1&sid=[A-Za-z0-9_-]{43}#top$/);
      const body = (await request(app).get(link.replace('#top', '')).expect(200)).body as Seen;
      expect(body.user).toBe('alice');
      expect(body.url).toBe('/page?x=1');
    });
  });

  describe("tracking: ['cookie', 'url']", () => {
    it('sets the cookie and encodes links for a new session; once the cookie comes back, links are plain', async () => {
      const { app } = build({ tracking: ['cookie', 'url'] });
      const { link, cookie } = await login(app);
      expect(cookie).toBeDefined();
      expect(link).toContain(';jsessionid=');
      const res = await request(app).get('/page').set('Cookie', cookie!).expect(200);
      const body = res.body as Seen;
      expect(body.user).toBe('alice');
      expect(body.fromCookie).toBe(true);
      expect(body.fromUrl).toBe(false);
      expect(body.link).toBe('/page?x=1#top');
      expect(res.headers['referrer-policy']).toBeUndefined();
    });

    it('keeps a client without cookies in its session through the URL', async () => {
      const { app } = build({ tracking: ['cookie', 'url'] });
      const { link } = await login(app);
      const body = (await request(app).get(link.replace('#top', '')).expect(200)).body as Seen;
      expect(body.user).toBe('alice');
      expect(body.fromUrl).toBe(true);
      expect(body.link).toBe(link);
    });

    it('prefers the cookie when both come, and strips the URL all the same', async () => {
      const { app } = build({ tracking: ['cookie', 'url'] });
      const first = await login(app);
      const second = await login(app);
      const body = (await request(app).get(`/page${idParameterOf(second.link)}`).set('Cookie', first.cookie!).expect(200)).body as Seen;
      expect(body.fromCookie).toBe(true);
      expect(body.requested).toBe(first.cookie!.split('=')[1]);
      expect(body.url).toBe('/page');
    });
  });

  describe('bad input', () => {
    const bad: [string, (id: string) => string][] = [
      ['malformed', () => ';jsessionid=%E0%A4%A'],
      ['not an id', () => ';jsessionid=..%2F..%2Fetc'],
      ['oversized', () => `;jsessionid=${'A'.repeat(5000)}`],
      ['repeated', (id) => `${id}${id}`],
      ['repeated in two segments', (id) => id],
    ];

    it.each(bad)('a %s ;jsessionid= is no session, never a 500', async (kind, make) => {
      const { app } = build({ tracking: 'url' });
      const id = idParameterOf((await login(app)).link);
      const target = kind === 'repeated in two segments' ? `/sub${id}/inner${id}` : `/page${make(id)}`;
      const res = await request(app).get(target);
      expect(res.status).toBe(200);
      const body = res.body as Seen;
      expect(body.user).toBeNull();
      expect(body.url).toBe(kind === 'repeated in two segments' ? '/inner' : '/page');
    });

    it("ignores an id in the URL when tracking does not include 'url' (no fixation through links)", async () => {
      const { app } = build({ tracking: 'cookie' });
      const { cookie } = await login(app);
      const id = cookie!.split('=')[1];
      const path = (await request(app).get(`/page;jsessionid=${id}`).expect(404)).body as Seen;
      expect(path.user).toBeNull();
      expect(path.requested).toBeNull();
      expect(path.url).toBe(`/page;jsessionid=${id}`); // left as it came
      const query = (await request(app).get(`/page?jsessionid=${id}`).expect(200)).body as Seen;
      expect(query.user).toBeNull();
      expect(query.link).toBe('/page?x=1#top');
    });

    it('does not encode links under cookie tracking', async () => {
      const { app } = build({});
      const { link, cookie } = await login(app);
      expect(link).toBe('/page?x=1#top');
      const body = (await request(app).get('/page').set('Cookie', cookie!).expect(200)).body as Seen;
      expect(body.fromCookie).toBe(true);
      expect(body.fromUrl).toBe(false);
    });
  });
});

describe('URL tracking options', () => {
  const invalid: [string, SessionManagerOptions][] = [
    ['an unknown tracking', { tracking: 'link' as never }],
    ['a tracking list other than cookie and url', { tracking: ['cookie', 'header'] as never }],
    ['a tracking list with a repeat', { tracking: ['url', 'url'] as never }],
    ['url without URL tracking', { url: { name: 'sid' } }],
    ['an unknown url setting', { tracking: 'url', url: { nmae: 'sid' } as never }],
    ['a url name that breaks URLs apart', { tracking: 'url', url: { name: 'a;b' } }],
    ['an unknown style', { tracking: 'url', url: { style: 'fragment' as never } }],
    ['url not an object', { tracking: 'url', url: 'sid' as never }],
  ];

  it.each(invalid)('rejects %s with a ConfigurationError', (_name, options) => {
    expect(() => createSessionManager(options)).toThrow(ConfigurationError);
  });

  it("accepts 'url', ['cookie', 'url'] and ['url', 'cookie']", async () => {
    for (const tracking of ['url', ['cookie', 'url'], ['url', 'cookie']] as const) {
      const manager = createSessionManager({ tracking, url: { name: 'sid', style: 'query' } });
      await manager.close();
    }
  });
});
