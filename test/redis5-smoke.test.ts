declare module 'express-session' {
  interface SessionData {
    n: number;
  }
}

/**
 * The peer range is `redis: ^5 || ^6`: every Redis suite runs on redis 6 (the
 * dev dependency); this one runs the coordinator and connect-redis on a
 * redis 5 client (`redis5`, redis@5 under another name) — a session
 * created, read, expired by the reaper, and one ended through `req.session`.
 */
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis5';
import { redisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { deleteRedisKeys, describeRedis, uniquePrefix, type TestRedisClient } from './support/services';
import { cookieFor, createTestApp, sessionIdFrom, type TestApp } from './support/test-app';

describeRedis('redisCoordinator and connect-redis on a redis 5 client', () => {
  let client: ReturnType<typeof createClient>;
  let prefix: string;
  let t: TestApp;

  beforeEach(async () => {
    client = createClient({ url: process.env.REDIS_URL });
    client.on('error', () => undefined);
    await client.connect();
    prefix = uniquePrefix('redis5');
    const version = (await client.info('server')).match(/redis_version:(\S+)/)?.[1];
    expect(version).toBeDefined();
    t = await createTestApp(
      EXPRESS_FLAVOURS[1][1],
      {
        manager: {
          store: new RedisStore({ client: client as never, prefix: `${prefix}sess:` }),
          coordinator: redisCoordinator({ client: client as never, prefix: `${prefix}esm:` }),
          invalidationTimeout: 60,
          reaperInterval: 30,
        },
      },
      (app) => {
        app.post('/write', (req, res) => {
          req.session.n = (req.session.n ?? 0) + 1;
          res.json({ n: req.session.n });
        });
        app.get('/read', (req, res) => res.json({ n: req.session.n ?? null }));
        app.post('/end', (req, res) => req.session.destroy(() => res.json({})));
      },
    );
  });

  afterEach(async () => {
    await t?.close();
    await deleteRedisKeys(client as unknown as TestRedisClient, prefix);
    await client.close();
  });

  it('is redis 5', () => {
    expect(Number((require('redis5/package.json') as { version: string }).version.split('.')[0])).toBe(5);
  });

  it('creates, reads, changes and ends a session', async () => {
    const id = sessionIdFrom(await t.http().post('/write').expect(200))!;
    expect((await t.http().post('/write').set('Cookie', cookieFor(id)).expect(200)).body).toEqual({ n: 2 });
    expect((await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200)).body).toEqual({ n: 2 });
    await t.http().post('/end').set('Cookie', cookieFor(id)).expect(200);
    expect((await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200)).body).toEqual({ n: null });
  });

  it('expires an idle session in a reaper sweep, and tells the application', async () => {
    const destroyed: string[] = [];
    t.manager.on('sessionDestroyed', (e) => destroyed.push(`${e.id}:${e.reason}`));
    const id = sessionIdFrom(await t.http().post('/write').expect(200))!;
    t.clock.advanceSeconds(61);
    expect((await t.manager.reap()).expired).toBe(1);
    expect(destroyed).toEqual([`${id}:expired`]);
  });
});
