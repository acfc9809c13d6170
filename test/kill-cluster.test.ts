/**
 * Killing sessions across processes (issue 5, items 5–6; docs/architecture.md, "Killing"): three
 * Node processes (kill-worker.ts) and this one share the run's redis-server
 * (connect-redis + redisCoordinator, one key prefix). A kill issued in one
 * process reaches the request running in another (its `signal` aborts over
 * the coordinator's pub/sub channel), releases requests queued behind it
 * (in-process queue and Redis lock), and `sessionDestroyed` fires once in
 * total. A holder that crashes leaves the mark and the store's TTL to clean up.
 */
import { redisLayout } from './support/redis-layout';
import { resolve } from 'node:path';
import { RedisStore } from 'connect-redis';
import { createSessionManager, type SessionManager } from '../lib';
import { redisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import { hangingServer, type HangingServer } from './support/hanging-server';
import { Cluster, waitFor, type Worker } from './support/reaper-cluster';
import type { KillView, KillWorkerMessage } from './support/kill-worker';
import { closeTopologyClient, connectTopology, deleteKeys, describeTopologies, type TopologyClient } from './support/redis-topology';
import { uniquePrefix } from './support/services';

const KILL_WORKER = resolve(__dirname, 'support', 'kill-worker.ts');
/** What `GET /view` answers for a request that has no session. */
const NO_SESSION: KillView = { valid: false, live: false, user: null, changed: null };
/** How long to keep listening after the first sessionDestroyed, for a duplicate from a slower process. */
const SETTLE_MS = 300;

interface Answer {
  status: number;
  body: unknown;
}

/** A request to a worker, with the session cookie of `id` if given. */
async function call(worker: Worker, method: string, path: string, id?: string): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${worker.port}${path}`, {
    method,
    headers: id ? { cookie: `JSESSIONID=${id}` } : {},
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null };
}

/** `POST /start` on a worker: the id of the new session (attribute `user` = ann). */
async function start(worker: Worker): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${worker.port}/start`, { method: 'POST' });
  expect(res.status).toBe(204);
  const pair = res.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .find((p) => p.startsWith('JSESSIONID='));
  if (!pair) throw new Error(`${worker.name} set no session cookie`);
  return pair.slice('JSESSIONID='.length);
}

/** Resolves once `worker` says a `/fetch` or `/hold` handler of session `id` runs. */
function runningOn(worker: Worker, route: 'fetch' | 'hold', id: string): Promise<void> {
  return new Promise((resolvePromise) => {
    const listener = (message: KillWorkerMessage) => {
      if (message.type !== 'running' || message.route !== route || message.id !== id) return;
      worker.child.off('message', listener);
      resolvePromise();
    };
    worker.child.on('message', listener);
  });
}

/** Tracks whether a promise has settled, without changing it. */
function watch<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const tracked = promise.finally(() => (done = true));
  return { promise: tracked, settled: () => done };
}

const delay = (ms: number) => new Promise((resolvePromise) => setTimeout(resolvePromise, ms));

describeTopologies('manager.sessions.kill across processes sharing redisCoordinator', (topology) => {
  let cluster: Cluster | undefined;
  let client: TopologyClient | undefined;
  let killer: SessionManager | undefined;
  let hang: HangingServer | undefined;
  let prefix = '';
  /** sessionDestroyed events of this process's manager. */
  const killerDestroyed: { worker: string; id: string; reason: string; attributes: Record<string, unknown> }[] = [];

  /** Every sessionDestroyed of session `id` so far, in every process (workers and this one). */
  function destroyedOf(id: string): { worker: string; reason: string; attributes: Record<string, unknown> }[] {
    return [...cluster!.destroyed, ...killerDestroyed]
      .filter((d) => d.id === id)
      .map(({ worker, reason, attributes }) => ({ worker, reason, attributes }));
  }

  /** Waits for the first sessionDestroyed of `id`, then a little longer for a duplicate; all of them. */
  async function destroyedOnceSettled(id: string): Promise<ReturnType<typeof destroyedOf>> {
    await waitFor(3_000, () => destroyedOf(id).length > 0);
    await delay(SETTLE_MS);
    return destroyedOf(id);
  }

  /** Which of the session's Redis keys exist: its store record, coordinator entry and lock. */
  async function keysOf(id: string): Promise<{ record: number; entry: number; lock: number }> {
    const [record, entry, lock] = await Promise.all([
      client!.exists(`${prefix}sess:${id}`),
      client!.exists(redisLayout(`${prefix}esm:`).entry(id)),
      client!.exists(redisLayout(`${prefix}esm:`).lock(id)),
    ]);
    return { record, entry, lock };
  }

  beforeAll(async () => {
    prefix = uniquePrefix('kill-cluster');
    hang = await hangingServer();
    client = await connectTopology(topology);
    cluster = new Cluster();
    // w0 and w1 serve the tests; w2 is the holder that crashes (last test).
    const starting = cluster.start(3, {
      redisUrl: process.env.REDIS_URL!,
      topology,
      prefix,
      script: KILL_WORKER,
      env: { ESM_KILL_HANG_URL: hang.url },
    });
    killer = createSessionManager({
      store: new RedisStore({ client, prefix: `${prefix}sess:` }),
      coordinator: redisCoordinator({ client, prefix: `${prefix}esm:` }),
      invalidationTimeout: 600,
    });
    killer.on('sessionDestroyed', (e) =>
      killerDestroyed.push({ worker: 'killer', id: e.id, reason: e.reason, attributes: e.attributes }),
    );
    await Promise.all([starting, killer.ready]);
  }, 30_000);

  afterAll(async () => {
    if (cluster) {
      for (const worker of cluster.workers) await call(worker, 'POST', '/release').catch(() => undefined);
      await cluster.stop(2_000);
      cluster = undefined;
    }
    await killer?.close();
    killer = undefined;
    await hang?.close();
    hang = undefined;
    if (client) {
      await deleteKeys(client, prefix);
      await closeTopologyClient(client);
      client = undefined;
    }
  });

  it('aborts the signal of a request running in another process, and deletes the session once when it ends', async () => {
    const [a, b] = cluster!.workers;
    const id = await start(a);
    const running = runningOn(a, 'fetch', id);
    const fetching = call(a, 'POST', '/fetch', id);
    await running;
    await expect(killer!.sessions.kill(id)).resolves.toEqual({ killed: true, deferred: true });
    // The kill reached A over pub/sub: its fetch(…, { signal }) rejected.
    await expect(fetching).resolves.toEqual({ status: 409, body: { name: 'AbortError', aborted: true } });
    // Once in total, by the process that ran the request, with the data it found (its change dropped).
    expect(await destroyedOnceSettled(id)).toEqual([{ worker: 'w0', reason: 'killed', attributes: { user: 'ann' } }]);
    expect(await keysOf(id)).toEqual({ record: 0, entry: 0, lock: 0 });
    await expect(call(b, 'GET', '/view', id)).resolves.toEqual({ status: 200, body: NO_SESSION });
  }, 10_000);

  it('releases requests queued behind the killed one, in its process and in another, at once', async () => {
    const [a, b] = cluster!.workers;
    const id = await start(a);
    const running = runningOn(a, 'hold', id);
    const holding = watch(call(a, 'POST', '/hold', id));
    await running;
    // One queued on B (polling for the Redis lock A holds), one on A (in its in-process queue).
    const queuedOnB = watch(call(b, 'GET', '/view', id));
    const queuedOnA = watch(call(a, 'GET', '/view', id));
    await delay(300);
    expect([queuedOnB.settled(), queuedOnA.settled()]).toEqual([false, false]);
    expect((await keysOf(id)).lock).toBe(1);

    const killedAt = Date.now();
    await expect(call(b, 'POST', `/kill?id=${id}`)).resolves.toEqual({ status: 200, body: { killed: true, deferred: true } });
    // Both finish while A still holds the killed session, and neither is given it.
    await expect(queuedOnB.promise).resolves.toEqual({ status: 200, body: NO_SESSION });
    await expect(queuedOnA.promise).resolves.toEqual({ status: 200, body: NO_SESSION });
    expect(Date.now() - killedAt).toBeLessThan(2_000);
    expect(holding.settled()).toBe(false);
    await expect(call(a, 'GET', '/view', id)).resolves.toEqual({ status: 200, body: NO_SESSION });
    await expect(call(b, 'GET', '/view', id)).resolves.toEqual({ status: 200, body: NO_SESSION });
    expect(destroyedOf(id)).toEqual([]);

    await call(a, 'POST', '/release');
    await expect(holding.promise).resolves.toEqual({ status: 200, body: { aborted: true } });
    expect(await destroyedOnceSettled(id)).toEqual([{ worker: 'w0', reason: 'killed', attributes: { user: 'ann' } }]);
    expect(await keysOf(id)).toMatchObject({ record: 0, entry: 0 });
  }, 10_000);

  it('deletes an idle session at once when another process kills it', async () => {
    const [a, b] = cluster!.workers;
    const id = await start(b);
    await expect(call(a, 'POST', `/kill?id=${id}`)).resolves.toEqual({ status: 200, body: { killed: true, deferred: false } });
    expect(await destroyedOnceSettled(id)).toEqual([{ worker: 'w0', reason: 'killed', attributes: { user: 'ann' } }]);
    expect(await keysOf(id)).toEqual({ record: 0, entry: 0, lock: 0 });
    await expect(call(b, 'GET', '/view', id)).resolves.toEqual({ status: 200, body: NO_SESSION });
    await expect(call(b, 'POST', `/kill?id=${id}`)).resolves.toEqual({ status: 200, body: { killed: false, deferred: false } });
  }, 10_000);

  it('keeps a session whose holder crashed from everyone, and leaves its mark and record to expire', async () => {
    const [, b, c] = cluster!.workers;
    const id = await start(c);
    const running = runningOn(c, 'hold', id);
    const holding = call(c, 'POST', '/hold', id).catch((error: unknown) => error);
    await running;
    const exited = new Promise((resolvePromise) => c.child.once('exit', resolvePromise));
    c.child.kill('SIGKILL');
    await exited;
    await holding;

    await expect(killer!.sessions.kill(id)).resolves.toEqual({ killed: true, deferred: true });
    // The crashed holder's lock went with the kill: B does not wait for its TTL (10 s).
    const askedAt = Date.now();
    await expect(call(b, 'GET', '/view', id)).resolves.toEqual({ status: 200, body: NO_SESSION });
    expect(Date.now() - askedAt).toBeLessThan(2_000);
    // Nobody will end the request, so nobody deletes it: the mark keeps requests off the
    // session, and both it and the record expire by their TTLs.
    const record = `${prefix}sess:${id}`;
    const entry = redisLayout(`${prefix}esm:`).entry(id);
    expect(await client!.pTTL(record)).toBeGreaterThan(0);
    expect(await client!.get(record)).not.toContain('changed');
    expect(await client!.hmGet(entry, ['claimed', 'killed'])).toEqual(['1', '1']);
    // The mark outlives the record (by 10 s), so the record is never served unmarked in between.
    expect(await client!.pExpireTime(entry)).toBeGreaterThanOrEqual((await client!.pExpireTime(record)) + 8_000);
    await delay(SETTLE_MS);
    expect(destroyedOf(id)).toEqual([]);
  }, 10_000);
});
