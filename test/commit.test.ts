/**
 * The end of a request (docs/architecture.md, "The request path"): its session work is in the store
 * before the client has the response, nothing is written when nothing
 * changed, the work is finished however the request ends, and a failed
 * write is a 503, not a false success.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express, NextFunction, Request, Response } from 'express';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { countCalls, delayAnswers, failCalls, type StoreCallCounts } from './support/instrumented-store';
import {
  cookieFor,
  createTestApp,
  eventually,
  gate,
  sessionIdFrom,
  type Gate,
  type TestApp,
  type TestAppOptions,
} from './support/test-app';

/** How late the slow store answers writes: long enough that a response sent before the write lands shows. */
const SLOW_STORE_MS = 40;

/** Routes every suite here uses; `reached` / `release` let a handler wait for the test. */
function commonRoutes(app: Express, reached: Gate, release: Gate): void {
  app.post('/set', (req, res) => {
    for (const [name, value] of Object.entries(req.query)) req.httpSession.setAttribute(name, value);
    res.json({ id: req.httpSession.getId() });
  });
  app.get('/read', (req, res) => {
    const s = req.httpSession;
    res.json({ valid: req.isRequestedSessionIdValid(), names: s.getAttributeNames(), cart: s.getAttribute('cart') ?? null });
  });
  app.post('/invalidate', (req, res) => {
    req.httpSession.invalidate();
    res.sendStatus(204);
  });
  app.post('/login', (req, res) => {
    res.json({ id: req.changeSessionId() });
  });
  app.post('/throw', (req) => {
    req.httpSession.setAttribute('step', 'thrown');
    throw new Error('handler failed');
  });
  app.post('/next-error', (req, _res, next) => {
    req.httpSession.setAttribute('step', 'next-error');
    next(new Error('passed on'));
  });
  app.post('/wait', async (req: Request, res: Response, next: NextFunction) => {
    try {
      req.httpSession.setAttribute('step', 'before-abort');
      reached.open();
      await release.promise;
      res.json({ done: true });
    } catch (error) {
      next(error);
    }
  });
  app.post('/mutate', (req, res) => {
    const cart = req.httpSession.getAttribute<{ items: number[] }>('cart')!;
    cart.items.push(Number(req.query.item));
    res.json({ items: cart.items });
  });
  app.get('/untouched', (_req, res) => {
    res.json({ ok: true });
  });
  app.use((err: Error, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    res.status(500).json({ error: err.message });
  });
}

/** The attributes of a session as the store holds them, or undefined when it holds none. */
async function storedAttributes(t: TestApp, id: string): Promise<Record<string, unknown> | undefined> {
  const record = await t.store.get(id);
  return record ? (record.attributes as Record<string, unknown>) : undefined;
}

describe.each(EXPRESS_FLAVOURS)('request commit on %s', (flavourName, flavour) => {
  let t: TestApp;
  let reached: Gate;
  let release: Gate;

  afterEach(async () => {
    release?.open();
    await t?.close();
  });

  /** Builds the app; `extraRoutes` come before the common ones. */
  async function start(options: TestAppOptions = {}, extraRoutes?: (app: Express) => void): Promise<TestApp> {
    reached = gate();
    release = gate();
    t = await createTestApp(flavour, options, (app) => {
      extraRoutes?.(app);
      commonRoutes(app, reached, release);
    });
    return t;
  }

  /** Creates a session holding `attributes` and returns its id. */
  async function createSession(attributes: Record<string, string> = { visits: '1' }): Promise<string> {
    const res = await t.http().post('/set').query(attributes).expect(200);
    return sessionIdFrom(res)!;
  }

  describe('storing before the response completes', () => {
    it('has a new session in the store when the client has the response, with a slow store', async () => {
      await start();
      delayAnswers(t.manager.store, SLOW_STORE_MS, ['set', 'destroy', 'touch']);
      const res = await t.http().post('/set?cart=full').expect(200);
      const id = sessionIdFrom(res)!;
      expect(await storedAttributes(t, id)).toEqual({ cart: 'full' });
    });

    it('has a change to an existing session in the store when the client has the response', async () => {
      await start();
      const id = await createSession();
      delayAnswers(t.manager.store, SLOW_STORE_MS, ['set', 'destroy', 'touch']);
      await t.http().post('/set?visits=2').set('Cookie', cookieFor(id)).expect(200);
      expect(await storedAttributes(t, id)).toEqual({ visits: '2' });
    });

    it('has an invalidated session gone from the store when the client has the response', async () => {
      await start();
      const id = await createSession();
      delayAnswers(t.manager.store, SLOW_STORE_MS, ['set', 'destroy', 'touch']);
      await t.http().post('/invalidate').set('Cookie', cookieFor(id)).expect(204);
      expect(await t.store.get(id)).toBeFalsy();
    });

    it('has a changed id stored, and the old one gone, when the client has the response', async () => {
      await start();
      const id = await createSession();
      delayAnswers(t.manager.store, SLOW_STORE_MS, ['set', 'destroy', 'touch']);
      const res = await t.http().post('/login').set('Cookie', cookieFor(id)).expect(200);
      expect(await t.store.get(id)).toBeFalsy();
      expect(await storedAttributes(t, res.body.id)).toEqual({ visits: '1' });
    });

    it('leaves the coordinator with no active request once the response is in', async () => {
      await start();
      const id = await createSession();
      expect(await t.peek(id)).toMatchObject({ active: 0 });
      await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      expect(await t.peek(id)).toMatchObject({ active: 0 });
    });
  });

  describe('writing only what changed', () => {
    let calls: StoreCallCounts;

    /** Starts an app whose store counts its calls, from the first request on. */
    async function startCounting(options: TestAppOptions = {}): Promise<void> {
      await start(options);
      calls = countCalls(t.manager.store);
    }

    it('costs no store call at all for a request without a session', async () => {
      await startCounting();
      await t.http().get('/untouched').expect(200);
      await t.http().get('/read').expect(200);
      expect([calls.get, calls.set, calls.touch, calls.destroy]).toEqual([0, 0, 0, 0]);
    });

    it('writes a new session once', async () => {
      await startCounting();
      await t.http().post('/set?a=1&b=2').expect(200);
      expect(calls.set).toBe(1);
    });

    it('costs one store read and no write for reads of an existing session', async () => {
      await startCounting();
      const id = await createSession();
      calls.reset();
      for (let i = 0; i < 10; i++) {
        t.clock.advanceSeconds(10);
        await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      }
      expect(calls.get).toBeLessThanOrEqual(10);
      expect(calls.set).toBe(0);
      expect(calls.touch).toBe(0);
      expect(calls.destroy).toBe(0);
    });

    it('extends the store TTL of a read-only session with an occasional, coalesced touch', async () => {
      await startCounting({ manager: { invalidationTimeout: 1800, reaperInterval: 60 } });
      const id = await createSession();
      calls.reset();
      // 40 reads 100 s apart: 4,000 s, longer than the record's first TTL (timeout + grace).
      for (let i = 0; i < 40; i++) {
        t.clock.advanceSeconds(100);
        const res = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
        expect(res.body.valid).toBe(true);
      }
      expect(calls.set).toBe(0);
      expect(calls.touch).toBeGreaterThanOrEqual(1);
      expect(calls.touch).toBeLessThanOrEqual(5);
      expect(await storedAttributes(t, id)).toEqual({ visits: '1' });
    });

    it('writes an object attribute mutated in place, and not when it was only read', async () => {
      await start({}, (app) => {
        app.post('/seed', (req, res) => {
          req.httpSession.setAttribute('cart', { items: [1] });
          res.json({ id: req.httpSession.getId() });
        });
      });
      calls = countCalls(t.manager.store);
      const id = (await t.http().post('/seed').expect(200)).body.id as string;
      calls.reset();
      await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      expect(calls.set).toBe(0);
      const res = await t.http().post('/mutate?item=2').set('Cookie', cookieFor(id)).expect(200);
      expect(res.body.items).toEqual([1, 2]);
      expect(calls.set).toBe(1);
      expect(await storedAttributes(t, id)).toEqual({ cart: { items: [1, 2] } });
      const next = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      expect(next.body.cart).toEqual({ items: [1, 2] });
    });
  });

  describe('finishing the work however the request ends', () => {
    it('stores the change and releases the session when the handler throws', async () => {
      await start();
      const id = await createSession();
      delayAnswers(t.manager.store, SLOW_STORE_MS, ['set']);
      const res = await t.http().post('/throw').set('Cookie', cookieFor(id));
      expect(res.status).toBe(500);
      expect(res.body.error).toBe('handler failed');
      expect(await storedAttributes(t, id)).toEqual({ visits: '1', step: 'thrown' });
      expect(await t.peek(id)).toMatchObject({ active: 0 });
    });

    it('stores the change and releases the session on next(err)', async () => {
      await start();
      const id = await createSession();
      delayAnswers(t.manager.store, SLOW_STORE_MS, ['set']);
      const res = await t.http().post('/next-error').set('Cookie', cookieFor(id));
      expect(res.status).toBe(500);
      expect(res.body.error).toBe('passed on');
      expect(await storedAttributes(t, id)).toEqual({ visits: '1', step: 'next-error' });
      expect(await t.peek(id)).toMatchObject({ active: 0 });
    });

    it('stores the change and releases the session when the client aborts, while the handler still runs', async () => {
      await start();
      const id = await createSession();
      const { port } = t.server.address() as AddressInfo;
      const clientClosed = new Promise<void>((resolve) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/wait', headers: { Cookie: cookieFor(id) } });
        req.on('error', () => resolve()); // the abort surfaces as a socket error
        req.on('close', () => resolve());
        req.end();
        void reached.promise.then(() => req.destroy());
      });
      await reached.promise;
      await clientClosed;
      // The handler still waits for `release`: the abort alone must finish the work.
      await eventually(async () => {
        expect(await storedAttributes(t, id)).toEqual({ visits: '1', step: 'before-abort' });
        expect(await t.peek(id)).toMatchObject({ active: 0 });
      });
    });
  });

  describe('a failing store', () => {
    it('turns the response of a request whose write fails into a 503 without a session cookie', async () => {
      await start();
      const failures = failCalls(t.manager.store);
      failures.set = true;
      const res = await t.http().post('/set?cart=full');
      expect(res.status).toBe(503);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(await t.store.length!()).toBe(0);
    });

    it('turns the response into a 503 when the change to an existing session cannot be stored', async () => {
      await start();
      const id = await createSession();
      const failures = failCalls(t.manager.store);
      failures.set = true;
      const res = await t.http().post('/set?visits=2').set('Cookie', cookieFor(id));
      expect(res.status).toBe(503);
      expect(await storedAttributes(t, id)).toEqual({ visits: '1' });
      expect(await t.peek(id)).toMatchObject({ active: 0 });
    });

    it('turns the response into a 503 when an invalidated session cannot be deleted', async () => {
      await start();
      const id = await createSession();
      const failures = failCalls(t.manager.store);
      failures.destroy = true;
      const res = await t.http().post('/invalidate').set('Cookie', cookieFor(id));
      expect(res.status).toBe(503);
    });

    it('still answers read-only requests of a session, which need no write', async () => {
      await start();
      const id = await createSession();
      const failures = failCalls(t.manager.store);
      failures.set = true;
      const res = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      expect(res.body.valid).toBe(true);
    });
  });

  if (flavourName === 'express 5') {
    describe('async handlers (Express 5)', () => {
      it('stores the change and releases the session when an async handler rejects', async () => {
        await start({}, (app) => {
          app.post('/reject', async (req: Request) => {
            req.httpSession.setAttribute('step', 'rejected');
            await Promise.resolve();
            throw new Error('async failure');
          });
        });
        const id = await createSession();
        delayAnswers(t.manager.store, SLOW_STORE_MS, ['set']);
        const res = await t.http().post('/reject').set('Cookie', cookieFor(id));
        expect(res.status).toBe(500);
        expect(res.body.error).toBe('async failure');
        expect(await storedAttributes(t, id)).toEqual({ visits: '1', step: 'rejected' });
        expect(await t.peek(id)).toMatchObject({ active: 0 });
      });
    });
  }
});
