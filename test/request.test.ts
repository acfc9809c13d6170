/**
 * The request side of the request path (docs/architecture.md): `req.httpSession`, `req.getSession()`,
 * `req.getRequestedSessionId()`, `req.isRequestedSessionIdValid()`,
 * `req.changeSessionId()`, and the HttpSession lifecycle seen over HTTP.
 */
import type { Express, NextFunction, Request, Response } from 'express';
import { IllegalStateError } from '../lib';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { cookieFor, createTestApp, sessionIdFrom, type TestApp, type TestAppOptions } from './support/test-app';

/** Answers 500 with the error's name and message as JSON (instead of finalhandler's HTML). */
function jsonErrors(app: Express): void {
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: err.name, message: err.message });
  });
}

/** Calls `fn` and reports the name of the error it throws, or 'none'. */
function thrownName(fn: () => unknown): string {
  try {
    fn();
    return 'none';
  } catch (error) {
    return error instanceof IllegalStateError ? 'IllegalStateError' : error instanceof Error ? error.name : 'non-error';
  }
}

describe.each(EXPRESS_FLAVOURS)('request API on %s', (_name, flavour) => {
  let t: TestApp;

  afterEach(async () => {
    await t?.close();
  });

  /** Builds the app under test with routes used across this suite. */
  async function start(options: TestAppOptions = {}): Promise<TestApp> {
    t = await createTestApp(flavour, options, (app, { clock }) => {
      app.get('/read', (req, res) => {
        const s = req.httpSession;
        res.json({
          id: s.getId(),
          cart: s.getAttribute('cart') ?? null,
          names: s.getAttributeNames(),
          isNew: s.isNew(),
          timeout: s.getMaxInactiveInterval(),
          created: s.getCreationTime(),
          requested: req.getRequestedSessionId(),
          valid: req.isRequestedSessionIdValid(),
          same: req.getSession(false) === null || req.getSession(false) === s,
        });
      });
      app.post('/write', (req, res) => {
        req.httpSession.setAttribute('cart', [42]);
        res.json({ id: req.httpSession.getId() });
      });
      app.post('/create', (req, res) => {
        const session = req.getSession();
        res.json({ id: session.getId(), same: session === req.httpSession, isNew: session.isNew() });
      });
      app.get('/peek', (req, res) => {
        const session = req.getSession(false);
        res.json({ none: session === null, id: session?.getId() ?? null });
      });
      app.get('/times', (req, res) => {
        const s = req.httpSession;
        const before = s.getLastAccessedTime();
        clock.advanceSeconds(5); // time passes inside the request
        res.json({
          lastAccessed: before,
          lastAccessedLater: s.getLastAccessedTime(),
          created: s.getCreationTime(),
          isNew: s.isNew(),
        });
      });
      app.post('/invalidate-then-probe', (req, res) => {
        const s = req.httpSession;
        const id = s.getId();
        s.invalidate();
        const probes: Record<string, string> = {
          getId: thrownName(() => s.getId()),
          getCreationTime: thrownName(() => s.getCreationTime()),
          getLastAccessedTime: thrownName(() => s.getLastAccessedTime()),
          getMaxInactiveInterval: thrownName(() => s.getMaxInactiveInterval()),
          setMaxInactiveInterval: thrownName(() => s.setMaxInactiveInterval(60)),
          getAttribute: thrownName(() => s.getAttribute('cart')),
          getAttributeNames: thrownName(() => s.getAttributeNames()),
          setAttribute: thrownName(() => s.setAttribute('cart', [1])),
          removeAttribute: thrownName(() => s.removeAttribute('cart')),
          isNew: thrownName(() => s.isNew()),
          invalidate: thrownName(() => s.invalidate()),
        };
        res.json({ id, idAfter: s.getId(), probes, getSessionFalse: req.getSession(false) === null });
      });
      app.post('/invalidate-then-create', (req, res) => {
        const old = req.httpSession;
        const oldId = old.getId();
        old.invalidate();
        const fresh = req.getSession();
        fresh.setAttribute('fresh', true);
        res.json({
          oldId,
          newId: fresh.getId(),
          differentObject: fresh !== old,
          httpSessionIsNew: req.httpSession === fresh,
          attributes: fresh.getAttributeNames(),
          isNew: fresh.isNew(),
        });
      });
      app.post('/login', (req, res) => {
        const before = req.httpSession.getId();
        const after = req.changeSessionId();
        res.json({ before, after, getId: req.httpSession.getId(), cart: req.httpSession.getAttribute('cart') });
      });
      app.post('/change-without-session', (req, res) => {
        res.json({ error: thrownName(() => req.changeSessionId()) });
      });
      jsonErrors(app);
    });
    return t;
  }

  /** Creates a session with `cart` = [42] and returns its id. */
  async function createSession(): Promise<string> {
    const res = await t.http().post('/write').expect(200);
    const id = sessionIdFrom(res);
    expect(id).toBe(res.body.id);
    return id!;
  }

  describe('req.httpSession', () => {
    it('creates nothing and sends no cookie for 1,000 requests that only read it', async () => {
      await start();
      const batches = 20;
      for (let b = 0; b < batches; b++) {
        const responses = await Promise.all(
          Array.from({ length: 1000 / batches }, (_, i) => {
            const call = t.http().get('/read');
            // Half of the clients send an id no session has.
            return i % 2 === 0 ? call : call.set('Cookie', cookieFor(`unknown${b}x${i}`.padEnd(43, 'A')));
          }),
        );
        for (const res of responses) {
          expect(res.status).toBe(200);
          expect(res.headers['set-cookie']).toBeUndefined();
          expect(res.body.cart).toBeNull();
        }
      }
      expect(await t.store.length!()).toBe(0);
      expect(t.manager.stats().sessions.created).toBe(0);
    });

    it('is a pending session whose id is not sent while nothing is written', async () => {
      await start();
      const res = await t.http().get('/read').expect(200);
      expect(typeof res.body.id).toBe('string');
      expect(res.body.names).toEqual([]);
      expect(res.body.requested).toBeNull();
      expect(res.body.valid).toBe(false);
      expect(res.body.same).toBe(true);
      expect(sessionIdFrom(res)).toBeUndefined();
    });

    it('creates the session on the first write: stored, and its id sent in the cookie', async () => {
      await start();
      const id = await createSession();
      const record = await t.store.get(id);
      expect(record).toBeTruthy();
      expect(await t.store.length!()).toBe(1);
    });

    it('is the session the client names on the next request', async () => {
      await start();
      const id = await createSession();
      const res = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      expect(res.body).toMatchObject({ id, cart: [42], names: ['cart'], requested: id, valid: true, same: true });
      expect(sessionIdFrom(res)).toBeUndefined(); // the client has the id already
    });
  });

  describe('req.getSession()', () => {
    it('creates the session (stored, cookie sent) even when nothing is written', async () => {
      await start();
      const res = await t.http().post('/create').expect(200);
      expect(res.body.same).toBe(true);
      expect(res.body.isNew).toBe(true);
      expect(sessionIdFrom(res)).toBe(res.body.id);
      expect(await t.store.get(res.body.id)).toBeTruthy();
      expect(t.manager.stats().sessions.created).toBe(1);
    });

    it('returns the existing session without creating another', async () => {
      await start();
      const id = await createSession();
      const res = await t.http().post('/create').set('Cookie', cookieFor(id)).expect(200);
      expect(res.body).toEqual({ id, same: true, isNew: false });
      expect(sessionIdFrom(res)).toBeUndefined();
      expect(await t.store.length!()).toBe(1);
    });
  });

  describe('req.getSession(false)', () => {
    it('returns null when the request has no session, and creates none', async () => {
      await start();
      const res = await t.http().get('/peek').expect(200);
      expect(res.body).toEqual({ none: true, id: null });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(await t.store.length!()).toBe(0);
    });

    it('returns null for an id that names no session', async () => {
      await start();
      const res = await t.http().get('/peek').set('Cookie', cookieFor('A'.repeat(43))).expect(200);
      expect(res.body.none).toBe(true);
    });

    it('returns the session the client named', async () => {
      await start();
      const id = await createSession();
      const res = await t.http().get('/peek').set('Cookie', cookieFor(id)).expect(200);
      expect(res.body).toEqual({ none: false, id });
    });
  });

  describe('req.getRequestedSessionId()', () => {
    it('is null when the client sent no id', async () => {
      await start();
      const res = await t.http().get('/read').expect(200);
      expect(res.body.requested).toBeNull();
    });

    it('is the id the client sent even when it names no session', async () => {
      await start();
      const unknown = 'B'.repeat(43);
      const res = await t.http().get('/read').set('Cookie', cookieFor(unknown)).expect(200);
      expect(res.body.requested).toBe(unknown);
      expect(res.body.valid).toBe(false);
      expect(res.body.id).not.toBe(unknown);
    });
  });

  describe('req.isRequestedSessionIdValid()', () => {
    it('is true for a live session and false once it was invalidated', async () => {
      await start();
      const id = await createSession();
      const live = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      expect(live.body.valid).toBe(true);
      await t.http().post('/invalidate-then-probe').set('Cookie', cookieFor(id)).expect(200);
      const after = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      expect(after.body.valid).toBe(false);
      expect(after.body.requested).toBe(id);
      expect(after.body.cart).toBeNull();
    });
  });

  describe('HttpSession.getLastAccessedTime()', () => {
    it("is the creation time in the creating request, then the previous request's start", async () => {
      await start();
      const t0 = t.clock.now();
      const first = await t.http().post('/create').expect(200);
      const id = first.body.id as string;

      t.clock.advanceSeconds(60);
      const t1 = t.clock.now();
      const second = await t.http().get('/times').set('Cookie', cookieFor(id)).expect(200);
      expect(second.body.created).toBe(t0);
      expect(second.body.lastAccessed).toBe(t0);

      t.clock.advanceSeconds(60); // the clock is now t1 + 5 s (inside /times) + 60 s
      const third = await t.http().get('/times').set('Cookie', cookieFor(id)).expect(200);
      expect(third.body.lastAccessed).toBe(t1);
      expect(third.body.created).toBe(t0);
    });

    it('does not move within a request', async () => {
      await start();
      const id = (await t.http().post('/create').expect(200)).body.id as string;
      t.clock.advanceSeconds(30);
      const res = await t.http().get('/times').set('Cookie', cookieFor(id)).expect(200);
      expect(res.body.lastAccessedLater).toBe(res.body.lastAccessed);
    });
  });

  describe('HttpSession.isNew()', () => {
    it('is true in the creating request and false once the client sent the id back', async () => {
      await start();
      const created = await t.http().post('/create').expect(200);
      expect(created.body.isNew).toBe(true);
      const back = await t.http().get('/times').set('Cookie', cookieFor(created.body.id)).expect(200);
      expect(back.body.isNew).toBe(false);
    });
  });

  describe('HttpSession.invalidate()', () => {
    it('makes every method but getId() throw IllegalStateError, a second invalidate() included', async () => {
      await start();
      const id = await createSession();
      const res = await t.http().post('/invalidate-then-probe').set('Cookie', cookieFor(id)).expect(200);
      const { getId, ...others } = res.body.probes as Record<string, string>;
      expect(getId).toBe('none');
      expect(res.body.idAfter).toBe(id);
      expect(Object.keys(others)).toHaveLength(10);
      for (const [method, thrown] of Object.entries(others)) {
        expect({ method, thrown }).toEqual({ method, thrown: 'IllegalStateError' });
      }
      expect(res.body.getSessionFalse).toBe(true);
    });

    it('deletes the session from the store before the response completes', async () => {
      await start();
      const id = await createSession();
      await t.http().post('/invalidate-then-probe').set('Cookie', cookieFor(id)).expect(200);
      expect(await t.store.get(id)).toBeFalsy();
    });

    it('lets getSession() in the same request create a new session with a new id', async () => {
      await start();
      const id = await createSession();
      const res = await t.http().post('/invalidate-then-create').set('Cookie', cookieFor(id)).expect(200);
      const { oldId, newId } = res.body as { oldId: string; newId: string };
      expect(oldId).toBe(id);
      expect(newId).not.toBe(id);
      expect(res.body).toMatchObject({ differentObject: true, httpSessionIsNew: true, attributes: ['fresh'], isNew: true });
      expect(sessionIdFrom(res)).toBe(newId);
      expect(await t.store.get(id)).toBeFalsy();
      const stored = await t.http().get('/read').set('Cookie', cookieFor(newId)).expect(200);
      expect(stored.body).toMatchObject({ id: newId, valid: true, names: ['fresh'] });
    });
  });

  describe('req.changeSessionId()', () => {
    it('gives the session a new id, keeps its data and sends the new id in the cookie', async () => {
      await start();
      const id = await createSession();
      const res = await t.http().post('/login').set('Cookie', cookieFor(id)).expect(200);
      const { before, after } = res.body as { before: string; after: string };
      expect(before).toBe(id);
      expect(after).not.toBe(id);
      expect(res.body.getId).toBe(after);
      expect(res.body.cart).toEqual([42]);
      expect(sessionIdFrom(res)).toBe(after);

      const renamed = await t.http().get('/read').set('Cookie', cookieFor(after)).expect(200);
      expect(renamed.body).toMatchObject({ id: after, cart: [42], valid: true, isNew: false });
    });

    it('leaves no session under the old id', async () => {
      await start();
      const id = await createSession();
      await t.http().post('/login').set('Cookie', cookieFor(id)).expect(200);
      expect(await t.store.get(id)).toBeFalsy();
      expect(await t.peek(id)).toBeUndefined();
      const old = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      expect(old.body).toMatchObject({ cart: null, valid: false, requested: id });
      expect(old.body.id).not.toBe(id);
    });

    it('throws IllegalStateError when the request has no created session', async () => {
      await start();
      const res = await t.http().post('/change-without-session').expect(200);
      expect(res.body.error).toBe('IllegalStateError');
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(await t.store.length!()).toBe(0);
    });
  });
});
