/**
 * Killing sessions (issue 5, items 5–6; docs/architecture.md, "Killing"): `manager.sessions.kill()`
 * on an idle session, on one servicing a request (deferred: its signal
 * aborts, its changes are dropped, it goes when the request ends), with
 * requests queued behind it, with subsessions, and `sessions.get()`.
 */
import type { Express, Request, Response } from 'express';
import type { SessionDestroyedEvent } from '../lib';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { hangingServer, type HangingServer } from './support/hanging-server';
import { cookieFor, createTestApp, eventually, gate, sessionIdFrom, type Gate, type TestApp } from './support/test-app';

interface KillRig {
  t: TestApp;
  destroyed: (SessionDestroyedEvent & { at: string })[];
  /** Opened by a handler once it runs (and has changed the session). */
  running: Gate;
  /** `POST /hold` waits for it, ignoring the signal. */
  held: Gate;
  /** Creates a session with `user: ann` (and a subsession `cart` with `?sub=1`); its id. */
  start(sub?: boolean): Promise<string>;
}

async function killRig(flavour: () => Express, hangUrl: string): Promise<KillRig> {
  const running = gate();
  const held = gate();
  const routes = (app: Express) => {
    app.post('/start', (req: Request, res: Response) => {
      req.httpSession.setAttribute('user', 'ann');
      if (req.query.sub) req.httpSession.getSubsession('cart')!.setAttribute('items', 3);
      res.sendStatus(204);
    });
    // Awaits a fetch that never answers, with the session's signal: a kill stops it.
    app.post('/fetch', async (req: Request, res: Response) => {
      req.httpSession.setAttribute('changed', true);
      running.open();
      try {
        await fetch(hangUrl, { signal: req.httpSession.signal });
        res.sendStatus(200);
      } catch (error) {
        res.status(409).json({ name: (error as Error).name, aborted: req.httpSession.signal.aborted });
      }
    });
    // A long loop that checks the signal between steps.
    app.post('/loop', async (req: Request, res: Response) => {
      running.open();
      let steps = 0;
      while (!req.httpSession.signal.aborted) {
        steps++;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      res.json({ steps });
    });
    // Ignores the signal: holds the session until the test opens `held`.
    app.post('/hold', async (req: Request, res: Response) => {
      req.httpSession.setAttribute('changed', true);
      running.open();
      await held.promise;
      res.json({ aborted: req.httpSession.signal.aborted });
    });
    app.get('/view', (req: Request, res: Response) => {
      const session = req.getSession(false);
      res.json({
        valid: req.isRequestedSessionIdValid(),
        live: session !== null,
        user: session?.getAttribute('user') ?? null,
        changed: session?.getAttribute('changed') ?? null,
      });
    });
  };
  // Serial access on: requests can queue behind the one a kill reaches.
  const t = await createTestApp(flavour, { manager: { invalidationTimeout: 600, serialAccess: true } }, routes);
  const destroyed: KillRig['destroyed'] = [];
  t.manager.on('sessionDestroyed', (e) => destroyed.push({ ...e, at: e.subsession ?? 'session' }));
  return {
    t,
    destroyed,
    running,
    held,
    start: async (sub = false) => sessionIdFrom(await t.http().post(`/start${sub ? '?sub=1' : ''}`))!,
  };
}

describe.each(EXPRESS_FLAVOURS)('manager.sessions.kill (%s)', (_name, flavour) => {
  let hang: HangingServer;
  let rig: KillRig;
  beforeEach(async () => {
    hang = await hangingServer();
    rig = await killRig(flavour, hang.url);
  });
  afterEach(async () => {
    rig.held.open();
    await rig.t.close();
    await hang.close();
  });

  it('deletes an idle session at once and fires sessionDestroyed (killed) once', async () => {
    const { t, destroyed } = rig;
    const id = await rig.start();
    await expect(t.manager.sessions.kill(id)).resolves.toEqual({ killed: true, deferred: false });
    expect(destroyed).toEqual([expect.objectContaining({ id, app: 'default', reason: 'killed', attributes: { user: 'ann' } })]);
    expect(await t.store.get(id)).toBeUndefined();
    expect(await t.peek(id)).toBeUndefined();
    expect(t.manager.stats().sessions.killed).toBe(1);
    const after = await t.http().get('/view').set('Cookie', cookieFor(id));
    expect(after.body).toEqual({ valid: false, live: false, user: null, changed: null });
    await expect(t.manager.sessions.kill(id)).resolves.toEqual({ killed: false, deferred: false });
    expect(destroyed).toHaveLength(1);
  });

  it('answers killed: false for an unknown id, and a session of another app is not touched', async () => {
    const { t } = rig;
    const id = await rig.start();
    await expect(t.manager.sessions.kill('no-such-id')).resolves.toEqual({ killed: false, deferred: false });
    await expect(t.manager.sessions.kill(id, { app: 'shop' })).resolves.toEqual({ killed: false, deferred: false });
    expect((await t.http().get('/view').set('Cookie', cookieFor(id))).body.valid).toBe(true);
  });

  it('destroys subsessions first (parent-destroyed), then the session (killed)', async () => {
    const { t, destroyed } = rig;
    const id = await rig.start(true);
    await expect(t.manager.sessions.kill(id)).resolves.toEqual({ killed: true, deferred: false });
    expect(destroyed.map((e) => [e.at, e.reason])).toEqual([
      ['cart', 'parent-destroyed'],
      ['session', 'killed'],
    ]);
    expect(await t.store.get(`${id}#cart`)).toBeUndefined();
    expect(t.manager.stats().sessions.killed).toBe(2);
  });

  it('aborts the signal of a request awaiting fetch(…, { signal }), drops its changes, and deletes the session when it ends', async () => {
    const { t, destroyed } = rig;
    const id = await rig.start();
    const running = t.http().post('/fetch').set('Cookie', cookieFor(id));
    const response = running.then((r) => r);
    await rig.running.promise;
    const info = await t.manager.sessions.get(id);
    expect(info).toMatchObject({ id, activeRequests: 1, markedForDeletion: false });
    await expect(t.manager.sessions.kill(id)).resolves.toEqual({ killed: true, deferred: true });
    const res = await response;
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ name: 'AbortError', aborted: true });
    // The id names nothing any more: the response clears the cookie.
    expect(String(res.headers['set-cookie'])).toMatch(/JSESSIONID=;.*Expires=Thu, 01 Jan 1970/);
    await eventually(() => expect(destroyed).toHaveLength(1));
    expect(destroyed[0]).toMatchObject({ id, reason: 'killed', attributes: { user: 'ann' } });
    expect(await t.store.get(id)).toBeUndefined();
    expect(await t.peek(id)).toBeUndefined();
    const after = await t.http().get('/view').set('Cookie', cookieFor(id));
    expect(after.body).toEqual({ valid: false, live: false, user: null, changed: null });
    expect(destroyed).toHaveLength(1);
  });

  it('stops a long loop that checks signal.aborted', async () => {
    const { t } = rig;
    const id = await rig.start();
    const response = t.http().post('/loop').set('Cookie', cookieFor(id)).then((r) => r);
    await rig.running.promise;
    await expect(t.manager.sessions.kill(id)).resolves.toEqual({ killed: true, deferred: true });
    const res = await response;
    expect(res.status).toBe(200);
    expect(res.body.steps).toBeGreaterThan(0);
    await eventually(() => expect(rig.destroyed).toHaveLength(1));
  });

  it('marks a session in use for deletion: new requests get a new session, and it goes (once) when the request ends', async () => {
    const { t, destroyed } = rig;
    const id = await rig.start();
    const holding = t.http().post('/hold').set('Cookie', cookieFor(id)).then((r) => r);
    await rig.running.promise;
    await expect(t.manager.sessions.kill(id)).resolves.toEqual({ killed: true, deferred: true });
    await expect(t.manager.sessions.get(id)).resolves.toMatchObject({ markedForDeletion: true, activeRequests: 1 });
    // A second kill changes nothing.
    await expect(t.manager.sessions.kill(id)).resolves.toEqual({ killed: true, deferred: true });
    // Not destroyed yet: the request is still running.
    expect(destroyed).toHaveLength(0);
    expect(await t.store.get(id)).toBeDefined();
    // A request arriving now (serial access would queue it) is not given the killed session.
    const meanwhile = await t.http().get('/view').set('Cookie', cookieFor(id));
    expect(meanwhile.body).toEqual({ valid: false, live: false, user: null, changed: null });
    rig.held.open();
    expect((await holding).body).toEqual({ aborted: true });
    await eventually(() => expect(destroyed).toHaveLength(1));
    expect(destroyed[0]).toMatchObject({ id, reason: 'killed', attributes: { user: 'ann' } });
    expect(await t.store.get(id)).toBeUndefined();
    expect(t.manager.stats().sessions.killed).toBe(1);
  });

  it('releases requests queued behind the killed one at once, without the killed session', async () => {
    const { t, destroyed } = rig;
    const id = await rig.start();
    const holding = t.http().post('/hold').set('Cookie', cookieFor(id)).then((r) => r);
    await rig.running.promise;
    // Three requests queue behind the holder (serial access).
    const queued = [1, 2, 3].map(() => t.http().get('/view').set('Cookie', cookieFor(id)).then((r) => r));
    await new Promise((resolve) => setTimeout(resolve, 30));
    await t.manager.sessions.kill(id);
    // They finish while the holder still holds: released, and none sees the killed session.
    for (const res of await Promise.all(queued)) {
      expect(res.body).toEqual({ valid: false, live: false, user: null, changed: null });
    }
    expect(destroyed).toHaveLength(0);
    rig.held.open();
    await holding;
    await eventually(() => expect(destroyed).toHaveLength(1));
  });

  it('kills a subsession-holding session in use: the cascade runs when the request ends', async () => {
    const { t, destroyed } = rig;
    const id = await rig.start(true);
    const holding = t.http().post('/hold').set('Cookie', cookieFor(id)).then((r) => r);
    await rig.running.promise;
    await expect(t.manager.sessions.kill(id)).resolves.toEqual({ killed: true, deferred: true });
    rig.held.open();
    await holding;
    await eventually(() => expect(destroyed).toHaveLength(2));
    expect(destroyed.map((e) => [e.at, e.reason])).toEqual([
      ['cart', 'parent-destroyed'],
      ['session', 'killed'],
    ]);
    expect(await t.store.get(`${id}#cart`)).toBeUndefined();
  });
});

describe('manager.sessions.kill across apps', () => {
  const [, flavour] = EXPRESS_FLAVOURS[0];

  it('kills the id in every app without `app`, and in one app with it', async () => {
    const t = await createTestApp(flavour, {}, (app, { manager }) => {
      const shop = manager.middleware({ app: 'shop' });
      app.post('/start', (req: Request, res: Response) => {
        req.httpSession.setAttribute('user', 'ann');
        res.sendStatus(204);
      });
      app.post('/shop/start', shop, (req: Request, res: Response) => {
        req.httpSession.setAttribute('cart', 1);
        res.sendStatus(204);
      });
    });
    try {
      const destroyed: string[] = [];
      t.manager.on('sessionDestroyed', (e) => destroyed.push(`${e.app}:${e.reason}`));
      const id = sessionIdFrom(await t.http().post('/start'))!;
      await t.http().post('/shop/start').set('Cookie', cookieFor(id)).expect(204);
      await expect(t.manager.sessions.get(id)).resolves.toMatchObject({ app: 'default' });
      await expect(t.manager.sessions.get(id, { app: 'shop' })).resolves.toMatchObject({ app: 'shop', attributeNames: ['cart'] });
      await expect(t.manager.sessions.kill(id, { app: 'shop' })).resolves.toEqual({ killed: true, deferred: false });
      expect(destroyed).toEqual(['shop:killed']);
      await expect(t.manager.sessions.get(id, { app: 'shop' })).resolves.toBeNull();
      await t.http().post('/shop/start').set('Cookie', cookieFor(id)).expect(204);
      await expect(t.manager.sessions.kill(id)).resolves.toEqual({ killed: true, deferred: false });
      expect(destroyed.sort()).toEqual(['default:killed', 'shop:killed', 'shop:killed']);
      await expect(t.manager.sessions.get(id)).resolves.toBeNull();
    } finally {
      await t.close();
    }
  });
});

describe('manager.sessions.get', () => {
  const [, flavour] = EXPRESS_FLAVOURS[0];

  it('describes a live session as SessionInfo, and null for an unknown or expired one', async () => {
    const t = await createTestApp(flavour, { manager: { invalidationTimeout: 60 } }, (app) => {
      app.post('/start', (req: Request, res: Response) => {
        req.httpSession.setAttribute('user', 'ann');
        req.httpSession.getSubsession('cart');
        res.sendStatus(204);
      });
    });
    try {
      const created = t.clock.now();
      const id = sessionIdFrom(await t.http().post('/start'))!;
      const info = await t.manager.sessions.get(id);
      expect(info).toEqual({
        id,
        app: 'default',
        principal: null,
        creationTime: created,
        lastAccessedTime: created,
        maxInactiveInterval: 60,
        expiresAt: created + 60_000,
        activeRequests: 0,
        markedForDeletion: false,
        attributeNames: ['user'],
        subsessions: ['cart'],
        size: expect.any(Number),
      });
      const record = await t.store.get(id);
      expect(info!.size).toBe(Buffer.byteLength(JSON.stringify(record)));
      await expect(t.manager.sessions.get('nope')).resolves.toBeNull();
      t.clock.advance(60_000);
      await expect(t.manager.sessions.get(id)).resolves.toBeNull(); // strict expiry: past its deadline is gone
    } finally {
      await t.close();
    }
  });
});
