/**
 * Store failures (docs/architecture.md, "Faults"): a store that errors, and
 * one that never answers (bounded by `storeTimeout`), give a
 * `StoreUnavailableError` with status 503 through `next(err)`; the process
 * neither crashes nor leaves an unhandled rejection; requests without a
 * session id keep working; a failed save is a 503, never a false success;
 * once the store recovers everything works again. The same for a
 * coordinator that fails or never answers: its calls are bounded too.
 */
import type { Express } from 'express';
import request from 'supertest';
import { MemoryStore, sessionManagement, StoreUnavailableError, type SessionManager } from '../lib/index';
import { cookieFrom } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { probeApp, type Probe, type ProbeState } from './support/probe-app';
import { breakableCoordinator, type CoordinatorBreaker } from './support/coordinator-breaker';
import { breakableStore, type Breakage, type StoreBreaker } from './support/store-breaker';
import { watchUnhandledRejections, type RejectionWatch } from './support/unhandled-rejections';

/** `storeTimeout` of these suites, in seconds. */
const STORE_TIMEOUT = 0.05;

/** Long enough for every unanswered call's timeout to have fired. */
const SETTLE_MS = 3 * STORE_TIMEOUT * 1000;

const BREAKAGES: [string, Breakage][] = [
  ['a store that errors', 'error'],
  ['a store that never answers', 'hang'],
];

/** The number of records in our MemoryStore. */
function sizeOf(store: MemoryStore): Promise<number> {
  return new Promise((resolve, reject) => store.length((err, n) => (err ? reject(err as Error) : resolve(n ?? 0))));
}

describe.each(EXPRESS_FLAVOURS)('store failures on %s', (_flavour, createExpress: () => Express) => {
  describe.each(BREAKAGES)('%s', (_what, breakage) => {
    let store: MemoryStore;
    let breaker: StoreBreaker;
    let manager: SessionManager;
    let probe: Probe;
    let rejections: RejectionWatch;

    beforeEach(() => {
      rejections = watchUnhandledRejections();
      store = new MemoryStore();
      breaker = breakableStore(store);
      const middleware = sessionManagement({ store, storeTimeout: STORE_TIMEOUT });
      manager = middleware.manager;
      probe = probeApp(createExpress, middleware);
    });

    afterEach(async () => {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      breaker.repair();
      await manager.close();
      rejections.stop();
      expect(rejections.reasons).toEqual([]);
    });

    /** Creates a session with `a=1` while the store works; answers its cookie. */
    async function liveSession(): Promise<string> {
      const res = await request(probe.app).post('/set/a/1').expect(200);
      return cookieFrom(res)!;
    }

    it('passes a StoreUnavailableError with status 503 to next(err) for a request carrying a session id', async () => {
      const cookie = await liveSession();
      breaker.break(breakage);
      const res = await request(probe.app).get('/state').set('Cookie', cookie).expect(503);
      expect(res.body).toEqual({ name: 'StoreUnavailableError', code: 'ERR_STORE_UNAVAILABLE' });
      expect(probe.errors).toHaveLength(1);
      const [error] = probe.errors;
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).status).toBe(503);
      expect(breaker.failedCalls).toBeGreaterThan(0);
    });

    it("answers 503 through Express's own final handler when the app has no error handler", async () => {
      const cookie = await liveSession();
      const app = createExpress();
      const middleware = sessionManagement({ store, storeTimeout: STORE_TIMEOUT });
      app.use(middleware);
      app.get('/', (_req, res) => {
        res.send('never reached');
      });
      breaker.break(breakage);
      try {
        const res = await request(app).get('/').set('Cookie', cookie).expect(503);
        expect(res.text).not.toContain('never reached');
      } finally {
        await middleware.manager.close();
      }
    });

    it('answers within a bounded time, not when the store finally gives up', async () => {
      const cookie = await liveSession();
      breaker.break(breakage);
      const started = Date.now();
      await request(probe.app).get('/state').set('Cookie', cookie).expect(503);
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('keeps serving requests that carry no session id', async () => {
      breaker.break(breakage);
      const state = await request(probe.app).get('/state').expect(200);
      expect((state.body as ProbeState).hasSession).toBe(false);
      const plain = await request(probe.app).get('/plain').expect(200);
      expect(plain.text).toBe('plain');
      expect(probe.errors).toEqual([]);
    });

    it('keeps serving stateless routes even with a session id', async () => {
      const cookie = await liveSession();
      const app = createExpress();
      app.use(manager.middleware({ stateless: true }));
      app.get('/health', (req, res) => {
        res.json({ session: req.getSession(false) });
      });
      breaker.break(breakage);
      const res = await request(app).get('/health').set('Cookie', cookie).expect(200);
      expect(res.body).toEqual({ session: null });
    });

    it('survives many failing requests at once', async () => {
      const cookie = await liveSession();
      breaker.break(breakage);
      const responses = await Promise.all(
        Array.from({ length: 25 }, () => request(probe.app).get('/state').set('Cookie', cookie)),
      );
      expect(responses.map((res) => res.status)).toEqual(Array(25).fill(503));
      expect(probe.errors).toHaveLength(25);
      expect(probe.errors.every((error) => error instanceof StoreUnavailableError)).toBe(true);
    });

    it('answers 503, not a false 200, when storing a new session fails', async () => {
      breaker.break(breakage, ['set']);
      const res = await request(probe.app).post('/set/a/1').expect(503);
      expect(res.headers['set-cookie']).toBeUndefined();
      breaker.repair();
      expect(await sizeOf(store)).toBe(0);
    });

    it('answers 503 when storing a change fails, and the stored data stays as it was', async () => {
      const cookie = await liveSession();
      breaker.break(breakage, ['set']);
      await request(probe.app).post('/set/a/2').set('Cookie', cookie).expect(503);
      breaker.repair();
      const res = await request(probe.app).get('/state').set('Cookie', cookie).expect(200);
      expect((res.body as ProbeState).attributes).toEqual({ a: '1' });
    });

    it('answers 503 when deleting an invalidated session fails', async () => {
      const cookie = await liveSession();
      breaker.break(breakage, ['destroy']);
      await request(probe.app).post('/invalidate').set('Cookie', cookie).expect(503);
    });

    it('works again once the store recovers', async () => {
      const cookie = await liveSession();
      breaker.break(breakage);
      await request(probe.app).get('/state').set('Cookie', cookie).expect(503);
      await request(probe.app).post('/set/b/2').expect(503);
      breaker.repair();

      const read = await request(probe.app).get('/state').set('Cookie', cookie).expect(200);
      expect((read.body as ProbeState).requestedIdValid).toBe(true);
      expect((read.body as ProbeState).attributes).toEqual({ a: '1' });
      const write = await request(probe.app).post('/set/b/2').set('Cookie', cookie).expect(200);
      expect((write.body as ProbeState).attributes).toEqual({ a: '1', b: '2' });
      const created = await request(probe.app).post('/set/c/3').expect(200);
      expect(cookieFrom(created)).toBeDefined();
      await request(probe.app).post('/invalidate').set('Cookie', cookie).expect(204);
      expect(await sizeOf(store)).toBe(1);
    });
  });
});

describe.each(EXPRESS_FLAVOURS)('coordinator failures on %s', (_flavour, createExpress: () => Express) => {
  describe.each(BREAKAGES.map(([what, how]) => [what.replace('store', 'coordinator'), how] as const))('%s', (_what, breakage) => {
    let breaker: CoordinatorBreaker;
    let manager: SessionManager;
    let probe: Probe;
    let rejections: RejectionWatch;

    beforeEach(() => {
      rejections = watchUnhandledRejections();
      breaker = breakableCoordinator();
      const middleware = sessionManagement({ coordinator: breaker.coordinator, storeTimeout: STORE_TIMEOUT });
      manager = middleware.manager;
      probe = probeApp(createExpress, middleware);
    });

    afterEach(async () => {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      breaker.repair();
      await manager.close();
      rejections.stop();
      expect(rejections.reasons).toEqual([]);
    });

    it('answers 503 within storeTimeout for reads and writes of an existing session', async () => {
      const cookie = cookieFrom(await request(probe.app).post('/set/a/1').expect(200))!;
      breaker.break(breakage);
      const started = Date.now();
      const [read, write] = await Promise.all([
        request(probe.app).get('/state').set('Cookie', cookie),
        request(probe.app).post('/set/a/2').set('Cookie', cookie),
      ]);
      expect([read.status, write.status]).toEqual([503, 503]);
      expect(Date.now() - started).toBeLessThan(STORE_TIMEOUT * 1000 + 500);
      expect(probe.errors.every((error) => error instanceof StoreUnavailableError)).toBe(true);
      expect(breaker.failedCalls).toBeGreaterThan(0);
    });

    it('keeps serving requests without a session id, and sweeps fail instead of hanging', async () => {
      breaker.break(breakage);
      await request(probe.app).get('/plain').expect(200);
      await expect(manager.reap()).rejects.toBeInstanceOf(StoreUnavailableError);
    });

    it('serves the session again once the coordinator recovers', async () => {
      const cookie = cookieFrom(await request(probe.app).post('/set/a/1').expect(200))!;
      breaker.break(breakage);
      await request(probe.app).get('/state').set('Cookie', cookie).expect(503);
      breaker.repair();
      const res = await request(probe.app).get('/state').set('Cookie', cookie).expect(200);
      expect((res.body as ProbeState).attributes).toEqual({ a: '1' });
    });
  });
});
