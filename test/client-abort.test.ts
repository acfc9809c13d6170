/**
 * Clients that go away (issue 10, item 2; docs/architecture.md, "Faults"): a request
 * whose client disconnects — while it waits for the store, while it waits
 * for its turn (serial access), in the handler, or while its changes are
 * being stored — holds nothing afterwards: no serial-access slot, no Redis
 * lock, no timer, and the next request of that session is served at once.
 * In one process on the in-process store (MemoryStore) and on Redis
 * (connect-redis + `redisCoordinator`), and across two processes on Redis.
 */
import { resolve } from 'node:path';
import { startLocalFaultNode, startRedisFaultNode, type FaultNode } from './support/fault-node';
import { Cluster } from './support/reaper-cluster';
import { createRedisClient, deleteRedisKeys, describeRedis, redisAvailable, uniquePrefix, type TestRedisClient } from './support/services';
import { breakableStore, type StoreBreaker } from './support/store-breaker';
import { eventually } from './support/test-app';
import { call, delay, start, within, type AbandonableCall, type Answer } from './support/timed-call';
import { realProcess, watchUnhandledRejections, type RejectionWatch } from './support/unhandled-rejections';

const FAULT_WORKER = resolve(__dirname, 'support', 'fault-worker.ts');
/** "At once": what the next request of the session may take, ms (it takes a few ms when nothing is held). */
const AT_ONCE_MS = 1_000;
/** serialAccess.maxWaitTime here, seconds: far above AT_ONCE_MS, so a leaked slot shows as a wait. */
const MAX_WAIT_S = 5;
/** storeTimeout here, seconds: a store call the aborted request kept waiting for would show as a wait. */
const STORE_TIMEOUT_S = 5;
/** How long the holding request holds the session, ms. */
const HOLD_MS = 800;
/** When the waiting clients give up, ms after they sent their request. */
const ABANDON_AFTER_MS = 200;

/** Active timers of this process (compare before and after). */
function activeTimers(): number {
  return realProcess()
    .getActiveResourcesInfo()
    .filter((kind) => kind === 'Timeout').length;
}

/** Where a backend keeps a session's cross-process lock, if it has one. */
interface Backend {
  name: string;
  start(): Promise<{ node: FaultNode; lockKey?: (id: string) => string; cleanUp(): Promise<void> }>;
}

const BACKENDS: Backend[] = [
  {
    name: 'in one process (MemoryStore)',
    start: async () => {
      const node = await startLocalFaultNode({ serialAccess: { maxWaitTime: MAX_WAIT_S }, storeTimeout: STORE_TIMEOUT_S });
      return { node, cleanUp: async () => undefined };
    },
  },
  {
    name: 'in one process on Redis (connect-redis + redisCoordinator)',
    start: async () => {
      const prefix = uniquePrefix('client-abort');
      const node = await startRedisFaultNode(process.env.REDIS_URL!, prefix, {
        manager: { serialAccess: { maxWaitTime: MAX_WAIT_S }, storeTimeout: STORE_TIMEOUT_S },
      });
      const inspector = await createRedisClient();
      return {
        node,
        lockKey: (id) => `${prefix}esm:lock:${id}`,
        cleanUp: async () => {
          await deleteRedisKeys(inspector, prefix);
          await inspector.close();
        },
      };
    },
  },
];

/** `POST /session` on `port`: the new session's id. */
async function createSession(port: number): Promise<string> {
  const answer = await call(port, 'POST', '/session?n=1');
  expect(answer.status).toBe(200);
  return (answer.body as { id: string }).id;
}

/** Starts `count` requests and abandons each `ABANDON_AFTER_MS` later; resolves once all are abandoned. */
async function abandoned(count: number, begin: () => AbandonableCall): Promise<Answer[]> {
  const calls = Array.from({ length: count }, begin);
  await delay(ABANDON_AFTER_MS);
  for (const c of calls) c.abandon();
  return Promise.all(calls.map((c) => c.answer));
}

describe.each(BACKENDS.map((backend) => [backend.name, backend] as const))('a client that goes away, %s', (_name, backend: Backend) => {
  const describeOrSkip = backend.name.includes('Redis') && !redisAvailable() ? describe.skip : describe;

  describeOrSkip('with serial access on', () => {
    let node: FaultNode;
    let breaker: StoreBreaker;
    let lockKey: ((id: string) => string) | undefined;
    let cleanUp: () => Promise<void>;
    let inspector: TestRedisClient | undefined;
    let rejections: RejectionWatch;
    let timersBefore = 0;

    beforeAll(async () => {
      rejections = watchUnhandledRejections();
      ({ node, lockKey, cleanUp } = await backend.start());
      breaker = breakableStore(node.manager.store);
      if (lockKey) inspector = await createRedisClient();
    });

    beforeEach(() => {
      timersBefore = activeTimers();
    });

    afterEach(async () => {
      breaker.repair();
      // No timer left behind by the abandoned requests (the manager's own were there before).
      await eventually(() => expect(activeTimers()).toBeLessThanOrEqual(timersBefore), 3_000);
    });

    afterAll(async () => {
      const closeMs = await node.close();
      expect(closeMs).toBeLessThan(AT_ONCE_MS);
      await inspector?.close();
      await cleanUp();
      rejections.stop();
      expect(rejections.reasons).toEqual([]);
    });

    /** The next request of the session: answered 200 at once, with the session live, and no lock left. */
    async function servedAtOnce(id: string): Promise<void> {
      const next = await call(node.port, 'GET', '/session', { id, timeoutMs: (MAX_WAIT_S + 2) * 1000 });
      expect({ status: next.status, live: (next.body as { live?: boolean }).live, answered: within(next, AT_ONCE_MS) }).toEqual({
        status: 200,
        live: true,
        answered: 'in time',
      });
    }

    /** The session's Redis lock is gone (after the last request released it). */
    async function noLock(id: string): Promise<void> {
      if (!lockKey) return;
      await eventually(async () => expect(await inspector!.exists(lockKey!(id))).toBe(0));
    }

    it('holds nothing when the client leaves while the request waits for the store', async () => {
      const id = await createSession(node.port);
      breaker.break('hang', ['get']);
      await abandoned(1, () => start(node.port, 'GET', '/session', { id }));
      breaker.repair();
      await servedAtOnce(id);
      await noLock(id);
    });

    it('holds nothing when the client leaves while the request waits for its turn', async () => {
      const id = await createSession(node.port);
      const holder = start(node.port, 'POST', `/hold?ms=${HOLD_MS}`, { id });
      await delay(50);
      // Were it to run anyway, it would hold the session 3 s (its handler cannot tell its client left).
      await abandoned(1, () => start(node.port, 'POST', '/hold?ms=3000&v=2', { id }));
      expect((await holder.answer).status).toBe(200);
      await servedAtOnce(id);
      await noLock(id);
    });

    it('holds nothing when the client leaves while the handler runs', async () => {
      const id = await createSession(node.port);
      await abandoned(1, () => start(node.port, 'POST', '/hold?ms=3000&v=3', { id }));
      await servedAtOnce(id);
      await noLock(id);
    });

    it('holds nothing once the commit is done when the client leaves while the changes are stored', async () => {
      const id = await createSession(node.port);
      breaker.slow(400, ['set']);
      const abandonedAt = performance.now();
      await abandoned(1, () => start(node.port, 'POST', '/write?v=4', { id }));
      breaker.repair();
      await servedAtOnce(id);
      expect(performance.now() - abandonedAt).toBeLessThan(AT_ONCE_MS);
      await noLock(id);
    });

    it('serves the next request at once after a holder when 20 requests queued behind it were abandoned', async () => {
      const id = await createSession(node.port);
      const holder = start(node.port, 'POST', `/hold?ms=${HOLD_MS}`, { id });
      await delay(50);
      await abandoned(20, () => start(node.port, 'POST', `/hold?ms=${HOLD_MS}&v=5`, { id }));
      expect((await holder.answer).status).toBe(200);
      await servedAtOnce(id);
      await noLock(id);
    }, 15_000);
  });
});

describeRedis('a client that goes away, across two processes on Redis (connect-redis + redisCoordinator)', () => {
  let cluster: Cluster;
  let client: TestRedisClient;
  let prefix = '';

  beforeAll(async () => {
    prefix = uniquePrefix('client-abort-cluster');
    client = await createRedisClient();
    cluster = new Cluster();
    await cluster.start(2, { redisUrl: process.env.REDIS_URL!, prefix, script: FAULT_WORKER, env: { ESM_FAULT_SERIAL: '1' } });
  }, 30_000);

  afterAll(async () => {
    await cluster?.stop(3_000);
    await deleteRedisKeys(client, prefix);
    await client.close();
  });

  it('serves the next request at once after a holder when 20 requests queued behind it in both processes were abandoned', async () => {
    const [a, b] = cluster.workers;
    const id = await createSession(a.port);
    const holder = start(a.port, 'POST', `/hold?ms=${HOLD_MS}`, { id });
    await delay(50);
    // Ten wait in the holder's process (its queue), ten in the other (polling the Redis lock).
    await abandoned(20, (() => {
      let i = 0;
      return () => start((i++ % 2 ? a : b).port, 'POST', `/hold?ms=${HOLD_MS}&v=5`, { id });
    })());
    expect((await holder.answer).status).toBe(200);
    for (const worker of [b, a]) {
      const next = await call(worker.port, 'GET', '/session', { id, timeoutMs: (MAX_WAIT_S + 2) * 1000 });
      expect({ worker: worker.name, status: next.status, answered: within(next, AT_ONCE_MS) }).toEqual({ worker: worker.name, status: 200, answered: 'in time' });
    }
    await eventually(async () => expect(await client.exists(`${prefix}esm:lock:${id}`)).toBe(0));
  }, 20_000);
});
