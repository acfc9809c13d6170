/**
 * Migration without logging users out (docs/architecture.md, "Records"): a session written by
 * express-session 1.19 under the same store, cookie name and secret is a
 * live session of the default app, whose fields other than `cookie` are its
 * attributes. Checked on express-session's own MemoryStore and on
 * connect-redis@9 against the test redis-server, on Express 4 and 5.
 */
import { RedisStore } from 'connect-redis';
import type { Express } from 'express';
import session, { type Store } from 'express-session-1.19';
import request from 'supertest';
import { sessionManagement, type SessionManager } from '../lib/index';
import { redisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import { cookieFrom } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { probeApp, type ProbeState } from './support/probe-app';
import {
  createRedisClient,
  deleteRedisKeys,
  describeRedis,
  uniquePrefix,
  type TestRedisClient,
} from './support/services';

const SECRET = 'migration-secret';

/** A store both libraries use, and what the new library needs beside it. */
interface StoreFixture {
  store: Store;
  /** Extra manager options for this store (a coordinator for Redis). */
  managerOptions: Record<string, unknown>;
}

/** The migration scenarios, run against one store fixture. */
function migrationSuite(createExpress: () => Express, fixture: () => StoreFixture): void {
  const managers: SessionManager[] = [];

  /** An express-session 1.19 app, as users run it today. */
  function legacyApp(store: Store): Express {
    const app = createExpress();
    app.use(session({ secret: SECRET, name: 'JSESSIONID', store, resave: false, saveUninitialized: false }));
    app.post('/login', (req, res) => {
      const data = req.session as unknown as Record<string, unknown>;
      data.user = 'ann';
      data.cart = [{ sku: 'A-1', qty: 2 }];
      res.send('ok');
    });
    return app;
  }

  /** This library's probe app over the same store, secret and cookie name. */
  function newApp(store: Store, extra: Record<string, unknown>): Express {
    const middleware = sessionManagement({ store, secret: SECRET, ...extra });
    managers.push(middleware.manager);
    return probeApp(createExpress, middleware).app;
  }

  /** Logs in through express-session; answers the cookie and the session id. */
  async function legacyLogin(store: Store): Promise<{ cookie: string; id: string }> {
    const res = await request(legacyApp(store)).post('/login').expect(200);
    const cookie = cookieFrom(res);
    if (!cookie) throw new Error('express-session set no JSESSIONID cookie');
    const value = decodeURIComponent(cookie.slice('JSESSIONID='.length));
    return { cookie, id: value.slice(2, value.lastIndexOf('.')) };
  }

  afterEach(async () => {
    await Promise.all(managers.splice(0).map((manager) => manager.close()));
  });

  it('reads a session written by express-session as a live session of the default app', async () => {
    const { store, managerOptions } = fixture();
    const { cookie, id } = await legacyLogin(store);
    const res = await request(newApp(store, managerOptions)).get('/state').set('Cookie', cookie).expect(200);
    const state = res.body as ProbeState;
    expect(state.hasSession).toBe(true);
    expect(state.id).toBe(id);
    expect(state.requestedId).toBe(id);
    expect(state.requestedIdValid).toBe(true);
    expect(state.isNew).toBe(false);
    expect(state.attributes).toEqual({ user: 'ann', cart: [{ sku: 'A-1', qty: 2 }] });
    expect(state.attributes).not.toHaveProperty('cookie');
  });

  it('keeps the user logged in: the cookie is neither replaced nor cleared', async () => {
    const { store, managerOptions } = fixture();
    const { cookie } = await legacyLogin(store);
    const res = await request(newApp(store, managerOptions)).get('/state').set('Cookie', cookie).expect(200);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('keeps serving the migrated session on later requests, and keeps its data when written to', async () => {
    const { store, managerOptions } = fixture();
    const { cookie, id } = await legacyLogin(store);
    const app = newApp(store, managerOptions);
    await request(app).get('/state').set('Cookie', cookie).expect(200);
    const write = await request(app).post('/set/theme/dark').set('Cookie', cookie).expect(200);
    expect((write.body as ProbeState).id).toBe(id);
    expect(write.headers['set-cookie']).toBeUndefined();
    const res = await request(app).get('/state').set('Cookie', cookie).expect(200);
    const state = res.body as ProbeState;
    expect(state.requestedIdValid).toBe(true);
    expect(state.attributes).toEqual({ user: 'ann', cart: [{ sku: 'A-1', qty: 2 }], theme: 'dark' });
  });

  it('does not read an express-session session under a different secret', async () => {
    const { store, managerOptions } = fixture();
    const { cookie } = await legacyLogin(store);
    const middleware = sessionManagement({ store, secret: 'another-secret', ...managerOptions });
    managers.push(middleware.manager);
    const app = probeApp(createExpress, middleware).app;
    const res = await request(app).get('/state').set('Cookie', cookie).expect(200);
    expect((res.body as ProbeState).hasSession).toBe(false);
    expect((res.body as ProbeState).requestedId).toBeNull();
  });

  it('does not show an express-session session to an app other than the default one', async () => {
    const { store, managerOptions } = fixture();
    const { cookie } = await legacyLogin(store);
    const middleware = sessionManagement({ store, secret: SECRET, app: 'shop', ...managerOptions });
    managers.push(middleware.manager);
    const app = probeApp(createExpress, middleware).app;
    const res = await request(app).get('/state').set('Cookie', cookie).expect(200);
    expect((res.body as ProbeState).hasSession).toBe(false);
    expect((res.body as ProbeState).attributes).toEqual({});
  });
}

describe.each(EXPRESS_FLAVOURS)('migration from express-session 1.19 on %s', (_flavour, createExpress) => {
  describe("on express-session's MemoryStore", () => {
    migrationSuite(createExpress, () => ({ store: new session.MemoryStore(), managerOptions: {} }));

    it("does not warn about the in-process coordinator for the application's own express-session MemoryStore", async () => {
      const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
      try {
        const middleware = sessionManagement({ store: new session.MemoryStore(), secret: SECRET });
        await middleware.manager.close();
        const codes = warn.mock.calls.map((call) => (call[1] as { code?: string } | undefined)?.code);
        expect(codes).not.toContain('ESM_LOCAL_COORDINATOR');
      } finally {
        warn.mockRestore();
      }
    });
  });

  describeRedis('on connect-redis@9', () => {
    let client: TestRedisClient;
    let prefix: string;

    beforeAll(async () => {
      client = await createRedisClient();
      prefix = uniquePrefix('migration');
    });

    afterAll(async () => {
      await deleteRedisKeys(client, prefix);
      await client.close();
    });

    migrationSuite(createExpress, () => ({
      store: new RedisStore({ client, prefix: `${prefix}sess:` }),
      managerOptions: { coordinator: redisCoordinator({ client, prefix: `${prefix}esm:` }) },
    }));
  });
});
