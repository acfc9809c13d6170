/**
 * Administration (issue 6; docs/architecture.md, "Administration"): `manager.sessions` list/get/count/
 * kill/killAll/killByPrincipal, the principal binding (security
 * integration), `manager.adminRouter()` and `manager.disconnect()` — on the
 * in-process coordinator and on Redis.
 */
import type { Express, NextFunction, Request, Response } from 'express';
import { RedisStore } from 'connect-redis';
import { BadRequestError, ConfigurationError, type LocalCoordinator, type SessionInfo, type SessionManagerOptions } from '../lib';
import { redisCoordinator } from '../lib/redis';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { countCalls } from './support/instrumented-store';
import { closeTopologyClient, connectTopology, deleteKeys, describeTopologies, type TopologyClient } from './support/redis-topology';
import { uniquePrefix } from './support/services';
import { cookieFor, createTestApp, sessionIdFrom, type TestApp } from './support/test-app';

const [, flavour] = EXPRESS_FLAVOURS[EXPRESS_FLAVOURS.length - 1];

/** Routes: `POST /start` (optionally in app `shop`) and `GET /view`; the user comes from `x-user`. */
function adminRoutes(app: Express, { manager }: { manager: TestApp['manager'] }): void {
  const shop = manager.middleware({ app: 'shop' });
  const start = (req: Request, res: Response) => {
    req.httpSession.setAttribute('n', Number(req.query.n ?? 0));
    res.sendStatus(204);
  };
  app.post('/start', start);
  app.post('/shop/start', shop, start);
  app.post('/rotate', (req: Request, res: Response) => {
    req.changeSessionId();
    res.sendStatus(204);
  });
  app.get('/view', (req: Request, res: Response) => {
    const session = req.getSession(false);
    res.json({ live: session !== null, n: session?.getAttribute('n') ?? null, valid: req.isRequestedSessionIdValid() });
  });
  app.post('/logout', manager.disconnect());
  app.post('/logout-form', manager.disconnect({ redirect: '/bye' }));
  app.use('/admin', manager.adminRouter({ authorize: (req) => req.get('x-admin') !== 'no' }));
  app.use((err: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.status ?? 500).json({ name: err.name });
  });
}

const principalOption: SessionManagerOptions['principal'] = (req) => req.get('x-user') || undefined;

/** Creates a session (as `user`, when given); its id. */
async function startSession(t: TestApp, user?: string, path = '/start', n = 0): Promise<string> {
  const req = t.http().post(`${path}?n=${n}`);
  if (user) req.set('x-user', user);
  const res = await req.expect(204);
  return sessionIdFrom(res)!;
}

/** Every page of a listing. */
async function allPages(t: TestApp, options: { app?: string; principal?: string; limit: number }): Promise<SessionInfo[][]> {
  const pages: SessionInfo[][] = [];
  let cursor: string | undefined;
  do {
    const page = await t.manager.sessions.list({ ...options, cursor });
    pages.push(page.sessions);
    cursor = page.cursor;
  } while (cursor);
  return pages;
}

/** The admin behaviours, run on each coordinator. */
function adminSuite(options: () => SessionManagerOptions, cleanup: () => Promise<void> = async () => undefined) {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(flavour, { manager: { principal: principalOption, invalidationTimeout: 600, ...options() } }, adminRoutes);
  });
  afterEach(async () => {
    await t.close();
    await cleanup();
  });

  describe('list, get and count', () => {
    it('pages through every live session once, in key order, with a cursor until the last page', async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 23; i++) ids.add(await startSession(t, undefined, '/start', i));
      const pages = await allPages(t, { limit: 10 });
      expect(pages.map((p) => p.length)).toEqual([10, 10, 3]);
      const listed = pages.flat().map((s) => s.id);
      expect(new Set(listed)).toEqual(ids);
      expect(listed).toEqual([...listed].sort());
      await expect(t.manager.sessions.count()).resolves.toBe(23);
    });

    it('stays stable while sessions are created between pages: none twice, none present throughout missed', async () => {
      const before = new Set<string>();
      for (let i = 0; i < 20; i++) before.add(await startSession(t));
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await t.manager.sessions.list({ limit: 5, cursor });
        seen.push(...page.sessions.map((s) => s.id));
        cursor = page.cursor;
        await startSession(t); // a new one arrives between pages
      } while (cursor);
      expect(new Set(seen).size).toBe(seen.length);
      for (const id of before) expect(seen).toContain(id);
    });

    it('loads only the page, not every session (the index answers)', async () => {
      for (let i = 0; i < 60; i++) await startSession(t);
      const calls = countCalls(t.manager.store);
      const page = await t.manager.sessions.list({ limit: 10 });
      expect(page.sessions).toHaveLength(10);
      expect(calls.get).toBeLessThanOrEqual(11);
    });

    it('filters by app and by principal; count by app', async () => {
      const ann1 = await startSession(t, 'ann');
      const ann2 = await startSession(t, 'ann', '/shop/start');
      await startSession(t, 'bob');
      await startSession(t);
      const shopOnly = await t.manager.sessions.list({ app: 'shop' });
      expect(shopOnly.sessions.map((s) => [s.id, s.app, s.principal])).toEqual([[ann2, 'shop', 'ann']]);
      const anns = await t.manager.sessions.list({ principal: 'ann' });
      expect(anns.sessions.map((s) => s.id).sort()).toEqual([ann1, ann2].sort());
      await expect(t.manager.sessions.count({ app: 'shop' })).resolves.toBe(1);
      await expect(t.manager.sessions.count({ app: 'default' })).resolves.toBe(3);
      await expect(t.manager.sessions.list({ principal: 'ann', app: 'default' })).resolves.toEqual({
        sessions: [expect.objectContaining({ id: ann1, principal: 'ann' })],
      });
    });

    it('finds a user’s sessions from the principal index, loading only theirs', async () => {
      for (let i = 0; i < 40; i++) await startSession(t, `user${i}`);
      const mine = [await startSession(t, 'ann'), await startSession(t, 'ann')];
      const calls = countCalls(t.manager.store);
      const page = await t.manager.sessions.list({ principal: 'ann', limit: 1 });
      expect(page.sessions).toHaveLength(1);
      expect(page.cursor).toBeDefined();
      const next = await t.manager.sessions.list({ principal: 'ann', limit: 1, cursor: page.cursor });
      expect([...page.sessions, ...next.sessions].map((s) => s.id).sort()).toEqual(mine.sort());
      expect(next.cursor).toBeUndefined();
      expect(calls.get).toBeLessThanOrEqual(4);
    });

    it('get() without app finds the id in the first app by name that holds it', async () => {
      const id = await startSession(t, undefined, '/shop/start');
      await expect(t.manager.sessions.get(id)).resolves.toMatchObject({ id, app: 'shop' });
    });
  });

  describe('killAll and killByPrincipal', () => {
    it('killByPrincipal kills every session of the user, in every app, and nothing else', async () => {
      const destroyed: string[] = [];
      t.manager.on('sessionDestroyed', (e) => destroyed.push(`${e.id}:${e.app}:${e.reason}`));
      const a = await startSession(t, 'ann');
      const b = await startSession(t, 'ann', '/shop/start');
      const bob = await startSession(t, 'bob');
      await expect(t.manager.sessions.killByPrincipal('ann')).resolves.toBe(2);
      expect(destroyed.sort()).toEqual([`${a}:default:killed`, `${b}:shop:killed`].sort());
      await expect(t.manager.sessions.list({ principal: 'ann' })).resolves.toEqual({ sessions: [] });
      await expect(t.manager.sessions.get(bob)).resolves.toMatchObject({ principal: 'bob' });
      await expect(t.manager.sessions.killByPrincipal('ann')).resolves.toBe(0);
    });

    it('killAll({ app }) kills that app’s sessions; killAll() the rest', async () => {
      await startSession(t);
      await startSession(t);
      await startSession(t, undefined, '/shop/start');
      await expect(t.manager.sessions.killAll({ app: 'shop' })).resolves.toBe(1);
      await expect(t.manager.sessions.count()).resolves.toBe(2);
      await expect(t.manager.sessions.killAll()).resolves.toBe(2);
      await expect(t.manager.sessions.count()).resolves.toBe(0);
      expect(t.manager.stats().sessions.killed).toBe(3);
    });
  });

  describe('security integration (principal)', () => {
    it('refuses a request authenticated as someone else with 403, showing and changing nothing', async () => {
      const id = await startSession(t, 'ann', '/start', 7);
      const res = await t.http().get('/view').set('Cookie', cookieFor(id)).set('x-user', 'bob');
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ name: 'UnauthorizedSessionRequestError' });
      const again = await t.http().post('/start?n=99').set('Cookie', cookieFor(id)).set('x-user', 'bob');
      expect(again.status).toBe(403);
      const own = await t.http().get('/view').set('Cookie', cookieFor(id)).set('x-user', 'ann');
      expect(own.body).toEqual({ live: true, n: 7, valid: true });
    });

    it('gives an anonymous request with a bound id a new session', async () => {
      const id = await startSession(t, 'ann', '/start', 7);
      const anonymous = await t.http().get('/view').set('Cookie', cookieFor(id));
      expect(anonymous.body).toEqual({ live: false, n: null, valid: false });
      const created = await t.http().post('/start?n=1').set('Cookie', cookieFor(id));
      expect(sessionIdFrom(created)).not.toBe(id);
      expect((await t.http().get('/view').set('Cookie', cookieFor(id)).set('x-user', 'ann')).body.n).toBe(7);
    });

    it('binds an anonymous session at login under a new id (rotateOnLogin), and keeps the binding across changeSessionId()', async () => {
      const anonymous = await startSession(t);
      await expect(t.manager.sessions.get(anonymous)).resolves.toMatchObject({ principal: null });
      const login = await t.http().get('/view').set('Cookie', cookieFor(anonymous)).set('x-user', 'ann').expect(200);
      const id = sessionIdFrom(login)!;
      expect(id).not.toBe(anonymous);
      await expect(t.manager.sessions.get(anonymous)).resolves.toBeNull();
      await expect(t.manager.sessions.get(id)).resolves.toMatchObject({ principal: 'ann' });
      expect((await t.http().get('/view').set('Cookie', cookieFor(id)).set('x-user', 'bob')).status).toBe(403);
      const rotated = sessionIdFrom(await t.http().post('/rotate').set('Cookie', cookieFor(id)).set('x-user', 'ann'))!;
      expect(rotated).not.toBe(id);
      await expect(t.manager.sessions.list({ principal: 'ann' })).resolves.toEqual({
        sessions: [expect.objectContaining({ id: rotated, principal: 'ann' })],
      });
      expect((await t.http().get('/view').set('Cookie', cookieFor(rotated)).set('x-user', 'bob')).status).toBe(403);
    });

    it('forgets the user’s index entry when the session goes', async () => {
      const id = await startSession(t, 'ann');
      await t.http().post('/logout').set('Cookie', cookieFor(id)).set('x-user', 'ann').expect(204);
      await expect((t.manager.coordinator as LocalCoordinator).keysOf('ann')).resolves.toEqual([]);
    });
  });

  describe('bad input', () => {
    it.each([
      [{ limit: 0 }, /limit must not be less than 1/],
      [{ limit: 1.5 }, /limit must be a whole number/],
      [{ limit: 5000 }, /limit must not be greater than 1000/],
      [{ cursor: 'not a cursor!' }, /cursor must be a cursor from a previous page/],
      [{ cursor: Buffer.from('a:b:c').toString('base64url') }, /cursor must be a cursor from a previous page/],
      [{ app: 'no spaces' }, /app must be/],
      [{ principal: '' }, /principal must be 1-256 characters/],
    ])('list(%j) throws BadRequestError', async (input, message) => {
      const error = await t.manager.sessions.list(input as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BadRequestError);
      expect((error as BadRequestError).status).toBe(400);
      expect((error as Error).message).toMatch(message);
    });

    it('get/kill with a malformed id throw BadRequestError', async () => {
      await expect(t.manager.sessions.get('bad id!')).rejects.toBeInstanceOf(BadRequestError);
      await expect(t.manager.sessions.kill('x'.repeat(200))).rejects.toBeInstanceOf(BadRequestError);
      await expect(t.manager.sessions.killByPrincipal('')).rejects.toBeInstanceOf(BadRequestError);
    });
  });

  describe('adminRouter', () => {
    it('answers the JSON routes the README documents', async () => {
      const id = await startSession(t, 'ann', '/start', 3);
      const list = await t.http().get('/admin/api/sessions?limit=10').expect(200);
      expect(list.body).toEqual({ sessions: [expect.objectContaining({ id, principal: 'ann', attributeNames: ['n'] })] });
      expect((await t.http().get(`/admin/api/sessions/${id}`).expect(200)).body).toMatchObject({ id, app: 'default' });
      expect((await t.http().get('/admin/api/sessions/unknown').expect(404)).body).toEqual({ error: 'no such session' });
      const stats = await t.http().get('/admin/api/stats').expect(200);
      expect(stats.body).toMatchObject({ live: 1, sessions: { created: 1 }, reaper: { active: true } });
      const reap = await t.http().post('/admin/api/reap').set('X-Requested-With', 'fetch').expect(200);
      expect(reap.body).toEqual({ expired: 0, durationMs: expect.any(Number) });
      const gone = await t.http().delete('/admin/api/sessions/unknown').set('X-Requested-With', 'fetch').expect(404);
      expect(gone.body).toEqual({ killed: false, deferred: false });
      const killed = await t.http().delete(`/admin/api/sessions/${id}`).set('X-Requested-With', 'fetch').expect(200);
      expect(killed.body).toEqual({ killed: true, deferred: false });
      await startSession(t, 'bob');
      await startSession(t, undefined, '/shop/start');
      const byUser = await t.http().delete('/admin/api/sessions?principal=bob').set('X-Requested-With', 'fetch').expect(200);
      expect(byUser.body).toEqual({ killed: 1 });
      const byApp = await t.http().delete('/admin/api/sessions?app=shop').set('X-Requested-With', 'fetch').expect(200);
      expect(byApp.body).toEqual({ killed: 1 });
      expect((await t.http().get('/admin/').expect(200)).headers['content-type']).toMatch(/text\/html/);
      // The page's assets and API are relative to it: /admin becomes /admin/.
      await t.http().get('/admin?app=shop').expect(308).expect('Location', '/admin/?app=shop');
    });

    it('answers 403 on every route when authorize says no', async () => {
      for (const [method, path] of [
        ['get', '/admin/'],
        ['get', '/admin/api/sessions'],
        ['get', '/admin/api/sessions/abc'],
        ['delete', '/admin/api/sessions/abc'],
        ['get', '/admin/api/stats'],
        ['post', '/admin/api/reap'],
      ] as const) {
        const res = await t.http()[method](path).set('x-admin', 'no').set('X-Requested-With', 'fetch');
        expect([path, res.status]).toEqual([path, 403]);
      }
    });

    it('refuses state-changing requests without X-Requested-With (a cross-site form or image cannot kill)', async () => {
      const id = await startSession(t);
      expect((await t.http().delete(`/admin/api/sessions/${id}`)).status).toBe(403);
      expect((await t.http().post('/admin/api/reap')).status).toBe(403);
      expect((await t.http().delete('/admin/api/sessions?app=default')).status).toBe(403);
      await expect(t.manager.sessions.get(id)).resolves.not.toBeNull();
    });

    it('answers 400 with a message for bad query values, 405 for a wrong method', async () => {
      for (const path of ['/admin/api/sessions?limit=abc', '/admin/api/sessions?limit=0', '/admin/api/sessions?cursor=%21%21', '/admin/api/sessions/bad%20id', '/admin/api/sessions/%E0%A4%A']) {
        const res = await t.http().get(path);
        expect([path, res.status]).toEqual([path, 400]);
        expect(res.body.error).toEqual(expect.any(String));
      }
      expect((await t.http().delete('/admin/api/sessions').set('X-Requested-With', 'x')).status).toBe(400);
      expect((await t.http().put('/admin/api/stats').set('X-Requested-With', 'x')).status).toBe(405);
    });
  });

  describe('disconnect()', () => {
    it('invalidates the caller’s session, clears the cookie and answers 204', async () => {
      const destroyed: string[] = [];
      t.manager.on('sessionDestroyed', (e) => destroyed.push(`${e.app}:${e.reason}`));
      const id = await startSession(t);
      await t.http().post('/shop/start').set('Cookie', cookieFor(id)).expect(204); // another app shares the id
      const res = await t.http().post('/logout').set('Cookie', cookieFor(id)).expect(204);
      expect(String(res.headers['set-cookie'])).toMatch(/JSESSIONID=;.*Expires=Thu, 01 Jan 1970/);
      expect(destroyed).toEqual(['default:invalidated']);
      expect((await t.http().get('/view').set('Cookie', cookieFor(id))).body.live).toBe(false);
      const none = await t.http().post('/logout').expect(204);
      expect(none.headers['set-cookie']).toBeUndefined();
    });

    it('answers 303 to `redirect` when given one (for an HTML form)', async () => {
      const id = await startSession(t);
      const res = await t.http().post('/logout-form').set('Cookie', cookieFor(id)).expect(303).expect('Location', '/bye');
      expect(String(res.headers['set-cookie'])).toMatch(/JSESSIONID=;/);
      expect((await t.http().get('/view').set('Cookie', cookieFor(id))).body.live).toBe(false);
      expect(() => t.manager.disconnect({ redirect: '' })).toThrow(ConfigurationError);
    });
  });
}

describe('administration, in-process coordinator', () => {
  adminSuite(() => ({}));

  it('adminRouter() without authorize is a ConfigurationError', async () => {
    const t = await createTestApp(flavour, {}, () => undefined);
    try {
      expect(() => t.manager.adminRouter(undefined as never)).toThrow(ConfigurationError);
      expect(() => t.manager.adminRouter({} as never)).toThrow(/authorize must be a function/);
    } finally {
      await t.close();
    }
  });
});

describeTopologies('administration, Redis coordinator and connect-redis', (topology) => {
  let client: TopologyClient;
  let prefix: string;
  beforeAll(async () => {
    client = await connectTopology(topology);
  });
  afterAll(async () => {
    await closeTopologyClient(client);
  });
  adminSuite(
    () => {
      prefix = uniquePrefix('admin');
      return {
        store: new RedisStore({ client, prefix: `${prefix}sess:` }),
        coordinator: redisCoordinator({ client, prefix }),
      };
    },
    async () => {
      await deleteKeys(client, prefix);
    },
  );
});
