/**
 * Idle timeouts (docs/architecture.md, "Expiry and the reaper"): the manager's
 * `invalidationTimeout`, the app's `maxInactiveInterval`, a session's own
 * `setMaxInactiveInterval`, `strictExpiry`, and the rule that a session in
 * use never expires. All on a fake clock.
 */
import type { NextFunction, Request, Response } from 'express';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import {
  cookieFor,
  createTestApp,
  gate,
  sessionIdFrom,
  type Gate,
  type TestApp,
  type TestAppOptions,
} from './support/test-app';

const DAY_S = 24 * 3600;

/** What `GET /read` answers. */
interface ReadBody {
  id: string;
  valid: boolean;
  requested: string | null;
  names: string[];
  visits: number | null;
  timeout: number;
}

describe.each(EXPRESS_FLAVOURS)('timeouts on %s', (_name, flavour) => {
  let t: TestApp;
  /** `GET /slow` opens `reached` when it holds the session, then waits for `release`. */
  let reached: Gate;
  let release: Gate;

  afterEach(async () => {
    release?.open();
    await t?.close();
  });

  /** Builds the app under test. */
  async function start(options: TestAppOptions = {}): Promise<TestApp> {
    reached = gate();
    release = gate();
    t = await createTestApp(flavour, options, (app) => {
      app.post('/write', (req, res) => {
        const visits = (req.httpSession.getAttribute<number>('visits') ?? 0) + 1;
        req.httpSession.setAttribute('visits', visits);
        res.json({ id: req.httpSession.getId() });
      });
      app.get('/read', (req, res) => {
        const s = req.httpSession;
        const body: ReadBody = {
          id: s.getId(),
          valid: req.isRequestedSessionIdValid(),
          requested: req.getRequestedSessionId(),
          names: s.getAttributeNames(),
          visits: s.getAttribute<number>('visits') ?? null,
          timeout: s.getMaxInactiveInterval(),
        };
        res.json(body);
      });
      app.post('/timeout', (req, res) => {
        req.httpSession.setMaxInactiveInterval(Number(req.query.s));
        res.json({ id: req.httpSession.getId(), timeout: req.httpSession.getMaxInactiveInterval() });
      });
      app.post('/fractional-timeout', (req, res) => {
        try {
          req.httpSession.setMaxInactiveInterval(1.5);
          res.json({ thrown: 'none' });
        } catch (error) {
          res.json({ thrown: error instanceof TypeError ? 'TypeError' : String(error) });
        }
      });
      app.get('/slow', async (req: Request, res: Response, next: NextFunction) => {
        try {
          const visits = req.httpSession.getAttribute<number>('visits') ?? null;
          reached.open();
          await release.promise;
          res.json({ valid: req.isRequestedSessionIdValid(), visits });
        } catch (error) {
          next(error);
        }
      });
    });
    return t;
  }

  /** Creates a session (`visits` = 1) and returns its id. */
  async function createSession(): Promise<string> {
    const res = await t.http().post('/write').expect(200);
    return sessionIdFrom(res)!;
  }

  /** `GET /read` with the session's cookie. */
  async function read(id: string): Promise<ReadBody> {
    const res = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
    return res.body as ReadBody;
  }

  describe('invalidationTimeout', () => {
    it('defaults to 1800 s: a session idle 1799 s is alive, one idle 1800 s is not', async () => {
      await start();
      const a = await createSession();
      const b = await createSession();
      t.clock.advanceSeconds(1799);
      expect(await read(a)).toMatchObject({ valid: true, visits: 1, timeout: 1800 });
      t.clock.advanceSeconds(1);
      expect(await read(b)).toMatchObject({ valid: false, visits: null });
    });

    it('expires sessions after the configured number of seconds', async () => {
      await start({ manager: { invalidationTimeout: 60 } });
      const a = await createSession();
      const b = await createSession();
      t.clock.advanceSeconds(59);
      expect(await read(a)).toMatchObject({ valid: true, timeout: 60 });
      t.clock.advanceSeconds(2);
      expect(await read(b)).toMatchObject({ valid: false });
    });

    it('never expires sessions when negative', async () => {
      await start({ manager: { invalidationTimeout: -1 } });
      const id = await createSession();
      t.clock.advanceSeconds(100 * DAY_S);
      expect(await read(id)).toMatchObject({ valid: true, visits: 1, timeout: -1 });
    });

    it('restarts the idle clock on every request, reads included', async () => {
      await start({ manager: { invalidationTimeout: 60 } });
      const id = await createSession();
      for (let i = 0; i < 5; i++) {
        t.clock.advanceSeconds(50);
        expect((await read(id)).valid).toBe(true);
      }
      t.clock.advanceSeconds(60);
      expect((await read(id)).valid).toBe(false);
    });
  });

  describe('maxInactiveInterval (app option)', () => {
    it('uses the global invalidationTimeout when 0', async () => {
      await start({ manager: { invalidationTimeout: 600 }, app: { maxInactiveInterval: 0 } });
      const a = await createSession();
      const b = await createSession();
      t.clock.advanceSeconds(599);
      expect(await read(a)).toMatchObject({ valid: true, timeout: 600 });
      t.clock.advanceSeconds(1);
      expect((await read(b)).valid).toBe(false);
    });

    it('overrides the global timeout when positive', async () => {
      await start({ manager: { invalidationTimeout: 600 }, app: { maxInactiveInterval: 120 } });
      const a = await createSession();
      const b = await createSession();
      t.clock.advanceSeconds(119);
      expect(await read(a)).toMatchObject({ valid: true, timeout: 120 });
      t.clock.advanceSeconds(1);
      expect((await read(b)).valid).toBe(false);
    });

    it('never expires sessions when negative, whatever the global timeout', async () => {
      await start({ manager: { invalidationTimeout: 60 }, app: { maxInactiveInterval: -1 } });
      const id = await createSession();
      t.clock.advanceSeconds(100 * DAY_S);
      expect(await read(id)).toMatchObject({ valid: true, visits: 1, timeout: -1 });
    });
  });

  describe('HttpSession.setMaxInactiveInterval()', () => {
    it('creates a pending session, like a write', async () => {
      await start();
      const res = await t.http().post('/timeout?s=60').expect(200);
      expect(sessionIdFrom(res)).toBe(res.body.id);
      expect(await t.store.get(res.body.id)).toBeTruthy();
    });

    it("overrides the app's timeout, and the setting persists across requests", async () => {
      await start({ manager: { invalidationTimeout: 600 } });
      const a = await createSession();
      const b = await createSession();
      await t.http().post('/timeout?s=60').set('Cookie', cookieFor(a)).expect(200);
      await t.http().post('/timeout?s=60').set('Cookie', cookieFor(b)).expect(200);
      t.clock.advanceSeconds(59);
      expect(await read(a)).toMatchObject({ valid: true, timeout: 60 });
      t.clock.advanceSeconds(59);
      expect(await read(a)).toMatchObject({ valid: true, timeout: 60 }); // still 60 a request later
      t.clock.advanceSeconds(1); // b: idle 60 s
      expect((await read(b)).valid).toBe(false);
    });

    it('can lengthen the timeout beyond the global one', async () => {
      await start({ manager: { invalidationTimeout: 60 } });
      const id = await createSession();
      await t.http().post('/timeout?s=3600').set('Cookie', cookieFor(id)).expect(200);
      t.clock.advanceSeconds(3599);
      expect(await read(id)).toMatchObject({ valid: true, timeout: 3600 });
    });

    it.each([0, -5])('means never for %i, reported as -1', async (seconds) => {
      await start({ manager: { invalidationTimeout: 60 } });
      const id = await createSession();
      const res = await t.http().post(`/timeout?s=${seconds}`).set('Cookie', cookieFor(id)).expect(200);
      expect(res.body.timeout).toBe(-1);
      t.clock.advanceSeconds(100 * DAY_S);
      expect(await read(id)).toMatchObject({ valid: true, visits: 1, timeout: -1 });
    });

    it('throws TypeError for a fractional number of seconds and creates nothing', async () => {
      await start();
      const res = await t.http().post('/fractional-timeout').expect(200);
      expect(res.body.thrown).toBe('TypeError');
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(await t.store.length!()).toBe(0);
    });
  });

  describe('strictExpiry', () => {
    it('is on by default: an expired session is not served, the request gets a new pending one', async () => {
      await start({ manager: { invalidationTimeout: 60 } });
      const id = await createSession();
      t.clock.advanceSeconds(61);
      const res = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      const body = res.body as ReadBody;
      expect(body.valid).toBe(false);
      expect(body.requested).toBe(id);
      expect(body.id).not.toBe(id);
      expect(body.names).toEqual([]);
      expect(sessionIdFrom(res)).toBeUndefined(); // the new session is only pending
      expect(await t.store.get(id)).toBeFalsy();
    });

    it('gives the client a new session with a new id when the request writes', async () => {
      await start({ manager: { invalidationTimeout: 60 } });
      const id = await createSession();
      t.clock.advanceSeconds(61);
      const res = await t.http().post('/write').set('Cookie', cookieFor(id)).expect(200);
      const fresh = sessionIdFrom(res)!;
      expect(fresh).toBeDefined();
      expect(fresh).not.toBe(id);
      expect(await read(fresh)).toMatchObject({ valid: true, visits: 1 });
    });

    it('when false, still serves a session past its timeout until the reaper has run', async () => {
      await start({ manager: { invalidationTimeout: 60, strictExpiry: false } });
      const id = await createSession();
      t.clock.advanceSeconds(61);
      expect(await read(id)).toMatchObject({ id, valid: true, visits: 1 });
      t.clock.advanceSeconds(61);
      expect((await t.manager.reap()).expired).toBe(1);
      expect(await read(id)).toMatchObject({ valid: false, visits: null });
    });
  });

  describe('a session in use', () => {
    it('is not expired while a slow request holds it, and its idle clock restarts when that request ends', async () => {
      await start({ manager: { invalidationTimeout: 60, serialAccess: false } });
      const id = await createSession();

      // 1. A slow request holds the session while the clock passes its timeout.
      const slow = t.http().get('/slow').set('Cookie', cookieFor(id)).then((res) => res);
      await reached.promise;
      t.clock.advanceSeconds(120);

      // 2. A concurrent request still gets it.
      expect(await read(id)).toMatchObject({ valid: true, visits: 1 });

      // 3. The slow request ends later; the idle clock restarts from its end.
      t.clock.advanceSeconds(30);
      const slowEnd = t.clock.now();
      release.open();
      const slowRes = await slow;
      expect(slowRes.status).toBe(200);
      expect(slowRes.body).toEqual({ valid: true, visits: 1 });
      expect(await t.peek(id)).toMatchObject({ active: 0, deadline: slowEnd + 60_000 });

      // 59 s after the slow request's end (89 s after the concurrent one's): alive.
      t.clock.advanceSeconds(59);
      expect((await read(id)).valid).toBe(true);
      t.clock.advanceSeconds(60);
      expect((await read(id)).valid).toBe(false);
    });

    it("survives a request that outlasts the store's TTL of its record", async () => {
      // Timeout 60 s, grace max(60 s, 2 × 10 s): the store drops an untouched record after 120 s.
      await start({ manager: { invalidationTimeout: 60, reaperInterval: 10 } });
      const id = await createSession();
      const slow = t.http().get('/slow').set('Cookie', cookieFor(id)).then((res) => res);
      await reached.promise;
      t.clock.advanceSeconds(300);
      release.open();
      expect((await slow).body).toEqual({ valid: true, visits: 1 });
      t.clock.advanceSeconds(59);
      expect(await read(id)).toMatchObject({ valid: true, visits: 1 });
    });
  });
});
