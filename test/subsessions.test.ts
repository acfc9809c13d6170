/**
 * Application subsessions (issue 4, items 6–9): a session within a session,
 * with its own attributes and idle timeout, destroyed with its parent.
 */
import express from 'express';
import type { Express, Request, Response } from 'express';
import request from 'supertest';
import { RedisStore } from 'connect-redis';
import { createSessionManager, type SessionManager, type SessionManagerEvents } from '../lib';
import { redisCoordinator } from '../lib/redis';
import { sessionKey, subsessionKey } from '../lib/storage/session-key';
import { cookieFrom } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { FakeClock } from './support/fake-clock';
import { closeTopologyClient, connectTopology, deleteKeys, describeTopologies, } from './support/redis-topology';
import { uniquePrefix } from './support/services';
import { promisifyStore } from './support/store-promises';

type Logged = { event: keyof SessionManagerEvents; subsession?: string; reason?: string; name?: string };

/** Records destruction events in order. */
function recordDestruction(manager: SessionManager): Logged[] {
  const log: Logged[] = [];
  manager.on('sessionDestroyed', (e) => {
    log.push({ event: 'sessionDestroyed', subsession: e.subsession, reason: e.reason });
  });
  manager.on('attributeRemoved', (e) => {
    if (!e.session) log.push({ event: 'attributeRemoved', subsession: e.subsession, name: e.name });
  });
  return log;
}

/** Routes: a parent attribute, a checkout subsession, reads through both. */
function routes(app: Express, manager: SessionManager): void {
  app.use(manager.middleware());
  app.post('/login', (req: Request, res: Response) => {
    req.httpSession.setAttribute('user', 'ann');
    res.json({ id: req.httpSession.getId() });
  });
  app.post('/sub/:name', (req: Request, res: Response) => {
    const timeout = req.query.timeout === undefined ? undefined : Number(req.query.timeout);
    const sub = req.httpSession.getSubsession(String(req.params.name), { maxInactiveInterval: timeout })!;
    sub.setAttribute('step', Number(req.query.step ?? 1));
    res.json({ id: sub.getId(), same: sub === req.httpSession.getSubsession(String(req.params.name)) });
  });
  app.get('/sub/:name', (req: Request, res: Response) => {
    const sub = req.httpSession.getSubsession(String(req.params.name), { create: false });
    res.json(
      sub === null
        ? null
        : {
            step: sub.getAttribute('step'),
            user: sub.getAttribute('user'),
            own: sub.getAttributeNames(),
            parentIsSame: sub.getParent() === req.httpSession,
            timeout: sub.getMaxInactiveInterval(),
            name: sub.name,
          },
    );
  });
  app.get('/parent', (req: Request, res: Response) => {
    const session = req.getSession(false);
    res.json(session && { step: session.getAttribute('step') ?? null, names: session.getSubsessionNames() });
  });
  app.post('/invalidate', (req: Request, res: Response) => {
    req.httpSession.invalidate();
    res.sendStatus(204);
  });
  app.post('/sub/:name/invalidate', (req: Request, res: Response) => {
    req.httpSession.getSubsession(String(req.params.name), { create: false })?.invalidate();
    res.sendStatus(204);
  });
}

describe.each(EXPRESS_FLAVOURS)('getSubsession (%s)', (_name, flavour) => {
  let clock: FakeClock;
  let manager: SessionManager;
  let app: Express;
  let log: Logged[];

  beforeEach(() => {
    clock = new FakeClock();
    manager = createSessionManager({ clock, invalidationTimeout: 1800 });
    log = recordDestruction(manager);
    app = flavour();
    routes(app, manager);
  });
  afterEach(() => manager.close());

  async function login(): Promise<string> {
    return cookieFrom(await request(app).post('/login'))!;
  }

  it('gives a subsession its own attributes, falling back to the parent, never writing to it', async () => {
    const cookie = await login();
    const created = await request(app).post('/sub/checkout?step=2').set('Cookie', cookie);
    expect(created.body.id).toBe(cookie.split('=')[1]);
    expect(created.body.same).toBe(true);
    const sub = await request(app).get('/sub/checkout').set('Cookie', cookie);
    expect(sub.body).toMatchObject({ step: 2, user: 'ann', own: ['step'], parentIsSame: true, name: 'checkout' });
    const parent = await request(app).get('/parent').set('Cookie', cookie);
    expect(parent.body).toEqual({ step: null, names: ['checkout'] });
  });

  it('fires sessionCreated with the subsession name', async () => {
    const created: (string | undefined)[] = [];
    manager.on('sessionCreated', (e) => {
      created.push(e.subsession);
    });
    const cookie = await login();
    await request(app).post('/sub/checkout').set('Cookie', cookie);
    expect(created).toEqual([undefined, 'checkout']);
  });

  it('shows live subsessions to administrators, each with its own deadline in the coordinator', async () => {
    const cookie = await login();
    await request(app).post('/sub/checkout?timeout=60').set('Cookie', cookie);
    const id = cookie.split('=')[1];
    const checkout = subsessionKey(sessionKey('default', id), 'checkout');
    expect((await manager.sessions.get(id))?.subsessions).toEqual(['checkout']);
    expect((await manager.coordinator.inspect(checkout))?.deadline).toBe(clock.now() + 60_000);
    await request(app).post('/sub/checkout/invalidate').set('Cookie', cookie);
    expect((await manager.sessions.get(id))?.subsessions).toEqual([]);
    expect(await manager.coordinator.inspect(checkout)).toBeUndefined();
  });

  it('returns null for an absent subsession when create is false', async () => {
    const cookie = await login();
    expect((await request(app).get('/sub/nope').set('Cookie', cookie)).body).toBeNull();
  });

  it("defaults the subsession's timeout to the parent's and takes its own", async () => {
    const cookie = await login();
    await request(app).post('/sub/a').set('Cookie', cookie);
    await request(app).post('/sub/b?timeout=60').set('Cookie', cookie);
    expect((await request(app).get('/sub/a').set('Cookie', cookie)).body.timeout).toBe(1800);
    expect((await request(app).get('/sub/b').set('Cookie', cookie)).body.timeout).toBe(60);
  });

  it('expires a subsession on its own, parent untouched, announced once', async () => {
    const cookie = await login();
    await request(app).post('/sub/checkout?timeout=60').set('Cookie', cookie);
    clock.advanceSeconds(30);
    await request(app).get('/parent').set('Cookie', cookie); // uses the parent only
    clock.advanceSeconds(31);
    expect((await request(app).get('/sub/checkout').set('Cookie', cookie)).body).toBeNull();
    expect((await request(app).get('/sub/checkout').set('Cookie', cookie)).body).toBeNull();
    expect(log).toEqual([
      { event: 'sessionDestroyed', subsession: 'checkout', reason: 'expired' },
      { event: 'attributeRemoved', subsession: 'checkout', name: 'step' },
    ]);
    expect((await request(app).get('/parent').set('Cookie', cookie)).body).toEqual({ step: null, names: [] });
  });

  it('keeps a subsession alive while requests use it', async () => {
    const cookie = await login();
    await request(app).post('/sub/checkout?timeout=60').set('Cookie', cookie);
    for (let i = 0; i < 5; i++) {
      clock.advanceSeconds(50);
      expect((await request(app).get('/sub/checkout').set('Cookie', cookie)).body).not.toBeNull();
    }
    expect(log).toEqual([]);
  });

  it('reaps a subsession on its own with the reaper', async () => {
    const cookie = await login();
    await request(app).post('/sub/checkout?timeout=60').set('Cookie', cookie);
    clock.advanceSeconds(61);
    expect((await manager.reap()).expired).toBe(1);
    expect(log[0]).toEqual({ event: 'sessionDestroyed', subsession: 'checkout', reason: 'expired' });
    expect((await request(app).get('/parent').set('Cookie', cookie)).body).toEqual({ step: null, names: [] });
  });

  it('invalidates only the subsession', async () => {
    const cookie = await login();
    await request(app).post('/sub/checkout').set('Cookie', cookie);
    await request(app).post('/sub/checkout/invalidate').set('Cookie', cookie);
    expect(log.map((l) => [l.subsession, l.reason])[0]).toEqual(['checkout', 'invalidated']);
    expect((await request(app).get('/parent').set('Cookie', cookie)).body).toEqual({ step: null, names: [] });
    const store = promisifyStore(manager.store);
    const id = cookie.split('=')[1];
    expect(await store.get(subsessionKey(sessionKey('default', id), 'checkout'))).toBeFalsy();
  });

  it('destroys every subsession before the parent when the parent is invalidated', async () => {
    const cookie = await login();
    for (const name of ['a', 'b', 'c']) await request(app).post(`/sub/${name}`).set('Cookie', cookie);
    log.length = 0;
    const destroyed: [string | undefined, string][] = [];
    manager.on('sessionDestroyed', (e) => {
      destroyed.push([e.subsession, e.reason]);
    });
    await request(app).post('/invalidate').set('Cookie', cookie);
    expect(destroyed).toEqual([
      ['a', 'parent-destroyed'],
      ['b', 'parent-destroyed'],
      ['c', 'parent-destroyed'],
      [undefined, 'invalidated'],
    ]);
    const store = promisifyStore(manager.store);
    const id = cookie.split('=')[1];
    for (const name of ['a', 'b', 'c']) expect(await store.get(subsessionKey(id, name))).toBeFalsy();
  });

  it('cascades in the reaper with no request in sight: 4 events in order, once each', async () => {
    const cookie = await login();
    for (const name of ['a', 'b', 'c']) await request(app).post(`/sub/${name}`).set('Cookie', cookie);
    clock.advanceSeconds(1801);
    await manager.reap();
    await manager.reap();
    expect(log).toEqual([
      { event: 'sessionDestroyed', subsession: 'a', reason: 'parent-destroyed' },
      { event: 'attributeRemoved', subsession: 'a', name: 'step' },
      { event: 'sessionDestroyed', subsession: 'b', reason: 'parent-destroyed' },
      { event: 'attributeRemoved', subsession: 'b', name: 'step' },
      { event: 'sessionDestroyed', subsession: 'c', reason: 'parent-destroyed' },
      { event: 'attributeRemoved', subsession: 'c', name: 'step' },
      { event: 'sessionDestroyed', subsession: undefined, reason: 'expired' },
      { event: 'attributeRemoved', subsession: undefined, name: 'user' },
    ]);
    expect(await promisifyStore(manager.store).length!()).toBe(0);
  });

  it('cascades when a request finds the parent expired', async () => {
    const cookie = await login();
    await request(app).post('/sub/a').set('Cookie', cookie);
    clock.advanceSeconds(1801);
    await request(app).get('/parent').set('Cookie', cookie);
    expect(log.filter((l) => l.event === 'sessionDestroyed')).toEqual([
      { event: 'sessionDestroyed', subsession: 'a', reason: 'parent-destroyed' },
      { event: 'sessionDestroyed', subsession: undefined, reason: 'expired' },
    ]);
    expect(await promisifyStore(manager.store).length!()).toBe(0);
  });

  it('moves subsessions along with changeSessionId', async () => {
    const moving = flavour();
    routes(moving, manager);
    moving.post('/rotate', (req: Request, res: Response) => res.json({ id: req.changeSessionId() }));
    const cookie = cookieFrom(await request(moving).post('/login'))!;
    await request(moving).post('/sub/checkout?step=3').set('Cookie', cookie);
    const rotated = await request(moving).post('/rotate').set('Cookie', cookie);
    const next = cookieFrom(rotated)!;
    expect((await request(moving).get('/sub/checkout').set('Cookie', next)).body.step).toBe(3);
    expect(await promisifyStore(manager.store).get(subsessionKey(cookie.split('=')[1], 'checkout'))).toBeFalsy();
  });

  it('rejects bad names and nested subsessions', async () => {
    const bad = flavour();
    bad.use(manager.middleware());
    bad.get('/', (req: Request, res: Response) => {
      const errors: string[] = [];
      for (const attempt of [
        () => req.httpSession.getSubsession('a#b'),
        () => req.httpSession.getSubsession(''),
        () => req.httpSession.getSubsession('x', { maxInactiveInterval: 1.5 }),
        () => req.httpSession.getSubsession('ok')!.getSubsession('nested'),
      ]) {
        try {
          attempt();
        } catch (error) {
          errors.push((error as Error).name);
        }
      }
      res.json(errors);
    });
    expect((await request(bad).get('/')).body).toEqual(['TypeError', 'TypeError', 'TypeError', 'IllegalStateError']);
  });
});

describeTopologies('subsessions across processes (redisCoordinator)', (topology) => {
  it('announces each cascaded subsession exactly once when two managers sweep at once', async () => {
    const client = await connectTopology(topology);
    const prefix = uniquePrefix('subsessions');
    const clock = new FakeClock();
    const store = new RedisStore({ client, prefix: `${prefix}sess:` });
    const make = () =>
      createSessionManager({ clock, store, coordinator: redisCoordinator({ client, prefix }), invalidationTimeout: 60 });
    const a = make();
    const b = make();
    const events: [string | undefined, string][] = [];
    for (const m of [a, b]) {
      m.on('sessionDestroyed', (e) => {
        events.push([e.subsession, e.reason]);
      });
    }
    try {
      const app = express();
      routes(app, a);
      const cookies: string[] = [];
      for (let i = 0; i < 5; i++) {
        const cookie = cookieFrom(await request(app).post('/login'))!;
        for (const name of ['a', 'b', 'c']) await request(app).post(`/sub/${name}`).set('Cookie', cookie);
        cookies.push(cookie);
      }
      clock.advanceSeconds(61);
      await Promise.all([a.reap(), b.reap(), a.reap(), b.reap()]);
      expect(events.filter(([, reason]) => reason === 'expired')).toHaveLength(5);
      expect(events.filter(([, reason]) => reason === 'parent-destroyed')).toHaveLength(15);
      expect(events.filter(([sub]) => sub !== undefined)).toHaveLength(15);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await deleteKeys(client, prefix);
      await closeTopologyClient(client);
    }
  });
});
