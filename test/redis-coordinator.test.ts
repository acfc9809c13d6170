/**
 * The Redis coordinator (lib/coordination/redis/redis-coordinator.ts) under
 * the full HTTP stack: connect-redis@9 as the store, `redisCoordinator({
 * client, prefix })`, and two managers standing for two processes that
 * share both, on one fake clock. On one server, the cluster and the Sentinel
 * setup; Express 4 and 5. The keys it expects are those the coordinator documents at the top
 * of its file (names from test/support/redis-layout.ts); connect-redis keeps
 * the record under `<store prefix>K`. What each call promises, on every
 * coordinator, is in the coordinator contract (coordinator-contract.test.ts).
 */
import { RedisStore } from 'connect-redis';
import type { Express } from 'express';
import request from 'supertest';
import {
  createSessionManager,
  type SessionDestroyedEvent,
  type SessionManager,
  type SessionManagerOptions,
} from '../lib/index';
import { redisCoordinator, type RedisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import { LeaseRenewal } from '../lib/killing/lease-renewal';
import { RunningRequests, type RunningRequest } from '../lib/killing/running-requests';
import { cookieFrom } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { FakeClock } from './support/fake-clock';
import { probeApp, type ProbeState } from './support/probe-app';
import { eventually } from './support/test-app';
import { redisLayout, zCardAll, type RedisLayout } from './support/redis-layout';
import { closeTopologyClient, connectTopology, deleteKeys, describeTopologies, scanKeys, type TopologyClient } from './support/redis-topology';
import { uniquePrefix } from './support/services';

/** Idle timeout of the suite's sessions, seconds. */
const TIMEOUT = 60;
/** Reaper interval, seconds (explicit, so the store grace is known: max(timeout, 4 × interval)). */
const REAPER_INTERVAL = 60;
const GRACE_MS = Math.max(TIMEOUT, 4 * REAPER_INTERVAL) * 1000;

/** One "process": its own redis connection, store, coordinator, manager and app. */
interface Node {
  manager: SessionManager;
  coordinator: RedisCoordinator;
  app: Express;
  /** `sessionDestroyed` events this node fired. */
  destroyed: SessionDestroyedEvent[];
}

describeTopologies('redisCoordinator', (topology) => {
  let clients: [TopologyClient, TopologyClient];
  let prefix: string;
  let clock: FakeClock;
  const managers: SessionManager[] = [];

  /** The coordinator's key prefix (`P`) and connect-redis's. */
  const coordinatorPrefix = (): string => `${prefix}esm:`;
  const storePrefix = (): string => `${prefix}sess:`;
  const layout = (): RedisLayout => redisLayout(coordinatorPrefix());

  beforeAll(async () => {
    clients = [await connectTopology(topology), await connectTopology(topology)];
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => closeTopologyClient(client)));
  });

  beforeEach(() => {
    prefix = uniquePrefix('redis-coordinator');
    clock = new FakeClock();
  });

  afterEach(async () => {
    await Promise.all(managers.splice(0).map((manager) => manager.close()));
    await deleteKeys(clients[0], prefix);
  });

  /** A node on connection `n` (0 or 1) with its own store and coordinator objects. */
  function node(createExpress: () => Express, n: 0 | 1, appOptions?: Parameters<SessionManager['middleware']>[0]): Node {
    const client = clients[n];
    const coordinator = redisCoordinator({ client, prefix: coordinatorPrefix() });
    const options: SessionManagerOptions = {
      store: new RedisStore({ client, prefix: storePrefix() }),
      coordinator,
      clock,
      invalidationTimeout: TIMEOUT,
      reaperInterval: REAPER_INTERVAL,
    };
    const manager = createSessionManager(options);
    managers.push(manager);
    const destroyed: SessionDestroyedEvent[] = [];
    manager.on('sessionDestroyed', (event) => {
      destroyed.push(event);
    });
    return { manager, coordinator, app: probeApp(createExpress, manager.middleware(appOptions)).app, destroyed };
  }

  /** `GET /state` with `cookie`. */
  async function state(app: Express, cookie: string): Promise<ProbeState> {
    const res = await request(app).get('/state').set('Cookie', cookie).expect(200);
    return res.body as ProbeState;
  }

  /** Creates a session with `user=ann` through `app`; answers its id and cookie. */
  async function login(app: Express): Promise<{ id: string; cookie: string }> {
    const res = await request(app).post('/set/user/ann').expect(200);
    return { id: (res.body as ProbeState).id!, cookie: cookieFrom(res)! };
  }

  describe.each(EXPRESS_FLAVOURS)('on %s', (_flavour, createExpress: () => Express) => {
    describe('create and read', () => {
      it('stores the record through connect-redis and the entry through the coordinator', async () => {
        const a = node(createExpress, 0);
        const created = clock.now();
        const { id } = await login(a.app);
        const record = JSON.parse((await clients[0].get(`${storePrefix()}${id}`))!) as Record<string, unknown>;
        expect(record).toMatchObject({ attributes: { user: 'ann' }, esm: { v: 2, c: created } });
        // The leave runs after the response: wait for it rather than race it.
        await eventually(async () => {
          const entry = await clients[0].hGetAll(layout().entry(id));
          expect(entry).toMatchObject({ accessed: String(created), deadline: String(created + TIMEOUT * 1000) });
          expect(Object.keys(entry).filter((field) => field.startsWith('r:'))).toEqual([]); // no request uses it
        });
      });

      it("reads the session through the other node with lastAccessedTime = the previous request's start", async () => {
        const a = node(createExpress, 0);
        const b = node(createExpress, 1);
        const t0 = clock.now();
        const { id, cookie } = await login(a.app);
        clock.advanceSeconds(10);
        const first = await state(b.app, cookie);
        expect(first).toMatchObject({
          id,
          requestedIdValid: true,
          isNew: false,
          creationTime: t0,
          lastAccessedTime: t0,
          attributes: { user: 'ann' },
        });
        clock.advanceSeconds(5);
        const second = await state(a.app, cookie);
        expect(second.lastAccessedTime).toBe(t0 + 10_000);
        expect(second.creationTime).toBe(t0);
        clock.advanceSeconds(1);
        expect((await state(b.app, cookie)).lastAccessedTime).toBe(t0 + 15_000);
      });

      it('sees a write made through one node from the other', async () => {
        const a = node(createExpress, 0);
        const b = node(createExpress, 1);
        const { cookie } = await login(a.app);
        await request(b.app).post('/set/cart/42').set('Cookie', cookie).expect(200);
        expect((await state(a.app, cookie)).attributes).toEqual({ user: 'ann', cart: '42' });
      });

      it('deletes the record and the entry of a session invalidated through the other node', async () => {
        const a = node(createExpress, 0);
        const b = node(createExpress, 1);
        const { id, cookie } = await login(a.app);
        await request(b.app).post('/invalidate').set('Cookie', cookie).expect(204);
        expect((await clients[0].exists(`${storePrefix()}${id}`)) + (await clients[0].exists(layout().entry(id)))).toBe(0);
        expect(await clients[0].zScore(layout().expiry(id), id)).toBeNull();
        expect((await state(a.app, cookie)).hasSession).toBe(false);
        expect(b.destroyed.map((e) => e.reason)).toEqual(['invalidated']);
        expect(a.destroyed).toEqual([]);
      });
    });

    describe('expiry on access', () => {
      it('keeps a session used through one node alive when read through the other', async () => {
        const a = node(createExpress, 0);
        const b = node(createExpress, 1);
        const { id, cookie } = await login(a.app);
        for (let i = 0; i < 4; i++) {
          clock.advanceSeconds(TIMEOUT - 10);
          const viaB = await state(b.app, cookie);
          expect(viaB).toMatchObject({ id, requestedIdValid: true, attributes: { user: 'ann' } });
          clock.advanceSeconds(TIMEOUT - 10);
          const viaA = await state(a.app, cookie);
          expect(viaA).toMatchObject({ id, requestedIdValid: true, attributes: { user: 'ann' } });
        }
        expect([...a.destroyed, ...b.destroyed]).toEqual([]);
      });

      it('is exact: served 1 ms before the deadline, gone at the deadline', async () => {
        const a = node(createExpress, 0);
        const b = node(createExpress, 1);
        const { cookie } = await login(a.app);
        clock.advance(TIMEOUT * 1000 - 1);
        expect((await state(b.app, cookie)).requestedIdValid).toBe(true);
        clock.advance(TIMEOUT * 1000);
        const expired = await state(a.app, cookie);
        expect(expired.hasSession).toBe(false);
        expect(expired.requestedIdValid).toBe(false);
        expect(a.destroyed.map((e) => e.reason)).toEqual(['expired']);
      });

      it('fires sessionDestroyed once, on the node that found it, and deletes every key', async () => {
        const a = node(createExpress, 0);
        const b = node(createExpress, 1);
        const t0 = clock.now();
        const { id, cookie } = await login(a.app);
        clock.advanceSeconds(TIMEOUT + 1);
        const viaB = await state(b.app, cookie);
        expect(viaB.hasSession).toBe(false);
        expect(viaB.requestedId).toBe(id);
        expect(b.destroyed).toEqual([
          expect.objectContaining({ id, app: 'default', reason: 'expired', attributes: { user: 'ann' }, creationTime: t0, lastAccessedTime: t0 }),
        ]);
        expect((await state(a.app, cookie)).hasSession).toBe(false);
        expect(a.destroyed).toEqual([]);
        expect(b.destroyed).toHaveLength(1);
        expect((await clients[0].exists(`${storePrefix()}${id}`)) + (await clients[0].exists(layout().entry(id)))).toBe(0);
        expect(await clients[0].zScore(layout().expiry(id), id)).toBeNull();
      });

      it('fires sessionDestroyed exactly once when both nodes find the same expired sessions at once', async () => {
        const a = node(createExpress, 0);
        const b = node(createExpress, 1);
        const sessions = await Promise.all(Array.from({ length: 10 }, () => login(a.app)));
        clock.advanceSeconds(TIMEOUT + 1);
        const seen = await Promise.all(
          sessions.flatMap(({ cookie }) => [state(a.app, cookie), state(b.app, cookie), state(b.app, cookie)]),
        );
        expect(seen.filter((s) => s.hasSession)).toEqual([]);
        const events = [...a.destroyed, ...b.destroyed];
        expect(events.map((e) => e.id).sort()).toEqual(sessions.map((s) => s.id).sort());
        expect(events.every((e) => e.reason === 'expired')).toBe(true);
      });

      it('fires sessionDestroyed exactly once when both nodes reap at once', async () => {
        const a = node(createExpress, 0);
        const b = node(createExpress, 1);
        const sessions = await Promise.all(Array.from({ length: 10 }, () => login(a.app)));
        clock.advanceSeconds(TIMEOUT + 1);
        const [fromA, fromB] = await Promise.all([a.manager.reap(), b.manager.reap()]);
        expect(fromA.expired + fromB.expired).toBe(10);
        const events = [...a.destroyed, ...b.destroyed];
        expect(events.map((e) => e.id).sort()).toEqual(sessions.map((s) => s.id).sort());
        expect(await zCardAll(clients[0], layout().allExpiry())).toBe(0);
        for (const { cookie } of sessions) expect((await state(b.app, cookie)).hasSession).toBe(false);
        expect([...a.destroyed, ...b.destroyed]).toHaveLength(10);
      });
    });
  });

  describe('coordinator calls', () => {
    /** Creates an entry for `key` as a request that created the session would. */
    async function createEntry(coordinator: RedisCoordinator, key: string): Promise<void> {
      const now = clock.now();
      await coordinator.leave(key, {
        now,
        timeoutMs: TIMEOUT * 1000,
        storeExpires: now + TIMEOUT * 1000 + GRACE_MS,
        entered: false,
        lastAccessedTime: now,
        request: 'creator',
      });
    }

    /** How many requests the entry of `key` counts as using it (its `r:<token>` fields). */
    async function activeOf(key: string): Promise<number> {
      const fields = await clients[0].hKeys(layout().entry(key));
      return fields.filter((field) => field.startsWith('r:')).length;
    }

    /** Two coordinators on two connections: two processes. */
    /** Two coordinators on the suite's clock, as two managers would set them up. */
    function pair(): [RedisCoordinator, RedisCoordinator] {
      return clients.map((client) => {
        const coordinator = redisCoordinator({ client, prefix: coordinatorPrefix() });
        coordinator.useClock(clock);
        return coordinator;
      }) as [RedisCoordinator, RedisCoordinator];
    }

    it('moves the deadline when the last request leaves, even when that leave knows no timeout', async () => {
      const [a, b] = pair();
      await createEntry(a, 'overlap');
      const t0 = clock.now();
      // Two requests use the session; the one that knows the timeout leaves first, at t0 + 30 s.
      await a.enter('overlap', t0 + 10_000, false, 'first');
      await b.enter('overlap', t0 + 20_000, false, 'second');
      const storeExpires = t0 + 30_000 + TIMEOUT * 1000 + GRACE_MS;
      await a.leave('overlap', { now: t0 + 30_000, timeoutMs: TIMEOUT * 1000, storeExpires, entered: true, lastAccessedTime: t0, request: 'first' });
      expect(await clients[0].zScore(layout().expiry('overlap'), 'overlap')).toBe(t0 + TIMEOUT * 1000); // still in use
      // The other leaves in the background, without a timeout (its call had failed): the first's deadline holds.
      await b.leave('overlap', { now: t0 + 31_000, timeoutMs: undefined, storeExpires: null, entered: true, lastAccessedTime: t0, request: 'second' });
      expect(await clients[0].zScore(layout().expiry('overlap'), 'overlap')).toBe(t0 + 30_000 + TIMEOUT * 1000);
      await expect(a.claim('overlap', t0 + TIMEOUT * 1000 + 1, false)).resolves.toBeUndefined();
    });

    it('keeps a session whose other request never left from being claimed at its old deadline', async () => {
      const [a, b] = pair();
      await createEntry(a, 'stranded');
      const t0 = clock.now();
      await a.enter('stranded', t0 + 10_000, false, 'lost');
      await b.enter('stranded', t0 + 20_000, false, 'served');
      const storeExpires = t0 + 20_000 + TIMEOUT * 1000 + GRACE_MS;
      await b.leave('stranded', { now: t0 + 20_000, timeoutMs: TIMEOUT * 1000, storeExpires, entered: true, lastAccessedTime: t0, request: 'served' });
      // 'lost' never leaves: once its lease runs out, the claim finds the later deadline, not the first one.
      clock.advance(a.leaseMs + 20_000);
      await expect(a.claim('stranded', t0 + TIMEOUT * 1000 + 1, false)).resolves.toBeUndefined();
      expect(await clients[0].zScore(layout().expiry('stranded'), 'stranded')).toBe(t0 + 20_000 + TIMEOUT * 1000);
    });

    it("stops counting a request whose leave was lost once its lease runs out, so the session still expires", async () => {
      const [a, b] = pair();
      await createEntry(a, 'lost');
      clock.advanceSeconds(TIMEOUT);
      await a.enter('lost', clock.now(), false, 'gone'); // its leave never comes
      await a.enter('lost', clock.now(), false, 'long'); // a long request, renewed
      clock.advance(a.leaseMs / 2);
      await a.renewLease('lost', 'long', clock.now());
      await a.renewLease('lost', 'never-entered', clock.now()); // renews nothing, creates nothing
      clock.advance(a.leaseMs / 2 + 1);
      expect(await b.inspect('lost')).toMatchObject({ active: 1 });
      expect(await b.claim('lost', clock.now(), false)).toBeUndefined();
      // The long request leaves: the stale field goes with it, and the idle clock starts.
      await a.leave('lost', { now: clock.now(), timeoutMs: TIMEOUT * 1000, storeExpires: null, entered: true, lastAccessedTime: clock.now(), request: 'long' });
      expect(await clients[0].hKeys(layout().entry('lost'))).not.toContain('r:gone');
      expect(await b.inspect('lost')).toMatchObject({ active: 0 });
      clock.advanceSeconds(TIMEOUT);
      expect(await b.claim('lost', clock.now(), false)).toMatchObject({ active: 0 });
    });

    it('counts the requests using a session from its kept count, and field by field on an entry written without it', async () => {
      const [a, b] = pair();
      await createEntry(a, 'counted');
      const key = layout().entry('counted');
      const leave = (request: string) =>
        a.leave('counted', { now: clock.now(), timeoutMs: TIMEOUT * 1000, storeExpires: null, entered: true, lastAccessedTime: clock.now(), request });
      for (const token of ['r1', 'r2', 'r3']) await a.enter('counted', clock.now(), false, token);
      await a.enter('counted', clock.now(), false, 'r3'); // the same request again (a retried call): once
      expect(await b.inspect('counted')).toMatchObject({ active: 3 });
      expect(await clients[0].hGet(key, 'rn')).toBe('3');
      await leave('r2');
      await leave('r2'); // twice: once
      expect(await b.inspect('counted')).toMatchObject({ active: 2 });
      // An entry as written before the count was kept: counted field by field, the count set again.
      await clients[0].hDel(key, ['rn', 'rmin']);
      expect(await b.inspect('counted')).toMatchObject({ active: 2 });
      expect(await clients[0].hGet(key, 'rn')).toBe('2');
      // Leases that run out are not counted, and the leaves that prune them keep the count right.
      clock.advance(a.leaseMs / 2);
      await a.enter('counted', clock.now(), false, 'r4');
      clock.advance(a.leaseMs / 2 + 1);
      expect(await b.inspect('counted')).toMatchObject({ active: 1 });
      await leave('r4');
      expect(await b.inspect('counted')).toMatchObject({ active: 0 });
      expect(await clients[0].hGet(key, 'rn')).toBe('0');
      expect((await clients[0].hKeys(key)).filter((field) => field.startsWith('r:'))).toEqual([]);
    });

    it('sends the leaves of requests that end together in one script (per shard on a cluster), each with its own answer', async () => {
      // Counts the scripts the coordinator sends (through the client, and the client with its call timeout).
      let scripts = 0;
      const counted = <T extends object>(client: T): T =>
        new Proxy(client, {
          get(target, property) {
            const value: unknown = Reflect.get(target, property, target);
            if (typeof value !== 'function') return value;
            if (property === 'evalSha' || property === 'eval') {
              return (...args: unknown[]) => {
                if (property === 'evalSha') scripts++;
                return (value as (...a: unknown[]) => unknown).apply(target, args);
              };
            }
            if (property === 'withCommandOptions') return (...args: unknown[]) => counted((value as (...a: unknown[]) => object).apply(target, args));
            return (value as (...a: unknown[]) => unknown).bind(target);
          },
        });
      const a = redisCoordinator({ client: counted(clients[0]), prefix: coordinatorPrefix() });
      a.useClock(clock);
      const [, b] = pair();
      const keys = ['together-1', 'together-2', 'together-3', 'together-4'];
      for (const key of [...keys, 'together-killed']) await createEntry(b, key);
      const t0 = clock.now();
      for (const key of keys) await b.enter(key, t0, false, `in-${key}`);
      await b.enter('together-killed', t0, false, 'first');
      await b.enter('together-killed', t0, false, 'last');
      await b.kill('together-killed');
      const storeExpires = t0 + 1000 + TIMEOUT * 1000 + GRACE_MS;
      const departure = (request: string) => ({ now: t0 + 1000, timeoutMs: TIMEOUT * 1000, storeExpires, entered: true, lastAccessedTime: t0, request });
      scripts = 0;
      const answers = await Promise.all([
        ...keys.map((key) => a.leave(key, departure(`in-${key}`))),
        a.leave('together-killed', departure('first')),
        a.leave('together-killed', departure('last')), // the last request of the killed session: it destroys it
        a.leave('together-1', departure('never-entered')), // changes nothing
      ]);
      expect(answers).toEqual([false, false, false, false, false, true, false]);
      const shards = new Set([...keys, 'together-killed'].map((key) => layout().expiry(key)));
      if (topology === 'cluster') expect(scripts).toBe(shards.size);
      else expect(scripts).toBe(1);
      for (const key of keys) {
        expect(await clients[0].zScore(layout().expiry(key), key)).toBe(t0 + 1000 + TIMEOUT * 1000);
        expect(await activeOf(key)).toBe(0);
        expect(await b.inspect(key)).toMatchObject({ active: 0, lastAccessedTime: t0 });
      }
      expect(await activeOf('together-killed')).toBe(0);
    });

    it('renews the leases of the requests running here for a third of a lease or longer, and only those', async () => {
      const [a] = pair();
      const running = new RunningRequests();
      const renewal = new LeaseRenewal(a, running, clock, () => undefined);
      const start = async (token: string): Promise<RunningRequest> => {
        const request = { token, leaseFrom: clock.now(), sessionKilled: () => undefined };
        await a.enter('renewed', clock.now(), false, token);
        running.add('renewed', request);
        return request;
      };
      await createEntry(a, 'renewed');
      const t0 = clock.now();
      const long = await start('long');
      clock.advance(a.leaseMs / 6);
      const short = await start('short');
      const ended = await start('ended');
      running.delete('renewed', ended);
      clock.advance(a.leaseMs / 6);
      await renewal.renew();
      const lease = (token: string) => clients[0].hGet(layout().entry('renewed'), `r:${token}`);
      expect({ long: await lease('long'), short: await lease('short'), ended: await lease('ended') }).toEqual({
        long: String(t0 + a.leaseMs / 3 + a.leaseMs),
        short: String(t0 + a.leaseMs / 6 + a.leaseMs),
        ended: String(t0 + a.leaseMs / 6 + a.leaseMs),
      });
      expect({ long: long.leaseFrom, short: short.leaseFrom }).toEqual({ long: t0 + a.leaseMs / 3, short: t0 + a.leaseMs / 6 });
    });

    it('counts a request whose lease ran out as gone for a kill too: the session is destroyed at once', async () => {
      const [a, b] = pair();
      await createEntry(a, 'killed-lost');
      await a.enter('killed-lost', clock.now(), false, 'gone');
      expect(await b.kill('killed-lost')).toMatchObject({ active: 1 });
      await createEntry(a, 'killed-late');
      await a.enter('killed-late', clock.now(), false, 'gone');
      clock.advance(a.leaseMs + 1);
      expect(await b.kill('killed-late')).toMatchObject({ active: 0 });
    });

    it('resolves remove() true for exactly one of two concurrent callers', async () => {
      const [a, b] = pair();
      const keys = Array.from({ length: 20 }, (_, i) => `remove-${i}`);
      for (const key of keys) await createEntry(a, key);
      for (const key of keys) {
        const results = await Promise.all([a.remove(key), b.remove(key)]);
        expect(results.filter(Boolean)).toHaveLength(1);
      }
      expect(await zCardAll(clients[0], layout().allExpiry())).toBe(0);
      expect(await a.remove('remove-0')).toBe(false);
    });

    it('grants claim() to exactly one of two concurrent callers, and only once due', async () => {
      const [a, b] = pair();
      await createEntry(a, 'claimed');
      expect(await a.claim('claimed', clock.now(), false)).toBeUndefined();
      clock.advanceSeconds(TIMEOUT);
      const results = await Promise.all([a.claim('claimed', clock.now(), false), b.claim('claimed', clock.now(), false)]);
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      expect(await clients[0].hGet(layout().entry('claimed'), 'claimed')).toBe('1');
      expect((await a.enter('claimed', clock.now(), false, 'r1'))?.claimed).toBe(true);
    });

    it("answers enter() with the entry as it was, and counts the request as active", async () => {
      const [a, b] = pair();
      const t0 = clock.now();
      await createEntry(a, 'entered');
      clock.advanceSeconds(5);
      const before = await b.enter('entered', clock.now(), false, 'r1');
      expect(before).toEqual({
        lastAccessedTime: t0,
        deadline: t0 + TIMEOUT * 1000,
        storeExpires: t0 + TIMEOUT * 1000 + GRACE_MS,
        active: 0,
        claimed: false,
        killed: false,
        version: 0,
      });
      expect(await activeOf('entered')).toBe(1);
      expect(await a.enter('unknown', clock.now(), false, 'r2')).toBeUndefined();
      expect(await clients[0].exists(layout().entry('unknown'))).toBe(0);
    });

    it('does not count a strict enter() that finds the session idle past its deadline, so its claim can win', async () => {
      const [a, b] = pair();
      const t0 = clock.now();
      await createEntry(a, 'due');
      clock.advanceSeconds(TIMEOUT);
      const seen = await Promise.all([a.enter('due', clock.now(), true, 'r1'), b.enter('due', clock.now(), true, 'r2')]);
      expect(seen.map((entry) => entry?.active)).toEqual([0, 0]);
      const entry = await clients[0].hGetAll(layout().entry('due'));
      expect(entry).toMatchObject({ accessed: String(t0) });
      expect(await activeOf('due')).toBe(0);
      const claims = await Promise.all([a.claim('due', clock.now(), true), b.claim('due', clock.now(), true)]);
      expect(claims.filter((claim) => claim !== undefined)).toHaveLength(1);
    });

    it('counts a non-strict enter() of a session past its deadline (served until the reaper runs)', async () => {
      const [a] = pair();
      await createEntry(a, 'lenient');
      clock.advanceSeconds(TIMEOUT);
      await a.enter('lenient', clock.now(), false, 'r1');
      expect(await activeOf('lenient')).toBe(1);
      expect(await a.claim('lenient', clock.now(), false)).toBeUndefined();
    });
  });

  describe('key layout', () => {
    const createExpress = EXPRESS_FLAVOURS[1][1];

    it('keeps the documented hash under PsK, expiring by itself at its store time', async () => {
      const a = node(createExpress, 0);
      const t0 = clock.now();
      const { id } = await login(a.app);
      const key = layout().entry(id);
      expect(await clients[0].type(key)).toBe('hash');
      const entry = await clients[0].hGetAll(key);
      // Colocated with connect-redis on the same client: `ver` counts the writes of its record, `by` names the last.
      // Not on a cluster, where the record's key has no hash tag (connect-redis runs its own commands).
      const colocated = topology !== 'cluster';
      expect(Object.keys(entry).sort()).toEqual(['accessed', ...(colocated ? ['by'] : []), 'deadline', 'rn', 'store', ...(colocated ? ['ver'] : [])]);
      expect(entry).toEqual({
        accessed: String(t0),
        deadline: String(t0 + TIMEOUT * 1000),
        rn: '0',
        store: String(t0 + TIMEOUT * 1000 + GRACE_MS),
        ...(colocated ? { ver: '1', by: expect.stringMatching(/^[\w-]{9,}$/) } : {}),
      });
      expect(await clients[0].pExpireTime(key)).toBe(t0 + TIMEOUT * 1000 + GRACE_MS);
    });

    it('indexes the session in the Pexpiry sorted set with its deadline as score', async () => {
      const a = node(createExpress, 0);
      const t0 = clock.now();
      const { id } = await login(a.app);
      const index = layout().expiry(id);
      expect(index).toMatch(/^.*\{[^}]+\}expiry$/); // the shard's index shares the session's hash tag
      expect(layout().entry(id).startsWith(index.slice(0, -'expiry'.length))).toBe(true);
      expect(await clients[0].type(index)).toBe('zset');
      expect(await clients[0].zScore(index, id)).toBe(t0 + TIMEOUT * 1000);
      clock.advanceSeconds(20);
      await state(a.app, `JSESSIONID=${id}`);
      // A read leaves the coordinator just after its response.
      await eventually(async () => expect(await clients[0].zScore(index, id)).toBe(t0 + 20_000 + TIMEOUT * 1000));
      expect(await clients[0].hGet(layout().entry(id), 'accessed')).toBe(String(t0 + 20_000));
    });

    it('uses <id>:<app> as the session key of an app other than the default', async () => {
      const shop = node(createExpress, 0, { app: 'shop' });
      const t0 = clock.now();
      const { id } = await login(shop.app);
      expect(await clients[0].exists(layout().entry(`${id}:shop`))).toBe(1);
      expect(await clients[0].exists(layout().entry(id))).toBe(0);
      expect(await clients[0].zScore(layout().expiry(`${id}:shop`), `${id}:shop`)).toBe(t0 + TIMEOUT * 1000);
      expect(await clients[0].exists(`${storePrefix()}${id}:shop`)).toBe(1);
    });

    it('keeps never-expiring sessions out of the index, with deadline -1', async () => {
      const forever = node(createExpress, 0, { maxInactiveInterval: -1 });
      const { id } = await login(forever.app);
      expect(await clients[0].hGet(layout().entry(id), 'deadline')).toBe('-1');
      expect(await clients[0].zScore(layout().expiry(id), id)).toBeNull();
    });

    it('writes nothing outside the coordinator and store prefixes', async () => {
      const a = node(createExpress, 0);
      const { id } = await login(a.app);
      const keys = await scanKeys(clients[0], `${prefix}*`);
      expect(keys).toEqual([layout().expiry(id), layout().sessions(id), layout().entry(id), `${storePrefix()}${id}`].sort());
    });
  });

  describe('kill, keys and keysOf', () => {
    /** When the store's copy expires: in the future, as Redis expires the hash at that time. */
    const storeExpires = Date.now() + 200_000;
    const create = (c: RedisCoordinator, key: string, principal?: string) =>
      c.leave(key, { now: 1000, timeoutMs: 60_000, storeExpires, entered: false, lastAccessedTime: 1000, principal, request: 'creator' });
    const leave = (c: RedisCoordinator, key: string, request: string) =>
      c.leave(key, { now: 3000, timeoutMs: 60_000, storeExpires, entered: true, lastAccessedTime: 2000, request });

    it('marks a killed entry, drops its lock and index member, tells every listening coordinator, and answers the last leaver', async () => {
      const [a, b] = clients.map((client) => redisCoordinator({ client, prefix: coordinatorPrefix() }));
      for (const coordinator of [a, b]) coordinator.useClock({ now: () => 3000 }); // the times below
      const heard: string[] = [];
      const subscription = b.onKill((key) => heard.push(key));
      await subscription.ready;
      try {
        await create(a, 'k');
        await a.enter('k', 2000, true, 'r1');
        await a.enter('k', 2000, true, 'r2');
        await a.acquireLock('k', 'token', 10_000);
        await expect(a.kill('k')).resolves.toMatchObject({ active: 2, claimed: false, killed: false });
        await expect(a.inspect('k')).resolves.toMatchObject({ claimed: true, killed: true, active: 2 });
        expect(await clients[0].exists(layout().lock('k'))).toBe(0);
        expect(await clients[0].zScore(layout().expiry('k'), 'k')).toBeNull();
        // The mark outlives the store's copy by 10 s.
        expect(await clients[0].pExpireTime(layout().entry('k'))).toBe(storeExpires + 10_000);
        for (let i = 0; i < 50 && heard.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
        expect(heard).toEqual(['k']);
        await expect(b.kill('k')).resolves.toMatchObject({ claimed: true, killed: true });
        await expect(leave(a, 'k', 'r1')).resolves.toBe(false);
        await expect(leave(b, 'k', 'r2')).resolves.toBe(true);
        await expect(leave(b, 'k', 'r2')).resolves.toBe(false);
        await expect(a.kill('unknown')).resolves.toBeUndefined();
      } finally {
        await subscription.close();
      }
    });

    it('pages through keys of every shard in key order, each once, and counts them all', async () => {
      const c = redisCoordinator({ client: clients[0], prefix: coordinatorPrefix() });
      const all = Array.from({ length: 120 }, (_, i) => `k${String(i).padStart(3, '0')}`);
      for (const key of all) await create(c, key);
      const seen: string[] = [];
      for (let page = await c.keys(null, 7); page.length > 0; page = await c.keys(page[page.length - 1], 7)) seen.push(...page);
      expect(seen).toEqual(all);
      await expect(c.count()).resolves.toBe(120);
    });

    it('hands the reaper due keys of every shard in one batch', async () => {
      const c = redisCoordinator({ client: clients[0], prefix: coordinatorPrefix() });
      const all = Array.from({ length: 64 }, (_, i) => `d${i}`);
      for (const key of all) await create(c, key);
      const batch = await c.due(Number.MAX_SAFE_INTEGER, 16);
      expect(batch).toHaveLength(16);
      expect(new Set(batch.map((key) => redisLayout(coordinatorPrefix()).expiry(key))).size).toBeGreaterThan(8);
      expect((await c.due(Number.MAX_SAFE_INTEGER, 1000)).sort()).toEqual([...all].sort());
    });

    it('pages through top-level keys in order and indexes users, forgetting removed sessions', async () => {
      const c = redisCoordinator({ client: clients[0], prefix: coordinatorPrefix() });
      for (const key of ['c', 'a', 'b#sub', 'b', 'd:shop']) await create(c, key);
      await expect(c.keys(null, 2)).resolves.toEqual(['a', 'b']);
      await expect(c.keys('b', 10)).resolves.toEqual(['c', 'd:shop']);
      await expect(c.count()).resolves.toBe(4);
      await c.remove('c');
      await expect(c.keys('b', 10)).resolves.toEqual(['d:shop']);
      await expect(c.count()).resolves.toBe(3);
      await create(c, 'a', 'ann');
      await create(c, 'd:shop', 'ann');
      await expect(c.keysOf('ann')).resolves.toEqual(['a', 'd:shop']);
      expect(await clients[0].pExpireTime(layout().principal('a', 'ann'))).toBe(storeExpires);
      await create(c, 'a', 'bob'); // bound again: moves
      await expect(c.keysOf('ann')).resolves.toEqual(['d:shop']);
      await c.remove('d:shop');
      await expect(c.keysOf('ann')).resolves.toEqual([]);
      await expect(c.keysOf('bob')).resolves.toEqual(['a']);
    });
  });
});
