/**
 * The reaper over Redis: connect-redis 9 as the store and
 * `redisCoordinator()` as the expiry index, on the run's private
 * redis-server. The sorted set and hashes as documented in
 * lib/coordination/redis/redis-coordinator.ts, exclusive claims between managers sweeping at
 * once, and the TTL safety net when no reaper runs at all.
 */
import { RedisStore } from 'connect-redis';
import type { Express } from 'express';
import { createSessionManager } from '../lib';
import { redisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import type { SessionManager } from '../lib/manager/session-manager';
import type { SessionManagerOptions } from '../lib/manager/options';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { FakeClock } from './support/fake-clock';
import { eventually } from './support/test-app';
import { redisLayout } from './support/redis-layout';
import {
  destroyedIds,
  nextTurn,
  recordEvents,
  startSessionApp,
  type RecordedEvent,
  type SessionApp,
  type SessionView,
} from './support/reaper-harness';
import { createRedisClient, deleteRedisKeys, describeRedis, uniquePrefix, type TestRedisClient } from './support/services';

/** Everything a test started, closed after it whatever happened. */
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  jest.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** One node: its own client, store and coordinator over the shared keys. */
interface Node {
  client: TestRedisClient;
  store: RedisStore;
  manager: SessionManager;
  events: RecordedEvent[];
}

/** Keys of one test: `<base>sess:<key>` records, `<base>esm:` coordinator keys. */
interface Keys {
  base: string;
  storePrefix: string;
  coordinatorPrefix: string;
  index: string;
  record(id: string): string;
  entry(id: string): string;
}

/** This suite's coordinators keep their indexes in one shard (`SHARDS`), so the expiry index is one sorted set. */
const SHARDS = 1;

function keysFor(name: string): Keys {
  const base = uniquePrefix(name);
  const storePrefix = `${base}sess:`;
  const coordinatorPrefix = `${base}esm:`;
  const layout = redisLayout(coordinatorPrefix, SHARDS);
  return {
    base,
    storePrefix,
    coordinatorPrefix,
    index: layout.allExpiry()[0],
    record: (id) => `${storePrefix}${id}`,
    entry: (id) => layout.entry(id),
  };
}

/** A node over `keys`, closed after the test (manager, then client); the first node also deletes the keys. */
async function node(keys: Keys, options: SessionManagerOptions = {}): Promise<Node> {
  const client = await createRedisClient();
  cleanups.push(async () => {
    await deleteRedisKeys(client, keys.base);
    await client.close();
  });
  const store = new RedisStore({ client, prefix: keys.storePrefix });
  const manager = createSessionManager({
    store,
    coordinator: redisCoordinator({ client, prefix: keys.coordinatorPrefix, shards: SHARDS }),
    invalidationTimeout: 60,
    reaperInterval: 60,
    ...options,
  });
  cleanups.push(() => manager.close());
  return { client, store, manager, events: recordEvents(manager) };
}

/** An app over the node's manager, closed after the test. */
async function app(makeApp: () => Express, n: Node, appOptions?: Parameters<SessionManager['middleware']>[0]): Promise<SessionApp> {
  const started = await startSessionApp(makeApp, n.manager, appOptions);
  cleanups.push(() => started.close());
  return started;
}

/** Settles pending promise chains and I/O callbacks. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await nextTurn();
}

/** Polls `check` every 50 ms until it is true or `ms` have passed; returns how long it took (or null). */
async function within(ms: number, check: () => Promise<boolean>): Promise<number | null> {
  const started = Date.now();
  while (Date.now() - started <= ms) {
    if (await check()) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return null;
}

describeRedis('redisCoordinator with the reaper', () => {
  describe.each(EXPRESS_FLAVOURS)('%s', (_flavour, makeApp) => {
    describe('the expiry index', () => {
      it('keeps each session\'s deadline in the sorted set and its entry in a hash, as documented', async () => {
        const clock = new FakeClock();
        const keys = keysFor('redis-reaper-layout');
        const n = await node(keys, { clock });
        const web = await app(makeApp, n);
        const createdAt = clock.now();
        const { id } = await web.create({ a: 1 });

        // Deadline = end of the request + 60 s; the record keeps 240 s of grace (4 × reaperInterval).
        expect(Number(await n.client.zScore(keys.index, id!))).toBe(createdAt + 60_000);
        expect(await n.client.hGetAll(keys.entry(id!))).toEqual({
          accessed: String(createdAt),
          deadline: String(createdAt + 60_000),
          rn: '0', // no request uses it now (docs/architecture.md, "Faults")
          store: String(createdAt + 300_000),
          ver: '1',
          by: expect.stringMatching(/^[\w-]{9,}$/), // the id of the write that made `ver`
        });
        const record = JSON.parse((await n.client.get(keys.record(id!)))!) as { cookie: { expires: string } };
        expect(Date.parse(record.cookie.expires)).toBe(createdAt + 300_000);
        expect(await n.client.pExpireTime(keys.entry(id!))).toBe(createdAt + 300_000);

        clock.advanceSeconds(10);
        await web.read(id!);
        // A read leaves the coordinator just after its response.
        await eventually(async () => expect(Number(await n.client.zScore(keys.index, id!))).toBe(createdAt + 70_000));
        expect(await n.client.hGet(keys.entry(id!), 'accessed')).toBe(String(createdAt + 10_000));
      });

      it('keeps never-expiring sessions out of the sorted set', async () => {
        const clock = new FakeClock();
        const keys = keysFor('redis-reaper-never');
        const n = await node(keys, { clock });
        const web = await app(makeApp, n);
        const never = await web.create({ a: 1 }, undefined, '&never=1');
        const { id } = await web.create({ b: 2 });
        expect(await n.client.zRange(keys.index, 0, -1)).toEqual([id]);
        expect(await n.client.hGet(keys.entry(never.id!), 'deadline')).toBe('-1');

        await web.create({}, id!, '&never=1');
        expect(await n.client.zCard(keys.index)).toBe(0);
        clock.advanceSeconds(7 * 24 * 3600);
        expect((await n.manager.reap()).expired).toBe(0);
      });

      it('sweeps what the sorted set says is due, without listing the store', async () => {
        const clock = new FakeClock();
        const keys = keysFor('redis-reaper-sweep');
        const n = await node(keys, { clock });
        const web = await app(makeApp, n);
        const listing = jest.spyOn(n.store, 'all');
        const scanning = jest.spyOn(n.client, 'scanIterator');
        const due: string[] = [];
        for (let i = 0; i < 5; i++) due.push((await web.create({ i })).id!);
        clock.advanceSeconds(30);
        const later: string[] = [];
        for (let i = 0; i < 3; i++) later.push((await web.create({ later: i })).id!);

        clock.advanceSeconds(31);
        expect((await n.manager.reap()).expired).toBe(5);
        expect(listing).not.toHaveBeenCalled();
        expect(scanning).not.toHaveBeenCalled();
        expect(destroyedIds(n.events).sort()).toEqual([...due].sort());
        const first = n.events.find((e) => e.event === 'sessionDestroyed')!;
        expect(first.payload).toMatchObject({ reason: 'expired', attributes: { i: expect.any(Number) } });
        expect((await n.client.zRange(keys.index, 0, -1)).sort()).toEqual([...later].sort());
        for (const id of due) {
          expect(await n.client.exists([keys.record(id), keys.entry(id)])).toBe(0);
        }
        for (const id of later) expect((await web.read(id)).live).toBe(true);
      });

      it('drops index members whose entry expired by itself, and sweeps past them', async () => {
        const clock = new FakeClock();
        const keys = keysFor('redis-reaper-stale');
        const n = await node(keys, { clock });
        const web = await app(makeApp, n);
        // 1,500 members older than any session, whose hashes Redis already expired (more than one batch).
        const stale = Array.from({ length: 1500 }, (_, i) => ({ score: clock.now() - 1_000_000 + i, value: `stale-${i}` }));
        await n.client.zAdd(keys.index, stale);
        const { id } = await web.create({ real: true });
        clock.advanceSeconds(61);

        let reaped = 0;
        for (let sweep = 0; sweep < 3 && reaped === 0; sweep++) reaped += (await n.manager.reap()).expired;
        expect(reaped).toBe(1);
        expect(destroyedIds(n.events)).toEqual([id]);
        expect(await n.client.zCard(keys.index)).toBe(0);
      });
    });

    describe('claims', () => {
      it('lets exactly one of two managers destroy each session when both sweep at once', async () => {
        const clock = new FakeClock();
        const keys = keysFor('redis-reaper-claims');
        const a = await node(keys, { clock });
        const b = await node(keys, { clock });
        const webA = await app(makeApp, a);
        const webB = await app(makeApp, b);
        const ids: string[] = [];
        let wonA = 0;
        let wonB = 0;
        for (let round = 0; round < 4; round++) {
          for (let i = 0; i < 30; i++) ids.push((await (i % 2 === 0 ? webA : webB).create({ round, i })).id!);
          clock.advanceSeconds(61);
          const [ra, rb] = await Promise.all([a.manager.reap(), b.manager.reap()]);
          expect(ra.expired + rb.expired).toBe(30);
          wonA += ra.expired;
          wonB += rb.expired;
        }
        const fired = [...destroyedIds(a.events), ...destroyedIds(b.events)];
        expect(fired).toHaveLength(ids.length);
        expect(new Set(fired)).toEqual(new Set(ids));
        expect(destroyedIds(a.events)).toHaveLength(wonA);
        expect(destroyedIds(b.events)).toHaveLength(wonB);
        expect(a.manager.stats().sessions.expired + b.manager.stats().sessions.expired).toBe(ids.length);
        expect(await a.client.zCard(keys.index)).toBe(0);
        // Both sweeps did claim work: the contest was real.
        expect(wonA).toBeGreaterThan(0);
        expect(wonB).toBeGreaterThan(0);
      });

      it('fires once per session when requests on one manager meet sweeps on both', async () => {
        const clock = new FakeClock();
        const keys = keysFor('redis-reaper-request-race');
        const a = await node(keys, { clock, strictExpiry: false });
        const b = await node(keys, { clock, strictExpiry: false });
        const webA = await app(makeApp, a);
        const sessions: { id: string; n: number }[] = [];
        for (let i = 0; i < 60; i++) sessions.push({ id: (await webA.create({ n: i })).id!, n: i });
        clock.advanceSeconds(61);

        const reads: Promise<SessionView>[] = [];
        let sweeps: Promise<unknown> | undefined;
        for (const [index, s] of sessions.entries()) {
          if (index === 20) sweeps = Promise.all([a.manager.reap(), b.manager.reap()]);
          reads.push(webA.read(s.id));
        }
        const views = await Promise.all(reads);
        await sweeps;
        await settle();

        const fired = [...destroyedIds(a.events), ...destroyedIds(b.events)];
        for (const [index, s] of sessions.entries()) {
          const got = views[index];
          const times = fired.filter((id) => id === s.id).length;
          if (got.live) {
            expect({ n: s.n, id: got.id, attributes: got.attributes, times }).toEqual({ n: s.n, id: s.id, attributes: { n: s.n }, times: 0 });
          } else {
            expect({ n: s.n, times }).toEqual({ n: s.n, times: 1 });
          }
        }
        // What was continued is reaped later, once, by whichever sweeps first.
        clock.advanceSeconds(61);
        await Promise.all([a.manager.reap(), b.manager.reap()]);
        await settle();
        const total = [...destroyedIds(a.events), ...destroyedIds(b.events)];
        expect(total.sort()).toEqual(sessions.map((s) => s.id).sort());
      });
    });
  });

  describe('the safety net', () => {
    it('lets Redis expire the record and the entry on their own when no reaper ever runs', async () => {
      jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined); // reaperInterval 1 warns
      const keys = keysFor('redis-reaper-ttl');
      const n = await node(keys, { invalidationTimeout: 1, reaperInterval: 1 });
      const web = await app(EXPRESS_FLAVOURS[1][1], n);
      const { id } = await web.create({ a: 1 });
      await n.manager.close(); // no sweep, ever: only the TTLs are left
      expect(n.manager.stats().reaper.runs).toBe(0);

      // The record carries cookie.expires = deadline + grace (max(1 s, 4 × 1 s) = 4 s): connect-redis sets a TTL.
      const deadline = Number(await n.client.zScore(keys.index, id!));
      const record = JSON.parse((await n.client.get(keys.record(id!)))!) as { cookie: { expires: string } };
      expect(Date.parse(record.cookie.expires) - deadline).toBe(4_000);
      const ttl = await n.client.pTTL(keys.record(id!));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(6_000);
      expect(await n.client.pTTL(keys.entry(id!))).toBeGreaterThan(0);

      const gone = await within(6_500, async () => (await n.client.exists([keys.record(id!), keys.entry(id!)])) === 0);
      expect(gone).not.toBeNull();
      expect(n.events).toEqual([]);

      // The index member is all that is left; the next sweep anywhere drops it without an event.
      expect(await n.client.zCard(keys.index)).toBe(1);
      const later = await node(keys, { invalidationTimeout: 1, reaperInterval: 60 });
      expect((await later.manager.reap()).expired).toBe(0);
      expect(await later.client.zCard(keys.index)).toBe(0);
      expect(later.events).toEqual([]);
    }, 15_000);
  });
});
