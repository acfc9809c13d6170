/**
 * Serial access within one process (issue 5, items 1–4 on one node): the
 * requests of one session run one at a time.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express, NextFunction, Request, Response } from 'express';
import request from 'supertest';
import session from 'express-session-1.19';
import { MemoryStore as ExpressMemoryStore } from 'express-session';
import { createSessionManager, type SessionManager, type SessionManagerOptions } from '../lib';
import express from 'express';
import { RedisStore } from 'connect-redis';
import { redisCoordinator } from '../lib/redis';
import { cookieFrom } from './support/cookies';
import { closeTopologyClient, connectTopology, deleteKeys, describeTopologies, scanKeys, } from './support/redis-topology';
import { uniquePrefix } from './support/services';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { eventually } from './support/test-app';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An app whose `/append` reads a list, waits, and writes it back with one more item. */
function appendApp(flavour: () => Express, options: SessionManagerOptions = {}): Express & { manager: SessionManager } {
  const manager = createSessionManager({ serialAccess: true, ...options });
  const app = flavour();
  app.use(manager.middleware());
  app.post('/start', (req: Request, res: Response) => {
    req.httpSession.setAttribute('list', []);
    res.sendStatus(204);
  });
  app.post('/append', async (req: Request, res: Response) => {
    const list = req.httpSession.getAttribute<number[]>('list') ?? [];
    await delay(Number(req.query.wait ?? 2));
    req.httpSession.setAttribute('list', [...list, Number(req.query.i)]);
    res.sendStatus(204);
  });
  app.get('/list', (req: Request, res: Response) => {
    res.json(req.httpSession.getAttribute('list') ?? null);
  });
  return Object.assign(app, { manager });
}

/** An app with a route that holds the session until told, and a quick one. */
function holdingApp(flavour: () => Express, options: SessionManagerOptions = {}) {
  const manager = createSessionManager({ serialAccess: true, ...options });
  const app = flavour();
  app.use(manager.middleware());
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  app.post('/start', (req: Request, res: Response) => {
    req.getSession();
    res.sendStatus(204);
  });
  app.post('/hold', async (_req: Request, res: Response) => {
    await held;
    res.sendStatus(204);
  });
  app.get('/quick', (req: Request, res: Response) => res.json({ id: req.httpSession.getId() }));
  app.get('/slow', async (req: Request, res: Response) => {
    await delay(300);
    res.json({ id: req.httpSession.getId() });
  });
  app.use((err: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.status ?? 500).json({ name: err.name });
  });
  return { app, release };
}

describe.each(EXPRESS_FLAVOURS)('serial access (%s)', (_name, flavour) => {
  it('keeps every one of 50 concurrent appends (the update express-session loses)', async () => {
    const app = appendApp(flavour);
    const cookie = cookieFrom(await request(app).post('/start'))!;
    await Promise.all(Array.from({ length: 50 }, (_, i) => request(app).post(`/append?i=${i}`).set('Cookie', cookie)));
    const list = (await request(app).get('/list').set('Cookie', cookie)).body as number[];
    expect(list).toHaveLength(50);
    expect(new Set(list).size).toBe(50);
  });

  it('runs them in arrival order', async () => {
    const app = appendApp(flavour);
    const cookie = cookieFrom(await request(app).post('/start'))!;
    const server = http.createServer(app).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const sent: Promise<unknown>[] = [];
      for (let i = 0; i < 10; i++) {
        // The first holds the session 200 ms: the others queue behind it, 15 ms apart (arrival = send order).
        const wait = i === 0 ? 200 : 2;
        sent.push(fetch(`http://127.0.0.1:${port}/append?i=${i}&wait=${wait}`, { method: 'POST', headers: { cookie } }));
        await delay(15);
      }
      await Promise.all(sent);
      expect((await request(app).get('/list').set('Cookie', cookie)).body).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      server.close();
    }
  });

  it('shows that express-session 1.19 on the same kind of store loses appends', async () => {
    const app = flavour();
    app.use(session({ secret: 's', store: new ExpressMemoryStore(), resave: false, saveUninitialized: false }));
    app.post('/start', (req: Request, res: Response) => {
      (req.session as unknown as { list: number[] }).list = [];
      res.sendStatus(204);
    });
    app.post('/append', async (req: Request, res: Response) => {
      const s = req.session as unknown as { list: number[] };
      const list = s.list ?? [];
      await delay(2);
      s.list = [...list, Number(req.query.i)];
      res.sendStatus(204);
    });
    app.get('/list', (req: Request, res: Response) => res.json((req.session as unknown as { list: number[] }).list));
    const cookie = cookieFrom(await request(app).post('/start'), 'connect.sid')!;
    await Promise.all(Array.from({ length: 50 }, (_, i) => request(app).post(`/append?i=${i}`).set('Cookie', cookie)));
    const list = (await request(app).get('/list').set('Cookie', cookie)).body as number[];
    expect(list.length).toBeLessThan(50);
  });

  it('never makes requests of different sessions wait for each other', async () => {
    const { app, release } = holdingApp(flavour);
    const a = cookieFrom(await request(app).post('/start'))!;
    const b = cookieFrom(await request(app).post('/start'))!;
    const holding = request(app).post('/hold').set('Cookie', a).then((r) => r.status);
    await delay(20);
    expect((await request(app).get('/quick').set('Cookie', b)).status).toBe(200);
    release();
    expect(await holding).toBe(204);
  });

  describe('clients that leave while waiting', () => {
    it('gives up their place: the next request after the holder is served at once', async () => {
      // 20 slow requests (300 ms each) queue behind a holder and their clients leave: were they still
      // run in turn, the next request would wait 6 s, past maxWaitTime.
      const { app, release } = holdingApp(flavour, { serialAccess: { maxWaitTime: 5 } });
      const cookie = cookieFrom(await request(app).post('/start'))!;
      const server = http.createServer(app).listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      const { port } = server.address() as AddressInfo;
      try {
        const holding = fetch(`http://127.0.0.1:${port}/hold`, { method: 'POST', headers: { cookie } });
        await delay(20);
        const leaving = Array.from({ length: 20 }, () => {
          const controller = new AbortController();
          const sent = fetch(`http://127.0.0.1:${port}/slow`, { headers: { cookie }, signal: controller.signal }).catch(
            (error: Error) => error.name,
          );
          return { controller, sent };
        });
        await delay(100); // all queued behind the holder
        for (const { controller } of leaving) controller.abort();
        expect(await Promise.all(leaving.map(({ sent }) => sent))).toEqual(Array(20).fill('AbortError'));
        await delay(50);
        release();
        expect((await holding).status).toBe(204);
        const started = Date.now();
        const next = await fetch(`http://127.0.0.1:${port}/quick`, { headers: { cookie } });
        expect(next.status).toBe(200);
        expect(Date.now() - started).toBeLessThan(1000); // maxWaitTime is 5 s
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });
  });

  describe('maxWaitTime', () => {
    it('answers 503 SessionAccessTimeoutError to a request that waited too long', async () => {
      const { app, release } = holdingApp(flavour, { serialAccess: { maxWaitTime: 0.1 } });
      const cookie = cookieFrom(await request(app).post('/start'))!;
      const holding = request(app).post('/hold').set('Cookie', cookie).then((r) => r.status);
      await delay(10);
      const waited = await request(app).get('/quick').set('Cookie', cookie);
      expect(waited.status).toBe(503);
      expect(waited.body.name).toBe('SessionAccessTimeoutError');
      release();
      expect(await holding).toBe(204);
      expect((await request(app).get('/quick').set('Cookie', cookie)).status).toBe(200);
    });

    it('runs the request anyway with accessOnTimeout', async () => {
      const { app, release } = holdingApp(flavour, { serialAccess: { maxWaitTime: 0.1, accessOnTimeout: true } });
      const cookie = cookieFrom(await request(app).post('/start'))!;
      const holding = request(app).post('/hold').set('Cookie', cookie).then((r) => r.status);
      await delay(10);
      const waited = await request(app).get('/quick').set('Cookie', cookie);
      expect(waited.status).toBe(200);
      expect(waited.body.id).toBe(cookie.split('=')[1]);
      release();
      await holding;
    });

    it('does not serialise with serialAccess: false', async () => {
      const { app, release } = holdingApp(flavour, { serialAccess: false });
      const cookie = cookieFrom(await request(app).post('/start'))!;
      const holding = request(app).post('/hold').set('Cookie', cookie).then((r) => r.status);
      await delay(10);
      expect((await request(app).get('/quick').set('Cookie', cookie)).status).toBe(200);
      release();
      await holding;
    });
  });

  describe('the slot is released however a request ends', () => {
    function endingApp() {
      const manager = createSessionManager({ serialAccess: { maxWaitTime: 0.5 } });
      const app = flavour();
      app.use(manager.middleware());
      app.post('/start', (req: Request, res: Response) => {
        req.getSession();
        res.sendStatus(204);
      });
      app.get('/throw', () => {
        throw new Error('boom');
      });
      app.get('/next', (_req: Request, _res: Response, next: NextFunction) => next(new Error('passed on')));
      app.get('/hang', () => undefined); // never answers
      app.get('/quick', (_req: Request, res: Response) => res.sendStatus(200));
      return app;
    }

    it.each(['/throw', '/next'])('after %s', async (path) => {
      const app = endingApp();
      const cookie = cookieFrom(await request(app).post('/start'))!;
      expect((await request(app).get(path).set('Cookie', cookie)).status).toBe(500);
      const started = Date.now();
      expect((await request(app).get('/quick').set('Cookie', cookie)).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(400); // not a maxWaitTime timeout
    });

    it('after a client abort', async () => {
      const app = endingApp();
      const cookie = cookieFrom(await request(app).post('/start'))!;
      const server = http.createServer(app).listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      const { port } = server.address() as AddressInfo;
      try {
        const aborted = http.get({ host: '127.0.0.1', port, path: '/hang', headers: { cookie } });
        aborted.on('error', () => undefined);
        await delay(30);
        aborted.destroy();
        await delay(30);
        const res = await fetch(`http://127.0.0.1:${port}/quick`, { headers: { cookie } });
        expect(res.status).toBe(200);
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });

    it('and a handler that never ends only holds up the next waiter until maxWaitTime', async () => {
      const app = endingApp();
      const cookie = cookieFrom(await request(app).post('/start'))!;
      const hanging = request(app).get('/hang').set('Cookie', cookie).timeout(2000).catch(() => undefined);
      await delay(10);
      const res = await request(app).get('/quick').set('Cookie', cookie);
      expect(res.status).toBe(503);
      await hanging;
    });
  });
});

describeTopologies('serial access across managers sharing redisCoordinator', (topology) => {
  it('keeps all 50 appends spread over two managers (two nodes) sharing one Redis', async () => {
    const client = await connectTopology(topology);
    const prefix = uniquePrefix('serial');
    const store = new RedisStore({ client, prefix: `${prefix}sess:` });
    const node = () => appendApp(express, { store, coordinator: redisCoordinator({ client, prefix }) });
    const nodes = [node(), node()];
    try {
      const cookie = cookieFrom(await request(nodes[0]).post('/start'))!;
      await Promise.all(
        Array.from({ length: 50 }, (_, i) => request(nodes[i % 2]).post(`/append?i=${i}`).set('Cookie', cookie)),
      );
      const list = (await request(nodes[1]).get('/list').set('Cookie', cookie)).body as number[];
      expect(list).toHaveLength(50);
      expect(new Set(list).size).toBe(50);
      // Every lock released (the last one just after its response).
      await eventually(async () => expect(await scanKeys(client, `${prefix}*lock:*`)).toEqual([]));
    } finally {
      await Promise.all(nodes.map((n) => n.manager.close()));
      await deleteKeys(client, prefix);
      await closeTopologyClient(client);
    }
  });
});
