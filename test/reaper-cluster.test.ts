/**
 * Exactly once across processes: three Node processes share the run's
 * Redis — one server, the cluster, the Sentinel setup (connect-redis +
 * redisCoordinator on the same client) — each with its own
 * background reaper, in real time. 300 sessions are created through HTTP
 * over the three; 30 are kept alive by requests spread over the processes
 * while the rest expire; then the keep-alive stops and those expire too.
 * Meanwhile the parent also makes the three sweep at the same instant, again
 * and again, so that they contend for the same sessions.
 * Every session's sessionDestroyed must fire exactly once in total, none may
 * be lost, and none may fire for a session while it is being kept alive.
 */
import { redisLayout, zCardAll } from './support/redis-layout';
import { Cluster, eachLimited, waitFor, type Worker } from './support/reaper-cluster';
import type { WorkerView } from './support/reaper-cluster-worker';
import { closeTopologyClient, connectTopology, deleteKeys, describeTopologies, scanKeys, type TopologyClient } from './support/redis-topology';
import { uniquePrefix } from './support/services';

const WORKERS = 3;
const SESSIONS = 300;
const KEPT_ALIVE = 30;
/** invalidationTimeout and reaperInterval of every worker, seconds. */
const TIMEOUT_S = 2;
const REAPER_INTERVAL_S = 1;
/** How often each kept session is requested (well under the timeout). */
const KEEP_ALIVE_EVERY_MS = 250;
/** How long the keep-alive runs at least, counted from the end of creation. */
const KEEP_ALIVE_MS = 5_000;
/** How long the expired sessions may take to be reaped: timeout + interval + a sweep, with slack. */
const REAP_WITHIN_MS = (TIMEOUT_S + 2 * REAPER_INTERVAL_S) * 1000 + 3_000;

describeTopologies('the reaper across processes', (topology) => {
  let cluster: Cluster | undefined;
  let client: TopologyClient | undefined;
  let prefix = '';

  afterEach(async () => {
    cluster?.kill();
    cluster = undefined;
    if (client) {
      await deleteKeys(client, prefix);
      await closeTopologyClient(client);
      client = undefined;
    }
  });

  it('fires sessionDestroyed exactly once per expired session, loses none, and spares sessions kept alive', async () => {
    prefix = uniquePrefix('reaper-cluster');
    client = await connectTopology(topology);
    cluster = new Cluster();
    const c = cluster;
    await c.start(WORKERS, { redisUrl: process.env.REDIS_URL!, topology, prefix, timeout: TIMEOUT_S, reaperInterval: REAPER_INTERVAL_S });

    // 1. 300 sessions through HTTP, spread round-robin over the processes.
    const sessions: { n: number; id: string; createdOn: Worker }[] = [];
    await eachLimited(
      Array.from({ length: SESSIONS }, (_, n) => n),
      24,
      async (n) => {
        const worker = c.workers[n % WORKERS];
        const view = await c.create(worker, n);
        expect(view).toMatchObject({ live: true, n });
        sessions.push({ n, id: view.id!, createdOn: worker });
      },
    );
    sessions.sort((a, b) => a.n - b.n);
    expect(new Set(sessions.map((s) => s.id)).size).toBe(SESSIONS);
    const createdBy = Date.now();

    // 2. Keep 30 alive with requests that rotate over the processes (rarely the one that created them).
    const kept = sessions.filter((s) => s.n % (SESSIONS / KEPT_ALIVE) === 0);
    const keptIds = new Set(kept.map((s) => s.id));
    const lastSent = new Map<string, number>();
    const wrongAnswers: string[] = [];
    let keepingAlive = true;
    let rounds = 0;
    const keepAlive = (async () => {
      while (keepingAlive) {
        const round = rounds++;
        const started = Date.now();
        await Promise.all(
          kept.map(async (s, index) => {
            const worker = c.workers[(index + round + 1) % WORKERS];
            lastSent.set(s.id, Date.now());
            const view: WorkerView = await c.read(worker, s.id);
            if (!view.live || view.id !== s.id || view.n !== s.n) {
              wrongAnswers.push(`round ${round}: session ${s.n} on ${worker.name} answered ${JSON.stringify(view)}`);
            }
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, KEEP_ALIVE_EVERY_MS - (Date.now() - started))));
      }
    })();

    // 3. The other 270 expire under the processes' reapers, while the 30 are kept alive. Besides
    //    each process's own timer, the parent makes all three sweep at the same instant every
    //    300 ms, so that claims on the same sessions really are contested.
    let contesting = true;
    const sweptTogether: number[][] = [];
    const contest = (async () => {
      while (contesting) {
        sweptTogether.push(await c.reapAll());
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    })();
    const expiring = SESSIONS - KEPT_ALIVE;
    const othersReaped = await waitFor(REAP_WITHIN_MS, () => c.destroyed.filter((d) => !keptIds.has(d.id)).length >= expiring);
    await waitFor(Math.max(0, createdBy + KEEP_ALIVE_MS - Date.now()), () => false);
    keepingAlive = false;
    await keepAlive;
    const keepAliveStopped = Date.now();
    const firedWhileKept = c.destroyed.filter((d) => keptIds.has(d.id));

    // 4. Without requests, the kept sessions expire too.
    const allReaped = await waitFor(REAP_WITHIN_MS, () => c.destroyed.length >= SESSIONS);
    // A little longer, so that a duplicate from a slower process would arrive.
    await new Promise((resolve) => setTimeout(resolve, 2 * REAPER_INTERVAL_S * 1000));
    contesting = false;
    await contest;
    await c.stop();

    // Every request of the keep-alive found its session whole.
    expect(wrongAnswers).toEqual([]);
    expect(rounds).toBeGreaterThanOrEqual(Math.floor(KEEP_ALIVE_MS / KEEP_ALIVE_EVERY_MS / 2));
    // None fired for a kept session while it was being kept alive.
    expect(firedWhileKept).toEqual([]);
    expect(othersReaped).toBe(true);
    expect(allReaped).toBe(true);

    // Exactly once in total: every session, no more, no less.
    const counts = new Map<string, number>();
    for (const d of c.destroyed) counts.set(d.id, (counts.get(d.id) ?? 0) + 1);
    const duplicates = [...counts].filter(([, times]) => times > 1);
    expect(duplicates).toEqual([]);
    const lost = sessions.filter((s) => !counts.has(s.id)).map((s) => s.n);
    expect(lost).toEqual([]);
    expect(c.destroyed).toHaveLength(SESSIONS);

    // Each with its reason and data; a kept session only after its last request + the timeout.
    const byId = new Map(sessions.map((s) => [s.id, s]));
    for (const d of c.destroyed) {
      const s = byId.get(d.id)!;
      expect({ n: s.n, reason: d.reason, attributes: d.attributes }).toEqual({ n: s.n, reason: 'expired', attributes: { n: s.n } });
      if (keptIds.has(d.id)) {
        expect(d.at).toBeGreaterThanOrEqual(lastSent.get(d.id)! + TIMEOUT_S * 1000);
        expect(d.received).toBeGreaterThanOrEqual(keepAliveStopped);
      }
    }

    // More than one process did the reaping, within one simultaneous sweep too: the claims were contested.
    const perWorker = new Map<string, number>();
    for (const d of c.destroyed) perWorker.set(d.worker, (perWorker.get(d.worker) ?? 0) + 1);
    expect(perWorker.size).toBeGreaterThanOrEqual(2);
    expect(sweptTogether.flat().filter((expired) => expired < 0)).toEqual([]); // no sweep failed
    expect(sweptTogether.some((round) => round.filter((expired) => expired > 0).length >= 2)).toBe(true);
    // The processes' own counters agree with the events.
    const expiredTotal = [...c.stopped.values()].reduce<number>(
      (sum, stats) => sum + (stats as { reaper: { expired: number } }).reaper.expired,
      0,
    );
    expect(c.stopped.size).toBe(WORKERS);
    expect(expiredTotal).toBe(SESSIONS);

    // Nothing is left in Redis: no record, no entry, no index member.
    expect(await zCardAll(client, redisLayout(`${prefix}esm:`).allExpiry())).toBe(0);
    expect(await scanKeys(client, `${prefix}*`)).toEqual([]);
  }, 60_000);
});
