/**
 * Concurrent requests of one session across processes: two Node processes
 * serve one session from the run's redis-server (connect-redis, one key
 * prefix), each request alternating between them.
 *
 * - Serial access on: 50 concurrent appends, each of which reads a list,
 *   waits a few milliseconds and writes it back one item longer, are all kept.
 * - Serial access off (the default): commits merge (docs/architecture.md,
 *   "Commit"): 50 concurrent requests that each set an attribute of their
 *   own keep all 50; 50 appends to one attribute all succeed and the last
 *   commit wins.
 * - express-session 1.19 on the same store, in the same two processes, loses
 *   both — the lost update the tests exist to catch, so they can fail.
 */
import { resolve } from 'node:path';
import { Cluster, type Worker } from './support/reaper-cluster';
import type { AppendMode } from './support/append-worker';
import { closeTopologyClient, connectTopology, deleteKeys, describeTopologies, scanKeys, type TopologyClient } from './support/redis-topology';
import { uniquePrefix } from './support/services';

const APPEND_WORKER = resolve(__dirname, 'support', 'append-worker.ts');
const APPENDS = 50;

/** `POST /start` on a worker: the `name=value` of the session cookie it set. */
async function start(worker: Worker, cookieName: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${worker.port}/start`, { method: 'POST' });
  expect(res.status).toBe(204);
  const cookie = res.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .find((pair) => pair.startsWith(`${cookieName}=`));
  if (!cookie) throw new Error(`${worker.name} set no ${cookieName} cookie`);
  return cookie;
}

/** `POST /append?i=` on a worker with the session cookie; the HTTP status. */
async function append(worker: Worker, cookie: string, i: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${worker.port}/append?i=${i}`, { method: 'POST', headers: { cookie } });
  await res.arrayBuffer();
  return res.status;
}

/** `POST /set/<name>` on a worker with the session cookie; the HTTP status. */
async function setOwn(worker: Worker, cookie: string, name: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${worker.port}/set/${name}`, { method: 'POST', headers: { cookie } });
  await res.arrayBuffer();
  return res.status;
}

/** `GET /attributes` on a worker with the session cookie. */
async function attributes(worker: Worker, cookie: string): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${worker.port}/attributes`, { headers: { cookie } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** 50 requests setting an attribute each (`a0`…`a49`), alternating between the workers, all at once; their statuses. */
async function setConcurrently(cluster: Cluster, cookie: string): Promise<number[]> {
  return Promise.all(Array.from({ length: APPENDS }, (_, i) => setOwn(cluster.workers[i % cluster.workers.length], cookie, `a${i}`)));
}

/** `GET /list` on a worker with the session cookie. */
async function list(worker: Worker, cookie: string): Promise<number[]> {
  const res = await fetch(`http://127.0.0.1:${worker.port}/list`, { headers: { cookie } });
  expect(res.status).toBe(200);
  return (await res.json()) as number[];
}

/**
 * 1. A session on the first worker; 2. 50 concurrent appends alternating
 * between the workers, every one answered 204; 3. the list, read on the second.
 */
async function appendConcurrently(cluster: Cluster, cookieName: string): Promise<number[]> {
  const [a, b] = cluster.workers;
  const cookie = await start(a, cookieName);
  const statuses = await Promise.all(
    Array.from({ length: APPENDS }, (_, i) => append(cluster.workers[i % cluster.workers.length], cookie, i)),
  );
  if (statuses.some((status) => status !== 204)) {
    const output = cluster.workers.map((w) => `--- ${w.name}:\n${cluster.outputOf(w.name)}`).join('\n');
    throw new Error(`appends answered ${JSON.stringify(statuses)}\n${output}`);
  }
  return list(b, cookie);
}

/** The keys matching `pattern`, polled for up to `ms` until there are none. */
async function locksLeft(client: TopologyClient, pattern: string, ms: number): Promise<string[]> {
  const until = Date.now() + ms;
  let keys = await scanKeys(client, pattern);
  while (keys.length > 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    keys = await scanKeys(client, pattern);
  }
  return keys;
}

describeTopologies('concurrent requests of one session across processes sharing redisCoordinator', (topology) => {
  const clusters = new Map<AppendMode, Cluster>();
  let client: TopologyClient | undefined;
  let prefix = '';

  /** Two processes of the append worker in `mode`, with keys under their own part of the run's prefix. */
  async function startCluster(mode: AppendMode): Promise<void> {
    const cluster = new Cluster();
    clusters.set(mode, cluster);
    await cluster.start(2, {
      redisUrl: process.env.REDIS_URL!,
      topology,
      prefix: `${prefix}${mode}:`,
      script: APPEND_WORKER,
      env: { ESM_APPEND_MODE: mode },
    });
  }

  beforeAll(async () => {
    prefix = uniquePrefix('serial-access-cluster');
    client = await connectTopology(topology);
    // Both pairs start together: the processes' startup (tsx) is most of the run time.
    await Promise.all([startCluster('manager'), startCluster('merging'), startCluster('express-session')]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([...clusters.values()].map((cluster) => cluster.stop(2_000)));
    clusters.clear();
    if (client) {
      await deleteKeys(client, prefix);
      await closeTopologyClient(client);
      client = undefined;
    }
  });

  it('keeps every one of 50 concurrent appends alternating between two processes, with serial access', async () => {
    const cluster = clusters.get('manager')!;
    const list = await appendConcurrently(cluster, 'JSESSIONID');
    expect([...list].sort((x, y) => x - y)).toEqual(Array.from({ length: APPENDS }, (_, i) => i));
    // Every cross-process lock is given back (the delete may follow the last response by a moment).
    expect(await locksLeft(client!, `${prefix}manager:esm:*lock:*`, 2_000)).toEqual([]);
  }, 20_000);

  it('shows that express-session 1.19 on the same store, in the same two processes, loses appends', async () => {
    const cluster = clusters.get('express-session')!;
    // Every append answered 204, yet some were overwritten by others that had read the list before them.
    const list = await appendConcurrently(cluster, 'connect.sid');
    expect(list.length).toBeLessThan(APPENDS);
  }, 20_000);

  it('keeps all 50 attributes set by 50 concurrent requests alternating between two processes (merging commits)', async () => {
    const cluster = clusters.get('merging')!;
    const cookie = await start(cluster.workers[0], 'JSESSIONID');
    expect(await setConcurrently(cluster, cookie)).toEqual(Array(APPENDS).fill(204));
    const kept = await attributes(cluster.workers[1], cookie);
    expect(Object.keys(kept).filter((name) => name.startsWith('a')).sort()).toEqual(
      Array.from({ length: APPENDS }, (_, i) => `a${i}`).sort(),
    );
    // Every commit lock is given back.
    expect(await locksLeft(client!, `${prefix}merging:esm:*commit:*`, 2_000)).toEqual([]);
  }, 20_000);

  it('lets the last commit win on one attribute without serial access, every request answered', async () => {
    const cluster = clusters.get('merging')!;
    const list = await appendConcurrently(cluster, 'JSESSIONID');
    expect(list.length).toBeGreaterThanOrEqual(1);
    expect(list.length).toBeLessThan(APPENDS);
    expect(new Set(list).size).toBe(list.length);
  }, 20_000);

  it('shows that express-session 1.19 on the same store, in the same two processes, loses attributes set at once', async () => {
    const cluster = clusters.get('express-session')!;
    const cookie = await start(cluster.workers[0], 'connect.sid');
    expect(await setConcurrently(cluster, cookie)).toEqual(Array(APPENDS).fill(204));
    const kept = await attributes(cluster.workers[1], cookie);
    expect(Object.keys(kept).filter((name) => name.startsWith('a')).length).toBeLessThan(APPENDS);
  }, 20_000);
});
