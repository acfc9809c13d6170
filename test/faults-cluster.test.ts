/**
 * Redis faults across two processes (issue 10; docs/architecture.md, "Faults"):
 * two Node processes (fault-worker.ts) serve one set of sessions from
 * connect-redis + `redisCoordinator` on a private redis-server of this
 * file's own, with `storeTimeout` 1 s, a background reaper each (every
 * second) and node-redis clients left at their defaults; serial access is
 * on for the process faults (so that they also catch the Redis lock) and
 * off, the default, for the network faults. Each outage must turn requests
 * that need a session into 503s within `storeTimeout` + 0.5 s in both
 * processes, leave stateless routes and requests without a session id
 * alone, and, once over, leave the
 * sessions served again by both, both reapers running, and the sessions that
 * fell due meanwhile (requested during it, and failed) destroyed exactly once
 * across the two. With 50 ms of latency on every reply, everything works
 * across the processes, only slower.
 */
import { resolve } from 'node:path';
import { OUTAGES, describeFaults, startFaultRig, type FaultRig, type Outage } from './support/fault-rig';
import { DUE_TTL_S, GIVE_UP_MS, JUMP_MS, LONG_TTL_S, RECOVER_WITHIN_MS, SETTLE_MS, timely } from './support/fault-times';
import type { FaultProbe } from './support/fault-worker';
import { Cluster, type Worker } from './support/reaper-cluster';
import { uniquePrefix } from './support/services';
import { eventually } from './support/test-app';
import { call, delay, } from './support/timed-call';

const FAULT_WORKER = resolve(__dirname, 'support', 'fault-worker.ts');
/**
 * Serial access of the workers: on for those that reach Redis directly (the
 * process faults then also bound the Redis lock), off (the default) for those
 * behind the proxy (the network faults then reach the coordinator's `enter`).
 */
const SERIAL_ACCESS: Record<Outage['via'], boolean> = { direct: true, proxy: false };
/** How long four workers may take to start (tsx compiles each; slow on a loaded 2-core machine). */
const STARTUP_MS = 60_000;

/** `POST /session` on a worker: the new session's id. */
async function createSession(worker: Worker, n: number, ttl?: number): Promise<string> {
  const answer = await call(worker.port, 'POST', ttl === undefined ? `/session?n=${n}` : `/session?n=${n}&ttl=${ttl}`);
  expect(answer.status).toBe(200);
  return (answer.body as { id: string }).id;
}

/** Moves every worker's clock forward by `ms`. */
async function advanceClocks(cluster: Cluster, ms: number): Promise<void> {
  const answers = await Promise.all(cluster.workers.map((worker) => call(worker.port, 'POST', `/clock?advance=${ms}`)));
  expect(answers.map((answer) => answer.status)).toEqual(cluster.workers.map(() => 204));
}

/** `GET /probe` of a worker. */
async function probe(worker: Worker): Promise<FaultProbe> {
  const answer = await call(worker.port, 'GET', '/probe');
  expect(answer.status).toBe(200);
  return answer.body as FaultProbe;
}

describeFaults('Redis faults, across two processes (connect-redis + redisCoordinator, storeTimeout 1 s)', () => {
  let rig: FaultRig;
  /** Workers connected straight to the server (process faults) and through the proxy (network faults). */
  const clusters: Record<Outage['via'], Cluster> = { direct: new Cluster(), proxy: new Cluster() };

  beforeAll(async () => {
    rig = await startFaultRig();
    await Promise.all(
      (['direct', 'proxy'] as const).map((via) =>
        clusters[via].start(
          2,
          {
            redisUrl: rig.urlFor(via),
            prefix: uniquePrefix(`faults-cluster-${via}`),
            script: FAULT_WORKER,
            timeout: LONG_TTL_S,
            reaperInterval: 1,
            env: { ESM_FAULT_SERIAL: SERIAL_ACCESS[via] ? '1' : '0' },
          },
          STARTUP_MS,
        ),
      ),
    );
  }, STARTUP_MS + 10_000);

  afterAll(async () => {
    await Promise.all(Object.values(clusters).map((cluster) => cluster.stop(3_000)));
    await rig?.stop();
  });

  /** Every sessionDestroyed of these sessions, in both processes, as `{ id, reason }`, sorted by id. */
  function destroyedOf(cluster: Cluster, ids: string[]): { id: string; reason: string }[] {
    return cluster.destroyed
      .filter((d) => ids.includes(d.id))
      .map(({ id, reason }) => ({ id, reason }))
      .sort((a, b) => byId(a, b));
  }

  describe.each(OUTAGES.map((outage) => [outage.name, outage] as const))('%s', (_name, outage: Outage) => {
    let cluster: Cluster;
    let kept: string[] = [];
    let due: string[] = [];
    /** Whether the outage is on now (begun and not yet ended). */
    let on = false;

    beforeAll(async () => {
      cluster = clusters[outage.via];
      const [a, b] = cluster.workers;
      kept = await Promise.all([1, 2, 3, 4].map((n) => createSession(n % 2 ? a : b, n)));
      due = await Promise.all([5, 6, 7, 8].map((n) => createSession(n % 2 ? a : b, n, DUE_TTL_S)));
      await outage.begin(rig);
      on = true;
    });

    afterAll(async () => {
      if (on) await outage.end(rig);
    });

    it('answers 503 within storeTimeout + 0.5 s in both processes to reads and writes of existing sessions', async () => {
      const [a, b] = cluster.workers;
      const answers = await Promise.all([
        ...kept.map((id, i) => call((i % 2 ? a : b).port, 'GET', '/session', { id, timeoutMs: GIVE_UP_MS })),
        ...kept.map((id, i) => call((i % 2 ? b : a).port, 'POST', `/write?v=${i}`, { id, timeoutMs: GIVE_UP_MS })),
        ...due.map((id, i) => call((i % 2 ? a : b).port, 'GET', '/session', { id, timeoutMs: GIVE_UP_MS })),
      ]);
      expect(answers.map(timely)).toEqual(answers.map(() => ({ status: 503, answered: 'in time' })));
    });

    it('answers 200 in both processes on stateless routes and to requests that carry no session id', async () => {
      const answers = await Promise.all(
        cluster.workers.flatMap((worker) => [
          call(worker.port, 'GET', '/stateless', { id: kept[0], timeoutMs: GIVE_UP_MS }),
          call(worker.port, 'GET', '/session', { timeoutMs: GIVE_UP_MS }),
        ]),
      );
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    });

    it('serves the sessions again in both processes once Redis is back, and the sessions that fell due are destroyed exactly once across the two', async () => {
      // The short sessions fall due during the outage (they were requested before, and failed).
      await advanceClocks(cluster, JUMP_MS);
      const runsAtEnd = await Promise.all(cluster.workers.map(async (w) => (await probe(w)).stats.reaper.runs));
      await outage.end(rig);
      on = false;
      // 1. Every session from before, read in the process that did not create it, with its data.
      const [a, b] = cluster.workers;
      await eventually(async () => {
        const answers = await Promise.all(kept.map((id, i) => call((i % 2 ? a : b).port, 'GET', '/session', { id, timeoutMs: GIVE_UP_MS })));
        expect(answers.map((x) => [x.status, (x.body as { n?: number }).n])).toEqual(kept.map((_, i) => [200, i + 1]));
      }, RECOVER_WITHIN_MS);
      // 2. Both reapers sweep again (each at least twice since the end).
      await eventually(async () => {
        const runs = await Promise.all(cluster.workers.map(async (w) => (await probe(w)).stats.reaper.runs));
        expect(runs.map((r, i) => r >= runsAtEnd[i] + 2)).toEqual([true, true]);
      }, RECOVER_WITHIN_MS);
      // 3. The sessions that fell due: destroyed, once in total, as expired; none of the others.
      await eventually(() => expect(destroyedOf(cluster, due)).toHaveLength(due.length), RECOVER_WITHIN_MS);
      await delay(SETTLE_MS);
      expect(destroyedOf(cluster, due)).toEqual([...due].sort(compare).map((id) => ({ id, reason: 'expired' })));
      expect(destroyedOf(cluster, kept)).toEqual([]);
    }, 30_000);
  });

  describe('50 ms of latency on every reply', () => {
    beforeAll(() => rig.proxy.latency(50, 'reply'));
    afterAll(() => rig.proxy.latency(0));

    it('reads, writes, merges concurrent changes, invalidates and reaps across the processes as without it', async () => {
      const cluster = clusters.proxy;
      const [a, b] = cluster.workers;
      const id = await createSession(a, 7);
      const write = await call(b.port, 'POST', '/write?v=8', { id });
      expect([write.status, write.body]).toEqual([200, { id, v: 8 }]);
      const read = await call(a.port, 'GET', '/session', { id });
      expect([read.status, read.body]).toEqual([200, { live: true, id, n: 7, v: 8 }]);
      // Concurrent changes of different attributes, alternating between the processes, are all kept
      // (each commit merges onto the record as it is, under the Redis commit lock).
      const sets = await Promise.all(Array.from({ length: 8 }, (_, i) => call((i % 2 ? a : b).port, 'POST', `/set?name=a${i}&value=${i}`, { id })));
      expect(sets.map((x) => x.status)).toEqual(Array(8).fill(204));
      const attributes = await call(b.port, 'GET', '/attributes', { id });
      expect(attributes.body).toEqual({ n: 7, v: 8, a0: '0', a1: '1', a2: '2', a3: '3', a4: '4', a5: '5', a6: '6', a7: '7' });
      // Invalidated in one process: gone in the other, announced once.
      expect((await call(b.port, 'POST', '/invalidate', { id })).status).toBe(204);
      expect((await call(a.port, 'GET', '/session', { id })).body).toMatchObject({ live: false });
      // A short session is reaped, once across the two.
      const short = await createSession(b, 9, 1);
      await eventually(() => expect(destroyedOf(cluster, [short])).toHaveLength(1), 8_000);
      await delay(SETTLE_MS);
      expect(destroyedOf(cluster, [id, short])).toEqual(
        [
          { id, reason: 'invalidated' },
          { id: short, reason: 'expired' },
        ].sort((x, y) => byId(x, y)),
      );
    }, 30_000);
  });
});

/** Orders by `id`, as `compare` orders strings. */
function byId(a: { id: string }, b: { id: string }): number {
  return compare(a.id, b.id);
}

/** Orders strings by code unit, as `Array.prototype.sort()` does by default. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
