/**
 * Concurrent requests of one session without serial access (the default):
 * commits merge (docs/architecture.md, "Commit"). Each request stores only
 * what it changed onto the record as it is in the store when it commits, and
 * the commits of one session never interleave — so requests that change
 * different attributes keep every change, on one attribute the last commit
 * wins, requests that change nothing never wait, and a commit never brings
 * back a session another request invalidated, renamed or killed meanwhile.
 * Where it applies, express-session 1.19 on the same kind of store is shown
 * losing the same case.
 */
import type { Express, NextFunction, Request, Response } from 'express';
import request from 'supertest';
import session from 'express-session-1.19';
import { MemoryStore as ExpressMemoryStore, type Store } from 'express-session';
import { RedisStore } from 'connect-redis';
import { createSessionManager, type SessionDestroyedEvent, type SessionManager, type SessionManagerOptions } from '../lib';
import { redisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import { cookieFrom } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { countCalls } from './support/instrumented-store';
import { redisLayout } from './support/redis-layout';
import { breakableStore } from './support/store-breaker';
import { createRedisClient, deleteRedisKeys, describeRedis, uniquePrefix, type TestRedisClient } from './support/services';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const REQUESTS = 50;

/**
 * Holds requests in their handlers until the test opens it, so that their
 * commits start together and wait for the session's commit turn as a group.
 */
interface Gate {
  /** Called by a handler: counts it in, resolves when the gate opens. */
  pass(): Promise<void>;
  /** Resolves once `n` handlers are waiting. */
  arrivals(n: number): Promise<void>;
  open(): void;
}

function createGate(): Gate {
  let release!: () => void;
  const opened = new Promise<void>((resolve) => (release = resolve));
  let arrived = 0;
  const watchers: { n: number; resolve: () => void }[] = [];
  return {
    pass() {
      arrived++;
      for (const watcher of watchers) if (arrived >= watcher.n) watcher.resolve();
      return opened;
    },
    arrivals: (n) => (arrived >= n ? Promise.resolve() : new Promise((resolve) => void watchers.push({ n, resolve }))),
    open: () => release(),
  };
}

type MergingApp = Express & { manager: SessionManager; gate: Gate };

/** An app whose routes change one session in the ways concurrent requests do. */
function mergingApp(flavour: () => Express, options: SessionManagerOptions = {}): MergingApp {
  const manager = createSessionManager(options);
  const app = flavour();
  const gate = createGate();
  app.use(manager.middleware());
  app.post('/start', (req: Request, res: Response) => {
    req.httpSession.setAttribute('cart', []);
    res.sendStatus(204);
  });
  // Sets `name` after `wait` ms.
  app.post('/set/:name', async (req: Request, res: Response) => {
    await delay(Number(req.query.wait ?? 2));
    req.httpSession.setAttribute(String(req.params.name), String(req.query.value ?? req.params.name));
    res.sendStatus(204);
  });
  // Sets `x`, then pushes onto the cart in place: one request, two kinds of change.
  app.post('/set-and-push/:item', (req: Request, res: Response) => {
    req.httpSession.setAttribute('x', 'x');
    req.httpSession.getAttribute<string[]>('cart')!.push(String(req.params.item));
    res.sendStatus(204);
  });
  // Pushes onto the cart in place (no setAttribute), then answers after `wait` ms.
  app.post('/push/:item', async (req: Request, res: Response) => {
    req.httpSession.getAttribute<string[]>('cart')!.push(String(req.params.item));
    await delay(Number(req.query.wait ?? 2));
    res.sendStatus(204);
  });
  app.post('/append', async (req: Request, res: Response) => {
    const cart = req.httpSession.getAttribute<string[]>('cart') ?? [];
    await delay(2);
    req.httpSession.setAttribute('cart', [...cart, String(req.query.i)]);
    res.sendStatus(204);
  });
  // Sets `name` once the gate opens.
  app.post('/set-gated/:name', async (req: Request, res: Response) => {
    await gate.pass();
    req.httpSession.setAttribute(String(req.params.name), String(req.params.name));
    res.sendStatus(204);
  });
  app.post('/invalidate', (req: Request, res: Response) => {
    req.httpSession.invalidate();
    res.sendStatus(204);
  });
  app.post('/rename', (req: Request, res: Response) => {
    res.json({ id: req.changeSessionId() });
  });
  app.get('/hold', async (req: Request, res: Response) => {
    await delay(Number(req.query.ms));
    res.json({ live: req.getSession(false) !== null });
  });
  app.get('/attributes', (req: Request, res: Response) => {
    const s = req.getSession(false);
    res.json(s ? Object.fromEntries(s.getAttributeNames().map((name) => [name, s.getAttribute(name)])) : null);
  });
  app.use((err: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.status ?? 500).json({ name: err.name });
  });
  return Object.assign(app, { manager, gate });
}

/** The same routes on express-session 1.19 (`resave: false`, as its README advises). */
function expressSessionApp(flavour: () => Express, store: Store): Express {
  const app = flavour();
  app.use(session({ secret: 's', store, resave: false, saveUninitialized: false }));
  app.post('/start', (req: Request, res: Response) => {
    (req.session as unknown as { cart: string[] }).cart = [];
    res.sendStatus(204);
  });
  app.post('/set/:name', async (req: Request, res: Response) => {
    await delay(Number(req.query.wait ?? 2));
    (req.session as unknown as Record<string, string>)[String(req.params.name)] = String(req.params.name);
    res.sendStatus(204);
  });
  app.get('/attributes', (req: Request, res: Response) => {
    const { cookie: _cookie, ...attributes } = req.session as unknown as Record<string, unknown>;
    res.json(attributes);
  });
  return app;
}

/** 50 requests at once, each setting an attribute of its own (`a0`…`a49`); every status. */
async function setOwnAttributes(app: Express, cookie: string): Promise<number[]> {
  const responses = await Promise.all(
    Array.from({ length: REQUESTS }, (_, i) => request(app).post(`/set/a${i}`).set('Cookie', cookie)),
  );
  return responses.map((res) => res.status);
}

/** The names of the `a<i>` attributes the session kept. */
async function ownAttributesKept(app: Express, cookie: string): Promise<string[]> {
  const kept = (await request(app).get('/attributes').set('Cookie', cookie)).body as Record<string, unknown>;
  return Object.keys(kept).filter((name) => /^a\d+$/.test(name));
}

const ALL_OWN = Array.from({ length: REQUESTS }, (_, i) => `a${i}`).sort();

describe.each(EXPRESS_FLAVOURS)('merging commits in process (%s)', (_name, flavour) => {
  it('keeps all 50 attributes set by 50 concurrent requests', async () => {
    const app = mergingApp(flavour);
    const cookie = cookieFrom(await request(app).post('/start'))!;
    expect(await setOwnAttributes(app, cookie)).toEqual(Array(REQUESTS).fill(204));
    expect((await ownAttributesKept(app, cookie)).sort()).toEqual(ALL_OWN);
  });

  it('shows that express-session 1.19 on its MemoryStore loses attributes set at once', async () => {
    const app = expressSessionApp(flavour, new ExpressMemoryStore());
    const cookie = cookieFrom(await request(app).post('/start'), 'connect.sid')!;
    expect(await setOwnAttributes(app, cookie)).toEqual(Array(REQUESTS).fill(204));
    expect((await ownAttributesKept(app, cookie)).length).toBeLessThan(REQUESTS);
  });

  it('lets the last commit win on one attribute, every request answered', async () => {
    const app = mergingApp(flavour);
    const cookie = cookieFrom(await request(app).post('/start'))!;
    const statuses = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) => request(app).post(`/append?i=${i}`).set('Cookie', cookie).then((r) => r.status)),
    );
    expect(statuses).toEqual(Array(REQUESTS).fill(204));
    const { cart } = (await request(app).get('/attributes').set('Cookie', cookie)).body as { cart: string[] };
    expect(cart.length).toBeGreaterThanOrEqual(1);
    expect(cart.length).toBeLessThan(REQUESTS);
  });

  it('saves a change made in place and merges it with another request’s change', async () => {
    const app = mergingApp(flavour);
    const cookie = cookieFrom(await request(app).post('/start'))!;
    await Promise.all([
      request(app).post('/push/apple?wait=20').set('Cookie', cookie).expect(204),
      request(app).post('/set/x?wait=5').set('Cookie', cookie).expect(204),
    ]);
    expect((await request(app).get('/attributes').set('Cookie', cookie)).body).toEqual({ cart: ['apple'], x: 'x' });
  });

  it('saves a change made in place by a request that also set another attribute', async () => {
    const app = mergingApp(flavour);
    const cookie = cookieFrom(await request(app).post('/start'))!;
    await request(app).post('/set-and-push/pear').set('Cookie', cookie).expect(204);
    expect((await request(app).get('/attributes').set('Cookie', cookie)).body).toEqual({ cart: ['pear'], x: 'x' });
  });

  it('keeps a change made in place out of the store until the commit, and out of other requests', async () => {
    const app = mergingApp(flavour);
    const cookie = cookieFrom(await request(app).post('/start'))!;
    const pushing = request(app).post('/push/plum?wait=100').set('Cookie', cookie).then((res) => res.status);
    await delay(50);
    // The push happened in the other request's own copy: nobody sees it before that request commits.
    expect((await request(app).get('/attributes').set('Cookie', cookie)).body).toEqual({ cart: [] });
    expect(await pushing).toBe(204);
    expect((await request(app).get('/attributes').set('Cookie', cookie)).body).toEqual({ cart: ['plum'] });
  });

  it('does not delay reads of a session another request holds for 2 s', async () => {
    const app = mergingApp(flavour);
    const cookie = cookieFrom(await request(app).post('/start'))!;
    const holding = request(app).get('/hold?ms=2000').set('Cookie', cookie);
    const held = holding.then((res) => res);
    await delay(50);
    const started = Date.now();
    const read = await request(app).get('/attributes').set('Cookie', cookie).expect(200);
    // The contract: the read does not wait for the holder (2 s); the bound leaves room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(1000);
    expect(read.body).toEqual({ cart: [] });
    expect((await held).body).toEqual({ live: true });
  });

  it('never brings back a session another request invalidated while it ran', async () => {
    const app = mergingApp(flavour);
    const destroyed: SessionDestroyedEvent[] = [];
    app.manager.on('sessionDestroyed', (e) => void destroyed.push(e));
    const cookie = cookieFrom(await request(app).post('/start'))!;
    const writing = request(app).post('/set/late?wait=100').set('Cookie', cookie);
    const written = writing.then((res) => res.status);
    await delay(20);
    await request(app).post('/invalidate').set('Cookie', cookie).expect(204);
    expect(await written).toBe(204);
    expect((await request(app).get('/attributes').set('Cookie', cookie)).body).toBeNull();
    expect(await storeSize(app.manager)).toBe(0);
    expect(destroyed.map((e) => e.reason)).toEqual(['invalidated']);
  });

  it('never brings back the old id of a session renamed while it ran', async () => {
    const app = mergingApp(flavour);
    const cookie = cookieFrom(await request(app).post('/start'))!;
    const written = request(app).post('/set/late?wait=100').set('Cookie', cookie).then((res) => res.status);
    await delay(20);
    const renamed = await request(app).post('/rename').set('Cookie', cookie).expect(200);
    expect(await written).toBe(204);
    expect((await request(app).get('/attributes').set('Cookie', cookie)).body).toBeNull();
    const newCookie = cookieFrom(renamed)!;
    expect((await request(app).get('/attributes').set('Cookie', newCookie)).body).toEqual({ cart: [] });
    expect(await storeSize(app.manager)).toBe(1);
  });

  it('drops the changes of concurrent requests on a session killed while they ran: it goes once', async () => {
    const app = mergingApp(flavour);
    const destroyed: SessionDestroyedEvent[] = [];
    app.manager.on('sessionDestroyed', (e) => void destroyed.push(e));
    const cookie = cookieFrom(await request(app).post('/start'))!;
    const id = cookie.split('=')[1];
    const writers = ['one', 'two'].map((name) =>
      request(app).post(`/set/${name}?wait=100`).set('Cookie', cookie).then((res) => res.status),
    );
    await delay(20);
    await expect(app.manager.sessions.kill(id)).resolves.toEqual({ killed: true, deferred: true });
    expect(await Promise.all(writers)).toEqual([204, 204]);
    await delay(20);
    expect(destroyed.map((e) => [e.reason, e.attributes])).toEqual([['killed', { cart: [] }]]);
    expect(await storeSize(app.manager)).toBe(0);
  });

  it('never makes a request that changed nothing wait for others’ commits', async () => {
    const app = mergingApp(flavour);
    const cookie = cookieFrom(await request(app).post('/start'))!;
    const writes = Array.from({ length: 20 }, (_, i) => request(app).post(`/set/w${i}`).set('Cookie', cookie));
    const reads = Array.from({ length: 20 }, () => request(app).get('/attributes').set('Cookie', cookie).expect(200));
    await Promise.all([...writes, ...reads]);
    expect(Object.keys((await request(app).get('/attributes').set('Cookie', cookie)).body)).toHaveLength(21);
  });
});

describeRedis('merging commits on connect-redis with the in-process coordinator', () => {
  let client: TestRedisClient;
  let prefix: string;

  beforeAll(async () => {
    client = await createRedisClient();
    prefix = uniquePrefix('merging');
  });

  afterAll(async () => {
    await deleteRedisKeys(client, prefix);
    await client.close();
  });

  const store = () => new RedisStore({ client, prefix: `${prefix}${Math.random().toString(36).slice(2)}:` });
  const [, flavour] = EXPRESS_FLAVOURS[1];

  it('keeps all 50 attributes set by 50 concurrent requests', async () => {
    const app = mergingApp(flavour, { store: store() });
    const cookie = cookieFrom(await request(app).post('/start'))!;
    expect(await setOwnAttributes(app, cookie)).toEqual(Array(REQUESTS).fill(204));
    expect((await ownAttributesKept(app, cookie)).sort()).toEqual(ALL_OWN);
    await app.manager.close();
  });

  it('shows that express-session 1.19 on connect-redis loses attributes set at once', async () => {
    const app = expressSessionApp(flavour, store());
    const cookie = cookieFrom(await request(app).post('/start'), 'connect.sid')!;
    expect(await setOwnAttributes(app, cookie)).toEqual(Array(REQUESTS).fill(204));
    expect((await ownAttributesKept(app, cookie)).length).toBeLessThan(REQUESTS);
  });
});

/** How a configuration counts the writes of a session's record. */
type WriteCounter = (app: MergingApp, cookie: string) => Promise<() => Promise<number>>;

/** Counts the store's `set` calls from now on. */
const storeSets: WriteCounter = async (app) => {
  const counts = countCalls(app.manager.store);
  return async () => counts.set;
};

/**
 * `n` requests of one session held in their handlers, then released at once
 * so that their commits are grouped; `before` runs while they are held.
 * Resolves every status.
 */
async function releasedTogether(app: MergingApp, cookie: string, n: number, before: () => Promise<unknown> = async () => undefined): Promise<number[]> {
  const writers = Array.from({ length: n }, (_, i) => request(app).post(`/set-gated/g${i}`).set('Cookie', cookie).then((res) => res.status));
  await app.gate.arrivals(n);
  await before();
  app.gate.open();
  return Promise.all(writers);
}

/**
 * Group commit (docs/architecture.md, "Commit"): the merges of one session
 * that wait for its commit turn together are written with one write, each
 * request released with that write's outcome.
 */
function groupCommitTests(makeApp: () => MergingApp, countWrites: WriteCounter, options: { storeErrors: boolean }): void {
  it('writes 50 concurrent commits of one session in groups, keeping all 50 changes', async () => {
    const app = makeApp();
    const cookie = cookieFrom(await request(app).post('/start'))!;
    let writes: (() => Promise<number>) | undefined;
    const statuses = await releasedTogether(app, cookie, REQUESTS, async () => (writes = await countWrites(app, cookie)));
    expect(statuses).toEqual(Array(REQUESTS).fill(204));
    const kept = (await request(app).get('/attributes').set('Cookie', cookie)).body as Record<string, unknown>;
    expect(Object.keys(kept).sort()).toEqual(['cart', ...Array.from({ length: REQUESTS }, (_, i) => `g${i}`)].sort());
    // Grouped: far fewer writes than commits.
    const written = await writes!();
    expect(written).toBeGreaterThanOrEqual(1);
    expect(written).toBeLessThan(REQUESTS / 2);
    await app.manager.close();
  });

  it('keeps a session gone when it is invalidated while a group of commits waits to write it', async () => {
    const app = makeApp();
    const destroyed: SessionDestroyedEvent[] = [];
    app.manager.on('sessionDestroyed', (e) => void destroyed.push(e));
    const cookie = cookieFrom(await request(app).post('/start'))!;
    const statuses = await releasedTogether(app, cookie, 20, () => request(app).post('/invalidate').set('Cookie', cookie).expect(204));
    expect(statuses).toEqual(Array(20).fill(204));
    expect((await request(app).get('/attributes').set('Cookie', cookie)).body).toBeNull();
    expect(await storeSize(app.manager)).toBe(0);
    expect(destroyed.map((e) => e.reason)).toEqual(['invalidated']);
    await app.manager.close();
  });

  if (!options.storeErrors) return;
  it('fails every request of a group with 503 when the store fails its write, and keeps none of their changes', async () => {
    const app = makeApp();
    const cookie = cookieFrom(await request(app).post('/start'))!;
    const breaker = breakableStore(app.manager.store);
    const statuses = await releasedTogether(app, cookie, 20, async () => breaker.break('error', ['set']));
    breaker.repair();
    expect(statuses).toEqual(Array(20).fill(503));
    expect((await request(app).get('/attributes').set('Cookie', cookie)).body).toEqual({ cart: [] });
    await app.manager.close();
  });
}

describe('group commit in process', () => {
  groupCommitTests(() => mergingApp(EXPRESS_FLAVOURS[1][1]), storeSets, { storeErrors: true });
});

describeRedis('group commit on connect-redis', () => {
  let client: TestRedisClient;
  let prefix: string;

  beforeAll(async () => {
    client = await createRedisClient();
    prefix = uniquePrefix('group-commit');
  });

  afterAll(async () => {
    await deleteRedisKeys(client, prefix);
    await client.close();
  });

  const part = () => `${prefix}${Math.random().toString(36).slice(2)}:`;
  const [, flavour] = EXPRESS_FLAVOURS[1];

  describe('with the in-process coordinator', () => {
    groupCommitTests(() => mergingApp(flavour, { store: new RedisStore({ client, prefix: `${part()}sess:` }) }), storeSets, { storeErrors: true });
  });

  describe('with redisCoordinator on the same Redis (colocated records: one versioned write and every leave per group)', () => {
    const coordinators = new Map<MergingApp, string>();
    const makeApp = (): MergingApp => {
      const at = part();
      const app = mergingApp(flavour, {
        store: new RedisStore({ client, prefix: `${at}sess:` }),
        coordinator: redisCoordinator({ client, prefix: `${at}esm:` }),
      });
      coordinators.set(app, `${at}esm:`);
      return app;
    };
    // Colocated writes are counted by the entry's version: one more per record written.
    const versionWrites: WriteCounter = async (app, cookie) => {
      const entry = redisLayout(coordinators.get(app)!).entry(cookie.split('=')[1]);
      const version = async () => Number((await client.hGet(entry, 'ver')) ?? 0);
      const before = await version();
      return async () => (await version()) - before;
    };
    groupCommitTests(makeApp, versionWrites, { storeErrors: false });

    it('counts the 50 requests of the session in this process as one in Redis, and leaves with the last of them', async () => {
      const app = makeApp();
      const cookie = cookieFrom(await request(app).post('/start'))!;
      const id = cookie.split('=')[1];
      const layout = redisLayout(coordinators.get(app)!);
      const requestFields = async () => (await client.hKeys(layout.entry(id))).filter((field) => field.startsWith('r:'));
      let whileHeld: { fields: string[]; active: number | undefined } | undefined;
      try {
        const statuses = await releasedTogether(app, cookie, REQUESTS, async () => {
          whileHeld = { fields: await requestFields(), active: (await app.manager.sessions.get(id))?.activeRequests };
        });
        expect(statuses).toEqual(Array(REQUESTS).fill(204));
        // One standing in Redis; this process still knows its requests one by one (docs/architecture.md, "One standing per process").
        expect(whileHeld).toEqual({ fields: [expect.stringMatching(/^r:/)], active: REQUESTS });
        expect(await requestFields()).toEqual([]);
        expect(await client.zScore(layout.expiry(id), id)).toBeGreaterThan(Date.now());
      } finally {
        app.gate.open();
        await app.manager.close();
      }
    });

    it('fails every request of a group with 503 when Redis fails its write, and keeps none of their changes', async () => {
      // The manager's own connection, closed while the group waits: its one write fails.
      const own = await createRedisClient();
      const at = part();
      const app = mergingApp(flavour, {
        store: new RedisStore({ client: own, prefix: `${at}sess:` }),
        coordinator: redisCoordinator({ client: own, prefix: `${at}esm:` }),
        storeTimeout: 0.5, // a closed connection's calls end within it
      });
      const cookie = cookieFrom(await request(app).post('/start'))!;
      const statuses = await releasedTogether(app, cookie, 20, async () => own.destroy());
      expect(statuses).toEqual(Array(20).fill(503));
      const kept = JSON.parse((await client.get(`${at}sess:${cookie.split('=')[1]}`))!) as { attributes: Record<string, unknown> };
      expect(kept.attributes).toEqual({ cart: [] });
      await app.manager.close();
    });
  });
});

/** How many records the manager's store holds. */
function storeSize(manager: SessionManager): Promise<number> {
  return new Promise((resolve, reject) =>
    manager.store.length!((err, n) => (err ? reject(err as Error) : resolve(n ?? 0))),
  );
}
