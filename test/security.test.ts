/**
 * Security and operations (issue 16; docs/security.md, docs/architecture.md "Caps"), in one
 * process: `maxLifetime`, `maxActiveSessions`, `maxSessionsPerPrincipal` with both
 * `onMaxSessions`, `rotateOnLogin`, `__Host-` cookie names, and `by` on kills through the admin
 * router. The same caps across processes sharing Redis: test/caps-redis.test.ts.
 */
import type { Express, Request, Response } from 'express';
import request from 'supertest';
import { ConfigurationError, createSessionManager, type SessionDestroyedEvent, type SessionIdChangedEvent, type SessionManagerOptions } from '../lib';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { cookieFor, createTestApp, eventually, gate, sessionIdFrom, type Gate, type TestApp } from './support/test-app';

/** The user of a request: the `x-user` header (what an authentication middleware would set). */
const principal = (req: Request): string | undefined => req.get('x-user') || undefined;

interface Rig {
  t: TestApp;
  destroyed: SessionDestroyedEvent[];
  changed: SessionIdChangedEvent[];
  /** `/hold` runs until it is opened. */
  held: Gate;
  running: Gate;
  /** `POST /start` as `user` (anonymous without): the new session's id. */
  start(user?: string): Promise<string>;
}

async function rig(flavour: () => Express, manager: SessionManagerOptions): Promise<Rig> {
  const held = gate();
  const running = gate();
  const t = await createTestApp(flavour, { manager: { invalidationTimeout: 600, ...manager } }, (app, parts) => {
    app.post('/start', (req: Request, res: Response) => {
      req.httpSession.setAttribute('cart', [1]);
      res.sendStatus(204);
    });
    app.get('/view', (req: Request, res: Response) => {
      const session = req.getSession(false);
      res.json({ live: session !== null, id: session?.getId() ?? null, cart: session?.getAttribute('cart') ?? null });
    });
    app.post('/touch', (req: Request, res: Response) => {
      req.httpSession.setAttribute('touched', true);
      res.sendStatus(204);
    });
    app.post('/hold', async (req: Request, res: Response) => {
      const { signal } = req.httpSession;
      running.open();
      await held.promise;
      res.json({ aborted: signal.aborted });
    });
    if (manager.principal) app.use('/admin', parts.manager.adminRouter({ authorize: () => true }));
  });
  const destroyed: SessionDestroyedEvent[] = [];
  const changed: SessionIdChangedEvent[] = [];
  t.manager.on('sessionDestroyed', (e) => destroyed.push(e));
  t.manager.on('sessionIdChanged', (e) => changed.push(e));
  return {
    t,
    destroyed,
    changed,
    held,
    running,
    start: async (user) => {
      const res = await t.http().post('/start').set(user ? { 'x-user': user } : {});
      expect(res.status).toBe(204);
      return sessionIdFrom(res)!;
    },
  };
}

describe.each(EXPRESS_FLAVOURS)('security options (%s)', (_name, flavour) => {
  let r: Rig | undefined;
  afterEach(async () => {
    r?.held.open();
    await r?.t.close();
    r = undefined;
  });

  describe('maxLifetime', () => {
    it('expires a session at creation + lifetime however active, on access, with reason expired', async () => {
      r = await rig(flavour, { maxLifetime: 60 });
      const id = await r.start();
      for (let i = 0; i < 5; i++) {
        r.t.clock.advanceSeconds(11); // well within the idle timeout (600 s) each time
        expect((await r.t.http().get('/view').set('Cookie', cookieFor(id))).body.live).toBe(true);
      }
      r.t.clock.advanceSeconds(6); // 61 s after creation
      expect((await r.t.http().get('/view').set('Cookie', cookieFor(id))).body.live).toBe(false);
      expect(r.destroyed.map((e) => [e.id, e.reason])).toEqual([[id, 'expired']]);
    });

    it('gives the expiry index the earlier deadline, so the reaper takes it', async () => {
      r = await rig(flavour, { maxLifetime: 100 });
      const id = await r.start();
      r.t.clock.advanceSeconds(50);
      await r.t.http().get('/view').set('Cookie', cookieFor(id));
      const entry = await r.t.peek(id);
      expect(entry!.deadline).toBe(r.t.clock.now() + 50_000); // created + 100 s, not now + 600 s
      r.t.clock.advanceSeconds(51);
      expect((await r.t.manager.reap()).expired).toBe(1);
      expect(r.destroyed.map((e) => [e.id, e.reason])).toEqual([[id, 'expired']]);
    });

    it('without it, the idle timeout alone decides', async () => {
      r = await rig(flavour, {});
      const id = await r.start();
      for (let i = 0; i < 3; i++) {
        r.t.clock.advanceSeconds(500);
        expect((await r.t.http().get('/view').set('Cookie', cookieFor(id))).body.live).toBe(true);
      }
    });
  });

  describe('maxActiveSessions', () => {
    it('refuses the session that would be one too many with a 503 and Retry-After, and leaves the others alone', async () => {
      r = await rig(flavour, { maxActiveSessions: 2 });
      const a = await r.start();
      const b = await r.start();
      const refused = await r.t.http().post('/start');
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('60');
      expect(refused.text).toMatch(/Too many sessions/);
      expect(sessionIdFrom(refused)).toBeUndefined();
      for (const id of [a, b]) expect((await r.t.http().get('/view').set('Cookie', cookieFor(id))).body.cart).toEqual([1]);
      expect(await r.t.manager.sessions.count()).toBe(2);
      // A request that only reads creates nothing and is not refused.
      expect((await r.t.http().get('/view')).status).toBe(200);
    });

    it('makes room again when a session goes', async () => {
      r = await rig(flavour, { maxActiveSessions: 1 });
      const a = await r.start();
      expect((await r.t.http().post('/start')).status).toBe(503);
      await r.t.manager.sessions.kill(a);
      expect((await r.t.http().post('/start')).status).toBe(204);
    });

    it('counts per app', async () => {
      r = await rig(flavour, { maxActiveSessions: 1 });
      await r.start();
      const other = createTestAppOnManager(r.t, 'other');
      expect((await request(other).post('/start')).status).toBe(204);
      expect((await request(other).post('/start')).status).toBe(503);
    });
  });

  describe('maxSessionsPerPrincipal', () => {
    it("'evict-oldest' kills the least recently used session of the user, reason evicted", async () => {
      r = await rig(flavour, { principal, maxSessionsPerPrincipal: 2 });
      const first = await r.start('ann');
      r.t.clock.advanceSeconds(1);
      const second = await r.start('ann');
      r.t.clock.advanceSeconds(1);
      await r.t.http().get('/view').set({ Cookie: cookieFor(first), 'x-user': 'ann' }); // first is now the more recent
      r.t.clock.advanceSeconds(1);
      const bob = await r.start('bob');
      const third = await r.start('ann');
      expect(r.destroyed.map((e) => [e.id, e.reason])).toEqual([[second, 'evicted']]);
      expect(r.t.manager.stats().sessions.evicted).toBe(1);
      const keys = (await r.t.manager.sessions.list({ principal: 'ann' })).sessions.map((s) => s.id).sort();
      expect(keys).toEqual([first, third].sort());
      expect((await r.t.manager.sessions.list({ principal: 'bob' })).sessions.map((s) => s.id)).toEqual([bob]);
    });

    it('signals a request running on the evicted session as a kill does, and destroys it when it ends', async () => {
      r = await rig(flavour, { principal, maxSessionsPerPrincipal: 1 });
      const first = await r.start('ann');
      const holding = r.t.http().post('/hold').set({ Cookie: cookieFor(first), 'x-user': 'ann' }).then((res) => res);
      await r.running.promise;
      await r.start('ann');
      expect(r.destroyed).toEqual([]); // deferred: in use
      r.held.open();
      expect((await holding).body).toEqual({ aborted: true });
      await eventually(() => expect(r!.destroyed.map((e) => [e.id, e.reason])).toEqual([[first, 'evicted']]));
    });

    it("'reject' refuses the login with a 403: the session is not bound and not kept", async () => {
      r = await rig(flavour, { principal, maxSessionsPerPrincipal: 1, onMaxSessions: 'reject' });
      const first = await r.start('ann');
      const anonymous = await r.start();
      const login = await r.t.http().post('/touch').set({ Cookie: cookieFor(anonymous), 'x-user': 'ann' });
      expect(login.status).toBe(403);
      expect(login.text).toMatch(/Too many sessions/);
      expect((await r.t.http().get('/view').set('Cookie', cookieFor(anonymous))).body.live).toBe(false);
      expect((await r.t.manager.sessions.list({ principal: 'ann' })).sessions.map((s) => s.id)).toEqual([first]);
      expect(await r.t.store.get(anonymous)).toBeUndefined();
      // Once the first is gone, the user may log in again.
      await r.t.manager.sessions.kill(first);
      expect((await r.t.http().post('/start').set('x-user', 'ann')).status).toBe(204);
    });

    it('is a ConfigurationError without the principal option', () => {
      expect(() => createSessionManager({ maxSessionsPerPrincipal: 2 })).toThrow(/maxSessionsPerPrincipal needs the principal option/);
      expect(() => createSessionManager({ principal, onMaxSessions: 'reject' })).toThrow(/onMaxSessions needs maxSessionsPerPrincipal/);
    });
  });

  describe('rotateOnLogin', () => {
    it('changes the id when an anonymous session becomes bound; the old id is dead, the data moved', async () => {
      r = await rig(flavour, { principal });
      const anonymous = await r.start();
      const login = await r.t.http().post('/touch').set({ Cookie: cookieFor(anonymous), 'x-user': 'ann' });
      expect(login.status).toBe(204);
      const rotated = sessionIdFrom(login)!;
      expect(rotated).toBeDefined();
      expect(rotated).not.toBe(anonymous);
      expect(r.changed.map((e) => [e.oldId, e.id])).toEqual([[anonymous, rotated]]);
      expect((await r.t.http().get('/view').set({ Cookie: cookieFor(rotated), 'x-user': 'ann' })).body).toEqual({ live: true, id: rotated, cart: [1] });
      expect((await r.t.http().get('/view').set({ Cookie: cookieFor(anonymous), 'x-user': 'ann' })).body.live).toBe(false);
      expect(await r.t.store.get(anonymous)).toBeUndefined();
      expect((await r.t.manager.sessions.list({ principal: 'ann' })).sessions.map((s) => s.id)).toEqual([rotated]);
    });

    it('keeps the id of a session created by the login request itself, and with rotateOnLogin: false', async () => {
      r = await rig(flavour, { principal, rotateOnLogin: false });
      const fresh = await r.start('ann');
      expect(r.changed).toEqual([]);
      const anonymous = await r.start();
      const login = await r.t.http().post('/touch').set({ Cookie: cookieFor(anonymous), 'x-user': 'bob' });
      expect(sessionIdFrom(login)).toBeUndefined();
      expect(r.changed).toEqual([]);
      expect((await r.t.manager.sessions.list({ principal: 'bob' })).sessions.map((s) => s.id)).toEqual([anonymous]);
      expect((await r.t.manager.sessions.list({ principal: 'ann' })).sessions.map((s) => s.id)).toEqual([fresh]);
    });
  });

  describe('kills through the admin router', () => {
    it('carry who killed in sessionDestroyed (by), and the stats show the caps', async () => {
      r = await rig(flavour, { principal, maxSessionsPerPrincipal: 3, maxLifetime: 3600 });
      const id = await r.start('ann');
      const res = await r.t.http().delete(`/admin/api/sessions/${id}`).set({ 'x-user': 'root', 'X-Requested-With': 'test' });
      expect(res.status).toBe(200);
      expect(r.destroyed.map((e) => [e.id, e.reason, e.by])).toEqual([[id, 'killed', 'root']]);
      const stats = await r.t.http().get('/admin/api/stats').set('x-user', 'root');
      expect(stats.body.caps).toEqual({ maxLifetime: 3600, maxActiveSessions: null, maxSessionsPerPrincipal: 3, onMaxSessions: 'evict-oldest' });
      expect(stats.body.sessions.evicted).toBe(0);
    });

    it('carry by on a deferred kill too, announced when the request ends', async () => {
      r = await rig(flavour, { principal });
      const id = await r.start('ann');
      const holding = r.t.http().post('/hold').set({ Cookie: cookieFor(id), 'x-user': 'ann' }).then((res) => res);
      await r.running.promise;
      const res = await r.t.http().delete(`/admin/api/sessions/${id}`).set({ 'x-user': 'root', 'X-Requested-With': 'test' });
      expect(res.body).toEqual({ killed: true, deferred: true });
      r.held.open();
      await holding;
      await eventually(() => expect(r!.destroyed.map((e) => [e.id, e.reason, e.by])).toEqual([[id, 'killed', 'root']]));
    });
  });
});

/** A second app (web module) of the same manager, with the same `/start` route. */
function createTestAppOnManager(t: TestApp, app: string): Express {
  const other = (EXPRESS_FLAVOURS[1][1])();
  other.use(t.manager.middleware({ app }));
  other.post('/start', (req: Request, res: Response) => {
    req.httpSession.setAttribute('cart', [2]);
    res.sendStatus(204);
  });
  return other;
}

describe('__Host- and __Secure- cookie names', () => {
  it.each([
    [{ name: '__Host-sid' }, /__Host-… demands cookie.secure/],
    [{ name: '__Host-sid', secure: true, domain: 'example.com' }, /__Host-… demands no cookie.domain/],
    [{ name: '__Host-sid', secure: true, path: '/app' }, /__Host-… demands cookie.path '\/'/],
    [{ name: '__Secure-sid' }, /__Secure-… demands cookie.secure/],
  ])('rejects %o', (cookie, message) => {
    expect(() => createSessionManager({ cookie })).toThrow(ConfigurationError);
    expect(() => createSessionManager({ cookie })).toThrow(message);
  });

  it('names every violation at once', () => {
    try {
      createSessionManager({ cookie: { name: '__Host-sid', domain: 'example.com', path: '/x' } });
      throw new Error('accepted');
    } catch (error) {
      expect((error as ConfigurationError).violations).toHaveLength(3);
    }
  });

  it.each([
    [{ name: '__Host-sid', secure: true }],
    [{ name: '__Host-sid', secure: 'auto' as const, path: '/' }],
    [{ name: '__Secure-sid', secure: true, domain: 'example.com', path: '/app' }],
  ])('accepts %o', async (cookie) => {
    const manager = createSessionManager({ cookie });
    await manager.close();
  });

  it.each([
    [{ maxLifetime: 0 }, /maxLifetime must not be 0/],
    [{ maxLifetime: 1.5 }, /maxLifetime must be a whole number/],
    [{ maxActiveSessions: 0 }, /maxActiveSessions must be at least 1/],
    [{ principal, maxSessionsPerPrincipal: 2, onMaxSessions: 'oldest' }, /onMaxSessions must be/],
    [{ rotateOnLogin: 'yes' }, /rotateOnLogin must be a boolean/],
  ])('rejects bad caps %o', (options, message) => {
    expect(() => createSessionManager(options as SessionManagerOptions)).toThrow(message);
  });
});
