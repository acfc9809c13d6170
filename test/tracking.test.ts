import { parse as parseCookie } from 'cookie';
import { cookieValue } from '../lib/tracking/tracking';
import { seededRandom } from './support/seeded-random';
/**
 * How the session id travels (lib/tracking/tracking.ts, lib/tracking/session-id-codec.ts):
 * the JSESSIONID cookie and its attributes, header tracking for cookieless
 * clients, express-session's signed format, secret rotation, and clearing
 * the id on invalidate. Every case runs on Express 4 and Express 5.
 */
import { sign, unsign } from 'cookie-signature';
import type { Express } from 'express';
import request from 'supertest';
import { MemoryStore, sessionManagement, type SessionManager, type SessionManagementOptions } from '../lib/index';
import { cookieFrom, setCookieLine } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { probeApp, type ProbeState } from './support/probe-app';

/** Attributes of a Set-Cookie line: lower-cased name → value (`true` for flags). */
function attributesOf(line: string): Map<string, string | true> {
  const attributes = new Map<string, string | true>();
  for (const part of line.split(';').slice(1)) {
    const [name, ...value] = part.trim().split('=');
    attributes.set(name.toLowerCase(), value.length > 0 ? value.join('=') : true);
  }
  return attributes;
}

/** The value of a `name=value` pair. */
function cookieValueOf(pair: string | undefined): string {
  if (pair === undefined) throw new Error('no such cookie in the response');
  return pair.slice(pair.indexOf('=') + 1);
}

const BASE64URL_ID = /^[A-Za-z0-9_-]{43}$/;

describe.each(EXPRESS_FLAVOURS)('tracking on %s', (_flavour, createExpress: () => Express) => {
  const managers: SessionManager[] = [];

  /** A probe app over `sessionManagement(options)`; its manager is closed after the test. */
  function build(options?: SessionManagementOptions): { app: Express; manager: SessionManager } {
    const middleware = sessionManagement(options);
    managers.push(middleware.manager);
    return { app: probeApp(createExpress, middleware).app, manager: middleware.manager };
  }

  afterEach(async () => {
    await Promise.all(managers.splice(0).map((manager) => manager.close()));
  });

  describe('cookie tracking', () => {
    it('sends the id in a JSESSIONID cookie with HttpOnly, SameSite=Lax and Path=/ when a session is created', async () => {
      const { app } = build();
      const res = await request(app).post('/set/a/1').expect(200);
      const line = setCookieLine(res);
      expect(line).toBeDefined();
      expect(cookieValueOf(cookieFrom(res))).toBe((res.body as ProbeState).id);
      expect(cookieValueOf(cookieFrom(res))).toMatch(BASE64URL_ID);
      const attributes = attributesOf(line!);
      expect(attributes.get('path')).toBe('/');
      expect(attributes.get('httponly')).toBe(true);
      expect(attributes.get('samesite')).toBe('Lax');
      expect(attributes.has('secure')).toBe(false);
      expect(attributes.has('domain')).toBe(false);
      expect(attributes.has('max-age')).toBe(false);
      expect(attributes.has('expires')).toBe(false);
    });

    it('sends no cookie to a request that only reads the session', async () => {
      const { app } = build();
      const res = await request(app).get('/state').expect(200);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect((res.body as ProbeState).hasSession).toBe(false);
    });

    it('reads the id back from the cookie and does not send it again', async () => {
      const { app } = build();
      const created = await request(app).post('/set/a/1').expect(200);
      const res = await request(app).get('/state').set('Cookie', cookieFrom(created)!).expect(200);
      const state = res.body as ProbeState;
      expect(state.id).toBe((created.body as ProbeState).id);
      expect(state.requestedIdValid).toBe(true);
      expect(state.attributes).toEqual({ a: '1' });
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('adds Secure when cookie.secure is set', async () => {
      const { app } = build({ cookie: { secure: true } });
      const res = await request(app).post('/set/a/1').expect(200);
      const attributes = attributesOf(setCookieLine(res)!);
      expect(attributes.get('secure')).toBe(true);
      expect(attributes.get('httponly')).toBe(true);
    });

    it('uses a custom name, path, domain and maxAge (in seconds)', async () => {
      const { app } = build({ cookie: { name: 'SID', path: '/shop', domain: 'example.com', maxAge: 3600 } });
      const res = await request(app).post('/set/a/1').expect(200);
      expect(setCookieLine(res, 'JSESSIONID')).toBeUndefined();
      const line = setCookieLine(res, 'SID');
      expect(line).toBeDefined();
      const attributes = attributesOf(line!);
      expect(attributes.get('path')).toBe('/shop');
      expect(attributes.get('domain')).toBe('example.com');
      expect(attributes.get('max-age')).toBe('3600');
      const again = await request(app).get('/state').set('Cookie', cookieFrom(res, 'SID')!).expect(200);
      expect((again.body as ProbeState).requestedIdValid).toBe(true);
    });

    it('ignores a JSESSIONID cookie when a custom cookie name is configured', async () => {
      const { app } = build({ cookie: { name: 'SID' } });
      const res = await request(app).post('/set/a/1').expect(200);
      const id = (res.body as ProbeState).id!;
      const again = await request(app).get('/state').set('Cookie', `JSESSIONID=${id}`).expect(200);
      expect((again.body as ProbeState).hasSession).toBe(false);
      expect((again.body as ProbeState).requestedId).toBeNull();
    });

    it('sends SameSite=Strict, or no SameSite with sameSite: false, and no HttpOnly with httpOnly: false', async () => {
      const strict = await request(build({ cookie: { sameSite: 'strict' } }).app).post('/set/a/1').expect(200);
      expect(attributesOf(setCookieLine(strict)!).get('samesite')).toBe('Strict');
      const none = await request(build({ cookie: { sameSite: false, httpOnly: false } }).app).post('/set/a/1').expect(200);
      const attributes = attributesOf(setCookieLine(none)!);
      expect(attributes.has('samesite')).toBe(false);
      expect(attributes.has('httponly')).toBe(false);
    });

    it('keeps Set-Cookie lines the application set itself', async () => {
      const middleware = sessionManagement();
      managers.push(middleware.manager);
      const app = createExpress();
      app.use(middleware);
      app.post('/', (req, res) => {
        res.cookie('theme', 'dark');
        req.httpSession.setAttribute('a', 1);
        res.send('ok');
      });
      const res = await request(app).post('/').expect(200);
      expect(cookieFrom(res, 'theme')).toBe('theme=dark');
      expect(cookieFrom(res)).toMatch(/^JSESSIONID=/);
    });

    it('clears the cookie when the session is invalidated (Expires in 1970)', async () => {
      const { app } = build();
      const created = await request(app).post('/set/a/1').expect(200);
      const res = await request(app).post('/invalidate').set('Cookie', cookieFrom(created)!).expect(204);
      const line = setCookieLine(res);
      expect(line).toBeDefined();
      expect(cookieValueOf(cookieFrom(res))).toBe('');
      const attributes = attributesOf(line!);
      expect(attributes.get('expires')).toBe('Thu, 01 Jan 1970 00:00:00 GMT');
      expect(attributes.get('path')).toBe('/');
      const after = await request(app).get('/state').set('Cookie', cookieFrom(created)!).expect(200);
      expect((after.body as ProbeState).hasSession).toBe(false);
      expect((after.body as ProbeState).requestedIdValid).toBe(false);
    });

    it('clears a custom cookie with its own path and domain', async () => {
      const { app } = build({ cookie: { name: 'SID', path: '/shop', domain: 'example.com' } });
      const created = await request(app).post('/set/a/1').expect(200);
      const res = await request(app).post('/invalidate').set('Cookie', cookieFrom(created, 'SID')!).expect(204);
      const attributes = attributesOf(setCookieLine(res, 'SID')!);
      expect(attributes.get('expires')).toBe('Thu, 01 Jan 1970 00:00:00 GMT');
      expect(attributes.get('path')).toBe('/shop');
      expect(attributes.get('domain')).toBe('example.com');
    });
  });

  describe('header tracking', () => {
    it('returns a created id in the x-session-id response header and sets no cookie', async () => {
      const { app } = build({ tracking: 'header' });
      const res = await request(app).post('/set/a/1').expect(200);
      const id = res.headers['x-session-id'];
      expect(id).toMatch(BASE64URL_ID);
      expect(id).toBe((res.body as ProbeState).id);
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('reads the id from the header and does not repeat it on later responses', async () => {
      const { app } = build({ tracking: 'header' });
      const created = await request(app).post('/set/a/1').expect(200);
      const id = created.headers['x-session-id'] as string;
      const res = await request(app).get('/state').set('x-session-id', id).expect(200);
      expect((res.body as ProbeState).id).toBe(id);
      expect((res.body as ProbeState).requestedIdValid).toBe(true);
      expect(res.headers['x-session-id']).toBeUndefined();
    });

    it('ignores cookies: a JSESSIONID cookie names no session', async () => {
      const { app } = build({ tracking: 'header' });
      const created = await request(app).post('/set/a/1').expect(200);
      const id = created.headers['x-session-id'] as string;
      const res = await request(app).get('/state').set('Cookie', `JSESSIONID=${id}`).expect(200);
      expect((res.body as ProbeState).hasSession).toBe(false);
      expect((res.body as ProbeState).requestedId).toBeNull();
    });

    it('uses a custom header name, case-insensitively', async () => {
      const { app } = build({ tracking: 'header', header: 'X-Auth-Session' });
      const created = await request(app).post('/set/a/1').expect(200);
      expect(created.headers['x-session-id']).toBeUndefined();
      const id = created.headers['x-auth-session'] as string;
      expect(id).toMatch(BASE64URL_ID);
      const res = await request(app).get('/state').set('X-AUTH-SESSION', id).expect(200);
      expect((res.body as ProbeState).requestedIdValid).toBe(true);
      const ignored = await request(app).get('/state').set('x-session-id', id).expect(200);
      expect((ignored.body as ProbeState).hasSession).toBe(false);
    });

    it('signs the header value like the cookie when a secret is set', async () => {
      const { app } = build({ tracking: 'header', secret: 'header-secret' });
      const created = await request(app).post('/set/a/1').expect(200);
      const value = created.headers['x-session-id'] as string;
      const id = (created.body as ProbeState).id!;
      expect(value).toBe(`s:${sign(id, 'header-secret')}`);
      const res = await request(app).get('/state').set('x-session-id', value).expect(200);
      expect((res.body as ProbeState).requestedIdValid).toBe(true);
      const unsigned = await request(app).get('/state').set('x-session-id', id).expect(200);
      expect((unsigned.body as ProbeState).hasSession).toBe(false);
      expect((unsigned.body as ProbeState).requestedId).toBeNull();
    });
  });

  describe('secret', () => {
    it("sends s:<id>.<sig>, URL-encoded as express-session does", async () => {
      const { app } = build({ secret: 'keyboard cat' });
      const res = await request(app).post('/set/a/1').expect(200);
      const id = (res.body as ProbeState).id!;
      const value = cookieValueOf(cookieFrom(res));
      expect(value).toBe(encodeURIComponent(`s:${sign(id, 'keyboard cat')}`));
      expect(value.startsWith('s%3A')).toBe(true);
      expect(unsign(decodeURIComponent(value).slice(2), 'keyboard cat')).toBe(id);
    });

    it('reads its own signed cookie back as the same session', async () => {
      const { app } = build({ secret: 'keyboard cat' });
      const created = await request(app).post('/set/a/1').expect(200);
      const res = await request(app).get('/state').set('Cookie', cookieFrom(created)!).expect(200);
      expect((res.body as ProbeState).id).toBe((created.body as ProbeState).id);
      expect((res.body as ProbeState).requestedIdValid).toBe(true);
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('accepts a value signed with the old secret after rotation and re-issues it signed with the new one', async () => {
      const store = new MemoryStore();
      const before = build({ store, secret: 'old-secret' });
      const created = await request(before.app).post('/set/user/ann').expect(200);
      const id = (created.body as ProbeState).id!;

      const after = build({ store, secret: ['new-secret', 'old-secret'] });
      const res = await request(after.app).get('/state').set('Cookie', cookieFrom(created)!).expect(200);
      const state = res.body as ProbeState;
      expect(state.id).toBe(id);
      expect(state.requestedIdValid).toBe(true);
      expect(state.attributes).toEqual({ user: 'ann' });
      const reissued = cookieValueOf(cookieFrom(res));
      expect(reissued).toBe(encodeURIComponent(`s:${sign(id, 'new-secret')}`));
      expect(attributesOf(setCookieLine(res)!).get('httponly')).toBe(true);

      const next = await request(after.app).get('/state').set('Cookie', `JSESSIONID=${reissued}`).expect(200);
      expect((next.body as ProbeState).requestedIdValid).toBe(true);
      expect(next.headers['set-cookie']).toBeUndefined();
    });

    it('treats a value signed only with a retired secret as no session', async () => {
      const store = new MemoryStore();
      const before = build({ store, secret: 'old-secret' });
      const created = await request(before.app).post('/set/user/ann').expect(200);
      const after = build({ store, secret: ['new-secret'] });
      const res = await request(after.app).get('/state').set('Cookie', cookieFrom(created)!).expect(200);
      expect((res.body as ProbeState).hasSession).toBe(false);
      expect((res.body as ProbeState).requestedId).toBeNull();
      expect(res.headers['set-cookie']).toBeUndefined();
    });
  });
});

describe('cookieValue', () => {
  it("finds the raw value the cookie package's parse finds, for headers of every shape", () => {
    const random = seededRandom(11);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
    const names = ['JSESSIONID', 'a', 'JSESSIONIDx', 'xJSESSIONID', 'other'];
    const values = ['v', 's%3Aabc.def', '"quoted"', '', 'a=b', '%E0%A4%A', ' spaced ', 'x"y'];
    for (let i = 0; i < 2000; i++) {
      const parts = Array.from({ length: 1 + Math.floor(random() * 4) }, () =>
        random() < 0.1 ? pick(['noequals', ' ', '']) : `${pick([' ', '', '  '])}${pick(names)}${pick(['', ' '])}=${pick(values)}`,
      );
      const header = parts.join(pick([';', '; ', ' ;']));
      const raw = parseCookie(header, { decode: (value) => value }).JSESSIONID;
      expect({ header, value: cookieValue(header, 'JSESSIONID') }).toEqual({ header, value: raw });
    }
  });
});
