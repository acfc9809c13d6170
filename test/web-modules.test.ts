/**
 * Web modules (issue 4, items 1–5): several apps of one manager share the
 * session id and never each other's data.
 */
import express from 'express';
import type { Express, Request, Response } from 'express';
import request from 'supertest';
import { createSessionManager, type SessionDestroyedEvent, type SessionManager } from '../lib';
import { sessionKey } from '../lib/storage/session-key';
import { cookieFrom, setCookieLine } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { FakeClock } from './support/fake-clock';
import { promisifyStore } from './support/store-promises';

/** Routes of one app: set, read, invalidate, and the id and timeout. */
function appRouter(manager: SessionManager, app: string, maxInactiveInterval = 0): express.Router {
  const router = express.Router();
  router.use(manager.middleware({ app, maxInactiveInterval }));
  router.post('/set', (req: Request, res: Response) => {
    req.httpSession.setAttribute(String(req.query.name), String(req.query.value));
    res.json({ id: req.httpSession.getId() });
  });
  router.get('/read', (req: Request, res: Response) => {
    const session = req.getSession(false);
    res.json({
      id: session?.getId() ?? null,
      app: session?.app ?? null,
      attributes: session ? Object.fromEntries(session.getAttributeNames().map((n) => [n, session.getAttribute(n)])) : null,
      timeout: session?.getMaxInactiveInterval() ?? null,
    });
  });
  router.post('/invalidate', (req: Request, res: Response) => {
    req.httpSession.invalidate();
    res.sendStatus(204);
  });
  return router;
}

describe.each(EXPRESS_FLAVOURS)('web modules (%s)', (_name, flavour) => {
  let clock: FakeClock;
  let manager: SessionManager;
  let app: Express;
  let destroyed: SessionDestroyedEvent[];

  beforeEach(() => {
    clock = new FakeClock();
    manager = createSessionManager({ clock, invalidationTimeout: 1800 });
    destroyed = [];
    manager.on('sessionDestroyed', (e) => {
      destroyed.push(e);
    });
    app = flavour();
    app.use('/shop', appRouter(manager, 'shop'));
    app.use('/bank', appRouter(manager, 'bank', 300));
  });

  afterEach(() => manager.close());

  /** Creates a session in shop and one in bank from the same browser; returns the cookie. */
  async function twoApps(): Promise<string> {
    const first = await request(app).post('/shop/set?name=cart&value=42');
    const cookie = cookieFrom(first)!;
    const second = await request(app).post('/bank/set?name=account&value=7').set('Cookie', cookie);
    expect(cookieFrom(second)).toBe(cookie); // the id is shared: the same cookie, sent again or not at all
    return cookie;
  }

  it('gives two apps two sessions that share one id', async () => {
    const cookie = await twoApps();
    const shop = await request(app).get('/shop/read').set('Cookie', cookie);
    const bank = await request(app).get('/bank/read').set('Cookie', cookie);
    expect(shop.body.id).toBe(bank.body.id);
    expect(shop.body.app).toBe('shop');
    expect(bank.body.app).toBe('bank');
  });

  it("shows an app none of another app's attributes", async () => {
    const cookie = await twoApps();
    const shop = await request(app).get('/shop/read').set('Cookie', cookie);
    const bank = await request(app).get('/bank/read').set('Cookie', cookie);
    expect(shop.body.attributes).toEqual({ cart: '42' });
    expect(bank.body.attributes).toEqual({ account: '7' });
  });

  it('stores each app under its own key, the default app under the bare id', async () => {
    const cookie = await twoApps();
    const id = cookie.split('=')[1];
    const store = promisifyStore(manager.store);
    expect(await store.get(sessionKey('shop', id))).toBeTruthy();
    expect(await store.get(sessionKey('bank', id))).toBeTruthy();
    expect(await store.get(id)).toBeFalsy();
    expect(sessionKey('default', id)).toBe(id);
    expect(sessionKey('bank', id)).toBe(`${id}:bank`);
  });

  it('gives each app its own timeout: 0 is the global one', async () => {
    const cookie = await twoApps();
    expect((await request(app).get('/shop/read').set('Cookie', cookie)).body.timeout).toBe(1800);
    expect((await request(app).get('/bank/read').set('Cookie', cookie)).body.timeout).toBe(300);
  });

  it("expires and reaps each app's sessions on their own schedule, with the app in the event", async () => {
    const cookie = await twoApps();
    clock.advanceSeconds(301);
    const { expired } = await manager.reap();
    expect(expired).toBe(1);
    expect(destroyed.map((e) => [e.app, e.reason])).toEqual([['bank', 'expired']]);
    expect((await request(app).get('/bank/read').set('Cookie', cookie)).body.id).toBeNull();
    expect((await request(app).get('/shop/read').set('Cookie', cookie)).body.attributes).toEqual({ cart: '42' });
  });

  it('leaves the other app intact when one invalidates, and keeps the cookie', async () => {
    const cookie = await twoApps();
    const res = await request(app).post('/bank/invalidate').set('Cookie', cookie);
    expect(res.status).toBe(204);
    expect(setCookieLine(res)).toBeUndefined();
    expect((await request(app).get('/bank/read').set('Cookie', cookie)).body.id).toBeNull();
    const shop = await request(app).get('/shop/read').set('Cookie', cookie);
    expect(shop.body.attributes).toEqual({ cart: '42' });
    expect(shop.body.timeout).toBe(1800);
    expect(destroyed.map((e) => e.app)).toEqual(['bank']);
  });

  it('reuses the id for a new session while another app still holds it', async () => {
    const cookie = await twoApps();
    await request(app).post('/bank/invalidate').set('Cookie', cookie);
    const again = await request(app).post('/bank/set?name=x&value=1').set('Cookie', cookie);
    expect(again.body.id).toBe(cookie.split('=')[1]);
    expect((await request(app).get('/bank/read').set('Cookie', cookie)).body.attributes).toEqual({ x: '1' });
  });

  it('clears the cookie only when no app holds the id, and then gives a fresh id', async () => {
    const cookie = await twoApps();
    await request(app).post('/bank/invalidate').set('Cookie', cookie);
    const last = await request(app).post('/shop/invalidate').set('Cookie', cookie);
    expect(setCookieLine(last)).toMatch(/Expires=Thu, 01 Jan 1970/);
    const fresh = await request(app).post('/shop/set?name=a&value=b').set('Cookie', cookie);
    expect(fresh.body.id).not.toBe(cookie.split('=')[1]);
  });

  it('never shares an id a client made up', async () => {
    const made = 'A'.repeat(43);
    const res = await request(app).post('/shop/set?name=a&value=b').set('Cookie', `JSESSIONID=${made}`);
    expect(res.body.id).not.toBe(made);
  });

  it('shares one manager between two Express apps in one process', async () => {
    const other = flavour();
    other.use('/shop', appRouter(manager, 'shop'));
    const cookie = await twoApps();
    const res = await request(other).get('/shop/read').set('Cookie', cookie);
    expect(res.body.attributes).toEqual({ cart: '42' });
  });
});

describe.each(EXPRESS_FLAVOURS)('stateless routes (%s)', (_name, flavour) => {
  it('leave nothing behind after thousands of calls, errors included', async () => {
    const manager = createSessionManager();
    const app = flavour();
    app.use('/api', manager.middleware({ app: 'api', stateless: true }));
    app.get('/api/call', (req: Request, res: Response) => {
      res.json({ session: req.httpSession ?? null, got: req.getSession(), id: req.getRequestedSessionId() });
    });
    app.get('/api/fail', () => {
      throw new Error('boom');
    });
    const store = promisifyStore(manager.store);
    for (let i = 0; i < 1000; i++) {
      const res = await request(app).get(i % 10 === 0 ? '/api/fail' : '/api/call').set('Cookie', `JSESSIONID=${'B'.repeat(43)}`);
      if (i % 10 !== 0) expect(res.body).toEqual({ session: null, got: null, id: null });
      expect(setCookieLine(res)).toBeUndefined();
    }
    expect(await store.length!()).toBe(0);
    expect(manager.stats().sessions.created).toBe(0);
    await manager.close();
  }, 60_000);
});
