/**
 * The subsession cascade across processes (issue 4, item 8): three Node
 * processes share the run's Redis — one server, the cluster, the Sentinel
 * setup (connect-redis + redisCoordinator on the same client) —
 * each with its own background reaper, in real time — the same workers as
 * test/reaper-cluster.test.ts. 60 parents, each with subsessions 'a', 'b'
 * and 'c', are created through HTTP over the three and left to expire, while
 * the parent test process also makes the three sweep at the same instant,
 * again and again, so that they contend for the same parents.
 * For every parent and every subsession, sessionDestroyed must fire exactly
 * once in total; subsessions with reason `parent-destroyed`, parents with
 * `expired`; and the process that announces a parent must have announced
 * its three subsessions itself, before it.
 */
import { redisLayout, zCardAll } from './support/redis-layout';
import { Cluster, eachLimited, waitFor, type DestroyedReport, type Worker } from './support/reaper-cluster';
import { closeTopologyClient, connectTopology, deleteKeys, describeTopologies, scanKeys, type TopologyClient } from './support/redis-topology';
import { uniquePrefix } from './support/services';

const WORKERS = 3;
const PARENTS = 60;
/** What `POST /session?subs=3` creates on each parent (see the worker). */
const SUBSESSIONS = ['a', 'b', 'c'];
/** invalidationTimeout and reaperInterval of every worker, seconds. */
const TIMEOUT_S = 2;
const REAPER_INTERVAL_S = 1;
/** How long the sessions may take to be reaped, from the end of creation: timeout + interval + a sweep, with slack. */
const REAP_WITHIN_MS = (TIMEOUT_S + 2 * REAPER_INTERVAL_S) * 1000 + 3_000;
/** Every event expected: each parent and each of its subsessions. */
const EVENTS = PARENTS * (1 + SUBSESSIONS.length);

/** `id` for a parent's event, `id#name` for a subsession's. */
function keyOf(d: Pick<DestroyedReport, 'id' | 'subsession'>): string {
  return d.subsession === undefined ? d.id : `${d.id}#${d.subsession}`;
}

describeTopologies('the subsession cascade across processes', (topology) => {
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

  it('destroys every subsession exactly once with its parent, in the process that claims the parent, before the parent', async () => {
    prefix = uniquePrefix('subsession-cluster');
    client = await connectTopology(topology);
    cluster = new Cluster();
    const c = cluster;
    await c.start(WORKERS, { redisUrl: process.env.REDIS_URL!, topology, prefix, timeout: TIMEOUT_S, reaperInterval: REAPER_INTERVAL_S });

    // 1. 60 parents with 3 subsessions each through HTTP, spread round-robin over the processes.
    const parents: { n: number; id: string; createdOn: Worker }[] = [];
    const creationStarted = Date.now();
    await eachLimited(
      Array.from({ length: PARENTS }, (_, n) => n),
      12,
      async (n) => {
        const worker = c.workers[n % WORKERS];
        const view = await c.create(worker, n, SUBSESSIONS.length);
        expect(view).toMatchObject({ live: true, n });
        parents.push({ n, id: view.id!, createdOn: worker });
      },
    );
    const createdBy = Date.now();
    parents.sort((a, b) => a.n - b.n);
    expect(new Set(parents.map((p) => p.id)).size).toBe(PARENTS);
    // The subsessions really are stored, each under `<id>#<name>` (checked before any can be due).
    const stored = await scanKeys(client, `${prefix}sess:*#*`);
    const expectedKeys = parents.flatMap((p) => SUBSESSIONS.map((name) => `${prefix}sess:${p.id}#${name}`));
    if (Date.now() - creationStarted < TIMEOUT_S * 1000) expect(stored.sort()).toEqual(expectedKeys.sort());

    // 2. All expire under the processes' reapers; besides each process's own timer, the test makes
    //    all three sweep at the same instant every 300 ms, so that claims on the same parents are contested.
    let contesting = true;
    const sweptTogether: number[][] = [];
    const contest = (async () => {
      while (contesting) {
        sweptTogether.push(await c.reapAll());
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    })();
    const allReaped = await waitFor(Math.max(0, createdBy + REAP_WITHIN_MS - Date.now()), () => c.destroyed.length >= EVENTS);
    // A little longer, so that a duplicate from a slower process would arrive.
    await new Promise((resolve) => setTimeout(resolve, 2 * REAPER_INTERVAL_S * 1000));
    contesting = false;
    await contest;
    await c.stop();
    expect(allReaped).toBe(true);

    // Exactly once in total for every (id, subsession): no more, no less.
    const counts = new Map<string, number>();
    for (const d of c.destroyed) counts.set(keyOf(d), (counts.get(keyOf(d)) ?? 0) + 1);
    expect([...counts].filter(([, times]) => times > 1)).toEqual([]);
    const expected = parents.flatMap((p) => [p.id, ...SUBSESSIONS.map((name) => `${p.id}#${name}`)]);
    expect(expected.filter((key) => !counts.has(key))).toEqual([]);
    expect([...counts.keys()].filter((key) => !expected.includes(key))).toEqual([]);
    expect(c.destroyed).toHaveLength(EVENTS);

    // Reasons and data: subsessions `parent-destroyed` with their own attribute, parents `expired` with theirs.
    const byId = new Map(parents.map((p) => [p.id, p]));
    for (const d of c.destroyed) {
      const { n } = byId.get(d.id)!;
      if (d.subsession === undefined) {
        expect({ n, reason: d.reason, attributes: d.attributes }).toEqual({ n, reason: 'expired', attributes: { n } });
      } else {
        expect({ n, subsession: d.subsession, reason: d.reason, attributes: d.attributes }).toEqual({
          n,
          subsession: d.subsession,
          reason: 'parent-destroyed',
          attributes: { sub: d.subsession },
        });
      }
    }

    // Order: the process that announced a parent announced its 3 subsessions too, before it.
    // (A child's IPC messages arrive in the order it sent them, so `c.destroyed` keeps each process's order.)
    const misordered: string[] = [];
    c.destroyed.forEach((d, index) => {
      if (d.subsession !== undefined) return;
      const { n } = byId.get(d.id)!;
      for (const name of SUBSESSIONS) {
        const subIndex = c.destroyed.findIndex((s) => s.id === d.id && s.subsession === name);
        const sub = c.destroyed[subIndex];
        if (!sub) continue; // reported above as lost
        if (sub.worker !== d.worker) misordered.push(`parent ${n} announced by ${d.worker}, subsession ${name} by ${sub.worker}`);
        else if (subIndex > index) misordered.push(`parent ${n} on ${d.worker}: subsession ${name} announced after the parent`);
      }
    });
    expect(misordered).toEqual([]);

    expect(sweptTogether.flat().filter((expired) => expired < 0)).toEqual([]); // no sweep failed
    // More than one process did the reaping, within one simultaneous sweep too: the claims were contested.
    // On Sentinel every write waits for the replica, so creating the parents takes seconds, their deadlines
    // spread over that time and each sweep finds one or two due: who wins them is chance, not a property of
    // the library. The claim is the same script on every topology; single and cluster show the contest.
    if (topology !== 'sentinel') {
      const perWorker = new Map<string, number>();
      for (const d of c.destroyed) if (d.subsession === undefined) perWorker.set(d.worker, (perWorker.get(d.worker) ?? 0) + 1);
      expect(perWorker.size).toBeGreaterThanOrEqual(2);
      expect(sweptTogether.some((round) => round.filter((expired) => expired > 0).length >= 2)).toBe(true);
    }
    // The processes' own counters agree with the events: the reaper counts the parents it claimed,
    // the session counters every session that expired, cascaded subsessions included.
    type Stats = { sessions: { expired: number }; reaper: { expired: number } };
    const stats = [...c.stopped.values()] as Stats[];
    expect(c.stopped.size).toBe(WORKERS);
    expect(stats.reduce((sum, s) => sum + s.reaper.expired, 0)).toBe(PARENTS);
    expect(stats.reduce((sum, s) => sum + s.sessions.expired, 0)).toBe(EVENTS);

    // Nothing is left in Redis: no record, no entry, no index member.
    expect(await zCardAll(client, redisLayout(`${prefix}esm:`).allExpiry())).toBe(0);
    expect(await scanKeys(client, `${prefix}*`)).toEqual([]);
  }, 40_000);
});
