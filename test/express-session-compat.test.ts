/**
 * `req.session`, `req.sessionID` and `req.sessionStore` as express-session
 * 1.19 documents them, over the request's HttpSession (docs/architecture.md,
 * "express-session compatibility"), in process and with Redis (colocated
 * records).
 */
import { RedisStore } from 'connect-redis';
import type { Express, NextFunction, Request, Response } from 'express';
import session from 'express-session-1.19';
import request from 'supertest';
import http from 'node:http';
import { ConfigurationError, createSessionManager, MemoryStore, type SessionManagerOptions } from '../lib';
import { redisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import { setCookieLine } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { FakeClock } from './support/fake-clock';
import { countCalls } from './support/instrumented-store';
import { createRedisClient, deleteRedisKeys, describeRedis, uniquePrefix, type TestRedisClient } from './support/services';
import { cookieFor, createTestApp, gate, sessionIdFrom, type TestApp } from './support/test-app';

declare module 'express-session' {
  interface SessionData {
    n: number;
    list: number[];
    note: string;
  }
}

/** Answers errors as JSON with their status and class name. */
function jsonErrors(app: Express): void {
  app.use((err: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.status ?? 500).json({ error: err.name, message: err.message });
  });
}

/** The routes every test here uses. */
function routes(app: Express): void {
  app.get('/read', (req, res) => {
    res.json({ n: req.session.n ?? null, keys: Object.keys(req.session), id: req.sessionID ?? null, hasN: 'n' in req.session });
  });
  app.post('/set', (req, res) => {
    req.session.n = Number(req.query.n ?? 1);
    res.json({ id: req.sessionID, keys: Object.keys(req.session), sameId: req.session.id === req.httpSession.getId() });
  });
  app.post('/push', (req, res) => {
    (req.session.list ??= []).push(req.session.list.length + 1);
    res.json({ list: req.session.list });
  });
  app.post('/delete', (req, res) => {
    delete req.session.n;
    res.json({ keys: Object.keys(req.session) });
  });
  app.post('/function', (req, res) => {
    (req.session as unknown as Record<string, unknown>).f = () => 1;
    res.json({});
  });
  app.post('/empty-calls', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.destroy((err2) => (err2 ? next(err2) : res.json({ session: req.session === undefined })));
    });
  });
  app.get('/store', (req, res) => res.json({ same: req.sessionStore === t.manager.store }));
  app.post('/reload', (req, res, next) => {
    req.session.n = 99;
    req.session.reload((err) => (err ? next(err) : res.json({ n: req.session.n ?? null })));
  });
  jsonErrors(app);
}

let t: TestApp;
/** The warnings about a req.session set by other middleware, over the whole file. */
const takenWarnings: string[] = [];

describe.each(EXPRESS_FLAVOURS)('req.session on %s', (_name, flavour) => {
  afterEach(async () => {
    await t?.close();
  });

  async function start(manager: SessionManagerOptions = {}, more?: (app: Express) => void): Promise<TestApp> {
    t = await createTestApp(flavour, { manager }, (app) => {
      more?.(app);
      routes(app);
    });
    return t;
  }

  it('reading creates nothing: no id, no cookie, no record', async () => {
    await start();
    const res = await t.http().get('/read').expect(200);
    expect(res.body).toEqual({ n: null, keys: ['cookie'], id: null, hasN: false });
    expect(sessionIdFrom(res)).toBeUndefined();
    expect(Object.keys(await t.store.all!())).toEqual([]);
  });

  it('an assignment is setAttribute: it creates the session, fires the events, and is read back', async () => {
    await start();
    const added: string[] = [];
    t.manager.on('attributeAdded', (e) => added.push(e.name));
    const res = await t.http().post('/set?n=5').expect(200);
    const id = sessionIdFrom(res)!;
    expect(res.body).toEqual({ id, keys: ['n', 'cookie'], sameId: true });
    expect(added).toEqual(['n']);
    const read = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
    expect(read.body).toEqual({ n: 5, keys: ['n', 'cookie'], id, hasN: true });
  });

  it('delete removes an attribute; nested changes are saved', async () => {
    await start();
    const id = sessionIdFrom(await t.http().post('/set').expect(200))!;
    expect((await t.http().post('/push').set('Cookie', cookieFor(id)).expect(200)).body.list).toEqual([1]);
    expect((await t.http().post('/push').set('Cookie', cookieFor(id)).expect(200)).body.list).toEqual([1, 2]);
    expect((await t.http().post('/delete').set('Cookie', cookieFor(id)).expect(200)).body.keys).toEqual(['list', 'cookie']);
    const read = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
    expect(read.body.keys).toEqual(['list', 'cookie']);
  });

  it('applies the JSON rules of attributes (a function throws TypeError)', async () => {
    await start();
    const res = await t.http().post('/function').expect(500);
    expect(res.body.error).toBe('TypeError');
  });

  it('regenerate and destroy without a session call back without error', async () => {
    await start();
    const res = await t.http().post('/empty-calls').expect(200);
    expect(res.body).toEqual({ session: true });
    expect(sessionIdFrom(res)).toBeUndefined();
  });

  it('req.sessionStore is the manager’s store', async () => {
    await start();
    expect((await t.http().get('/store').expect(200)).body).toEqual({ same: true });
  });

  it('reload() drops the changes of the request', async () => {
    await start();
    const id = sessionIdFrom(await t.http().post('/set?n=3').expect(200))!;
    expect((await t.http().post('/reload').set('Cookie', cookieFor(id)).expect(200)).body).toEqual({ n: 3 });
    expect((await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200)).body.n).toBe(3);
  });

  it('save() stores a new session before it calls back; what changes after is stored too', async () => {
    await start({}, (app) => {
      app.post('/save-then-change', (req, res, next) => {
        req.session.n = 1;
        req.session.save(async (err) => {
          if (err) return next(err);
          const stored = (await t.store.get(req.sessionID)) as { attributes?: Record<string, unknown> } | null;
          req.session.note = 'after save';
          res.json({ storedAtCallback: stored?.attributes ?? null });
        });
      });
      app.get('/note', (req, res) => res.json({ n: req.session.n ?? null, note: req.session.note ?? null }));
    });
    const res = await t.http().post('/save-then-change').expect(200);
    expect(res.body.storedAtCallback).toEqual({ n: 1 });
    const id = sessionIdFrom(res)!;
    expect((await t.http().get('/note').set('Cookie', cookieFor(id)).expect(200)).body).toEqual({ n: 1, note: 'after save' });
  });

  it('save() of a loaded session writes once; the commit writes only what changed after it', async () => {
    const calls = { sets: 0 };
    await start({}, (app) => {
      app.post('/save', (req, res, next) => {
        req.session.n = Number(req.query.n);
        req.session.save((err) => {
          if (err) return next(err);
          if (req.query.after) req.session.note = String(req.query.after);
          res.json({});
        });
      });
    });
    const counts = countCalls(t.manager.store);
    const id = sessionIdFrom(await t.http().post('/set').expect(200))!;
    const before = counts.set;
    await t.http().post('/save?n=2').set('Cookie', cookieFor(id)).expect(200);
    calls.sets = counts.set - before;
    expect(calls.sets).toBe(1);
    await t.http().post('/save?n=3&after=x').set('Cookie', cookieFor(id)).expect(200);
    expect(counts.set - before).toBe(3);
    const read = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
    expect(read.body.n).toBe(3);
    expect(read.body.keys).toEqual(['n', 'note', 'cookie']);
  });

  it('expressSessionCompat: false leaves req.session undefined', async () => {
    await start({ expressSessionCompat: false }, (app) => {
      app.get('/has', (req, res) => res.json({ session: req.session === undefined ? 'none' : 'set', id: req.sessionID ?? null }));
    });
    expect((await t.http().get('/has').expect(200)).body).toEqual({ session: 'none', id: null });
  });

  it('is the default app’s session only', async () => {
    t = await createTestApp(flavour, { app: { app: 'shop' } }, (app) => {
      app.get('/has', (req, res) => res.json({ session: req.session === undefined ? 'none' : 'set' }));
    });
    expect((await t.http().get('/has').expect(200)).body).toEqual({ session: 'none' });
  });

  it('genid makes the ids of new sessions; an unusable id is a ConfigurationError', async () => {
    let next = 'custom-id-0123456789';
    await start({ genid: () => next });
    const res = await t.http().post('/set').expect(200);
    expect(sessionIdFrom(res)).toBe('custom-id-0123456789');
    next = 'short';
    const bad = await t.http().post('/set').expect(500);
    expect(bad.body.error).toBe('ConfigurationError');
    expect(bad.body.message).toMatch(/genid returned "short": an id must be 16-128 characters/);
  });

  it("cookie.secure 'auto' is Secure exactly when req.secure (trust proxy honoured)", async () => {
    await start({ cookie: { secure: 'auto' } }, (app) => {
      app.set('trust proxy', 'loopback');
      app.get('/secure', (req, res) => res.json({ secure: req.session.cookie.secure }));
    });
    const plain = await t.http().post('/set').expect(200);
    expect(setCookieLine(plain)).not.toMatch(/Secure/);
    const proxied = await t.http().post('/set').set('X-Forwarded-Proto', 'https').expect(200);
    expect(setCookieLine(proxied)).toMatch(/; Secure/);
    expect((await t.http().get('/secure').set('X-Forwarded-Proto', 'https').expect(200)).body).toEqual({ secure: true });
  });

  it('re-sends a persistent cookie once its last Set-Cookie is older than a tenth of cookie.maxAge', async () => {
    await start({ cookie: { maxAge: 1000 } });
    const first = await t.http().post('/set').expect(200);
    expect(setCookieLine(first)).toMatch(/Max-Age=1000/);
    const id = sessionIdFrom(first)!;
    t.clock.advanceSeconds(60);
    expect(setCookieLine(await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200))).toBeUndefined();
    t.clock.advanceSeconds(60); // 120 s since it was sent: over a tenth of 1000 s
    const rolled = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
    expect(setCookieLine(rolled)).toMatch(new RegExp(`^JSESSIONID=${id}; Max-Age=1000;`));
    t.clock.advanceSeconds(60);
    expect(setCookieLine(await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200))).toBeUndefined();
  });

  describe('beside express-session', () => {
    beforeEach(() => {
      // Jest's sandboxed `process` does not receive the real process's 'warning' events: spy on the call.
      jest.spyOn(process, 'emitWarning').mockImplementation(((warning: string, options?: { code?: string }) => {
        if (options?.code === 'ESM_REQ_SESSION_TAKEN') takenWarnings.push(warning);
      }) as typeof process.emitWarning);
    });
    afterEach(() => {
      jest.restoreAllMocks();
    });

    it('leaves a req.session set before it alone, and warns once', async () => {
      const both = await behindExpressSession(flavour, {}, { secret: 'x', name: 'other.sid' }, (app) => {
        app.get('/both', (req, res) => res.json({ isExpressSession: typeof (req.session as { touch?: unknown }).touch === 'function' }));
      });
      try {
        expect((await both.http().get('/both').expect(200)).body).toEqual({ isExpressSession: true });
        await both.http().get('/both').expect(200);
        expect(takenWarnings).toHaveLength(1); // once per process: for both flavours
        expect(takenWarnings[0]).toMatch(/req.session was already set by other middleware/);
      } finally {
        await both.close();
      }
    });

    it('on the same store and id, fails the request with a ConfigurationError', async () => {
      const store = new MemoryStore();
      const both = await behindExpressSession(flavour, { secret: 'shared', store }, { secret: 'shared', name: 'JSESSIONID', store }, (app) => {
        app.post('/es', (req, res) => {
          req.session.n = 1;
          res.json({ id: req.sessionID });
        });
        jsonErrors(app);
      });
      try {
        const first = await both.http().post('/es').expect(200);
        const cookie = setCookieLine(first)!.split(';')[0];
        const second = await both.http().post('/es').set('Cookie', cookie).expect(500);
        expect(second.body.error).toBe(ConfigurationError.name);
        expect(second.body.message).toMatch(/same store and session id/);
      } finally {
        await both.close();
      }
    });
  });
});

/** An app with express-session mounted before this library's middleware. */
async function behindExpressSession(
  flavour: () => Express,
  managerOptions: SessionManagerOptions,
  sessionOptions: { secret: string; name: string; store?: MemoryStore },
  more: (app: Express) => void,
): Promise<{ http(): ReturnType<typeof request>; close(): Promise<void> }> {
  const manager = createSessionManager({ clock: new FakeClock(), ...managerOptions });
  const app = flavour();
  app.use(session({ resave: false, saveUninitialized: false, ...sessionOptions }));
  app.use(manager.middleware());
  more(app);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    http: () => request(server),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await manager.close();
    },
  };
}

describeRedis('req.session with Redis (colocated records)', () => {
  let client: TestRedisClient;
  let prefix: string;

  beforeEach(async () => {
    client = await createRedisClient();
    prefix = uniquePrefix('compat');
  });

  afterEach(async () => {
    await t?.close();
    await deleteRedisKeys(client, prefix);
    await client.close();
  });

  it('a new session changed after save() keeps both, and is not idle while the request still runs', async () => {
    const release = gate();
    const saved = gate();
    t = await createTestApp(
      EXPRESS_FLAVOURS[1][1],
      {
        manager: {
          store: new RedisStore({ client, prefix: `${prefix}sess:` }),
          coordinator: redisCoordinator({ client, prefix: `${prefix}esm:` }),
          invalidationTimeout: 10,
        },
      },
      (app) => {
        app.post('/login', (req, res, next) => {
          req.session.n = 1;
          req.session.save((err) => {
            if (err) return next(err);
            saved.open();
            void release.promise.then(() => {
              req.session.note = 'after save';
              res.json({ id: req.sessionID });
            });
          });
        });
        routes(app);
      },
    );
    const pending = t.http().post('/login');
    const response = pending.then((res) => res);
    await saved.promise;
    t.clock.advanceSeconds(30); // past the timeout (within a request's lease): the running request still holds it
    expect((await t.manager.reap()).expired).toBe(0);
    release.open();
    const res = await response;
    expect(res.status).toBe(200);
    const id = sessionIdFrom(res)!;
    const read = await request(t.server).get('/read').set('Cookie', cookieFor(id)).expect(200);
    expect(read.body).toMatchObject({ n: 1, keys: ['n', 'note', 'cookie'], id });
  });

  it('save() of a loaded session, then a change, keeps both', async () => {
    t = await createTestApp(
      EXPRESS_FLAVOURS[1][1],
      {
        manager: {
          store: new RedisStore({ client, prefix: `${prefix}sess:` }),
          coordinator: redisCoordinator({ client, prefix: `${prefix}esm:` }),
        },
      },
      (app) => {
        app.post('/save', (req, res, next) => {
          req.session.n = 2;
          req.session.save((err) => {
            if (err) return next(err);
            req.session.note = 'later';
            res.json({});
          });
        });
        routes(app);
      },
    );
    const id = sessionIdFrom(await t.http().post('/set').expect(200))!;
    await t.http().post('/save').set('Cookie', cookieFor(id)).expect(200);
    const read = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
    expect(read.body).toMatchObject({ n: 2, keys: ['n', 'note', 'cookie'] });
  });
});
