/**
 * The session caps across processes sharing Redis (issue 16; docs/architecture.md, "Caps"), on
 * every topology: two managers, each with its own `redisCoordinator` on one prefix (two processes'
 * worth of state), then two worker processes (caps-worker.ts) logging one user in at the same
 * moment. Counts live in keys of their own hash tag (the app's, the user's), so each admission is
 * one script on one slot, on a cluster too.
 */
import { resolve } from 'node:path';
import express, { type Request, type Response } from 'express';
import request from 'supertest';
import { RedisStore } from 'connect-redis';
import { createSessionManager, type SessionDestroyedEvent, type SessionManager, type SessionManagerOptions } from '../lib';
import { redisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import { sessionKey } from '../lib/storage/session-key';
import { collectMetrics } from '../lib/prometheus';
import { Registry } from 'prom-client';
import { FakeClock } from './support/fake-clock';
import { Cluster, type Worker } from './support/reaper-cluster';
import { closeTopologyClient, connectTopology, deleteKeys, describeTopologies, topologyEnv, type TopologyClient } from './support/redis-topology';
import { uniquePrefix } from './support/services';
import { cookieFor, eventually, sessionIdFrom } from './support/test-app';

const CAPS_WORKER = resolve(__dirname, 'support', 'caps-worker.ts');

describeTopologies('session caps in Redis', (topology) => {
  let client: TopologyClient;
  let prefix: string;
  let managers: SessionManager[] = [];
  let cluster: Cluster | undefined;

  beforeAll(async () => {
    client = await connectTopology(topology);
  });
  afterAll(async () => {
    await closeTopologyClient(client);
  });
  beforeEach(() => {
    prefix = uniquePrefix('caps');
  });
  afterEach(async () => {
    cluster?.kill();
    cluster = undefined;
    await Promise.all(managers.map((m) => m.close()));
    managers = [];
    await deleteKeys(client, prefix);
  });

  /** A manager on the shared Redis (its own coordinator, as another process would have) and its app. */
  function node(options: SessionManagerOptions, clock = new FakeClock()): { manager: SessionManager; app: express.Express; destroyed: SessionDestroyedEvent[] } {
    const manager = createSessionManager({
      store: new RedisStore({ client, prefix: `${prefix}sess:` }),
      coordinator: redisCoordinator({ client, prefix: `${prefix}esm:` }),
      invalidationTimeout: 600,
      principal: (req) => req.get('x-user') || undefined,
      clock,
      ...options,
    });
    managers.push(manager);
    const destroyed: SessionDestroyedEvent[] = [];
    manager.on('sessionDestroyed', (e) => destroyed.push(e));
    const app = express();
    app.use(manager.middleware());
    app.post('/start', (req: Request, res: Response) => {
      req.httpSession.setAttribute('cart', [1]);
      res.sendStatus(204);
    });
    app.get('/view', (req: Request, res: Response) => res.json({ live: req.getSession(false) !== null }));
    return { manager, app, destroyed };
  }

  async function start(app: express.Express, user?: string): Promise<{ status: number; id: string | undefined }> {
    const res = await request(app).post('/start').set(user ? { 'x-user': user } : {});
    return { status: res.status, id: sessionIdFrom(res) };
  }

  it('counts maxActiveSessions across processes, and frees a place when a session goes', async () => {
    const a = node({ maxActiveSessions: 2 });
    const b = node({ maxActiveSessions: 2 });
    const first = await start(a.app);
    expect((await start(b.app)).status).toBe(204);
    const refused = await request(a.app).post('/start');
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('60');
    expect((await start(b.app)).status).toBe(503);
    await b.manager.sessions.kill(first.id!);
    expect((await start(a.app)).status).toBe(204);
    expect(await a.manager.coordinator.liveSessions!(['default'], Date.now())).toEqual({ default: 2 });
  });

  it('gives every process the same cluster-wide live gauge, and per-process counters', async () => {
    const a = node({});
    const b = node({});
    const registries = [new Registry(), new Registry()];
    collectMetrics(a.manager, { registry: registries[0] });
    collectMetrics(b.manager, { registry: registries[1] });
    await start(a.app);
    await start(a.app);
    await start(b.app);
    const pages = await Promise.all(registries.map((r) => r.metrics()));
    for (const page of pages) expect(page).toMatch(/^esm_sessions_live\{app="default"\} 3$/m);
    expect(pages[0]).toMatch(/^esm_sessions_created_total\{app="default"\} 2$/m);
    expect(pages[1]).toMatch(/^esm_sessions_created_total\{app="default"\} 1$/m);
    // Coordinator calls are timed too: a new session's write-and-leave (colocated records) or leave.
    expect(pages[0]).toMatch(/^esm_store_call_seconds_count\{op="(write|leave)"\} 2$/m);
  });

  it('evicts the least recently used session of a user held in another process (reason evicted, once)', async () => {
    const a = node({ maxSessionsPerPrincipal: 1 });
    const b = node({ maxSessionsPerPrincipal: 1 });
    const first = await start(a.app, 'ann');
    const second = await start(b.app, 'ann');
    const all = [...a.destroyed, ...b.destroyed];
    expect(all.map((e) => [e.id, e.reason])).toEqual([[first.id, 'evicted']]);
    expect((await request(a.app).get('/view').set({ Cookie: cookieFor(first.id!), 'x-user': 'ann' })).body.live).toBe(false);
    expect((await request(a.app).get('/view').set({ Cookie: cookieFor(second.id!), 'x-user': 'ann' })).body.live).toBe(true);
  });

  it("'reject' refuses a login in another process with a 403", async () => {
    const a = node({ maxSessionsPerPrincipal: 1, onMaxSessions: 'reject' });
    const b = node({ maxSessionsPerPrincipal: 1, onMaxSessions: 'reject' });
    await start(a.app, 'ann');
    expect((await start(b.app, 'ann')).status).toBe(403);
    expect((await b.manager.sessions.list({ principal: 'ann' })).sessions).toHaveLength(1);
  });

  it('never leaves a user more than the cap when many log in at once over two processes', async () => {
    const a = node({ maxSessionsPerPrincipal: 3 });
    const b = node({ maxSessionsPerPrincipal: 3 });
    const logins = await Promise.all(Array.from({ length: 10 }, (_, i) => start(i % 2 === 0 ? a.app : b.app, 'ann')));
    expect(logins.every((l) => l.status === 204)).toBe(true);
    await eventually(async () => {
      expect((await a.manager.sessions.list({ principal: 'ann' })).sessions).toHaveLength(3);
      expect([...a.destroyed, ...b.destroyed].filter((e) => e.reason === 'evicted')).toHaveLength(7);
    }, 5000);
  });

  it('rotates the id at login and keeps the earlier of the idle and absolute deadlines', async () => {
    const clock = new FakeClock();
    const a = node({ maxLifetime: 100 }, clock);
    const anonymous = await start(a.app);
    clock.advanceSeconds(40);
    const login = await request(a.app).post('/start').set({ Cookie: cookieFor(anonymous.id!), 'x-user': 'ann' });
    const rotated = sessionIdFrom(login)!;
    expect(rotated).not.toBe(anonymous.id);
    const entry = await a.manager.coordinator.inspect(sessionKey('default', rotated));
    expect(entry!.deadline).toBe(clock.now() + 60_000);
    expect(await a.manager.coordinator.inspect(sessionKey('default', anonymous.id!))).toBeUndefined();
    clock.advanceSeconds(61);
    expect((await a.manager.reap()).expired).toBe(1);
    expect(a.destroyed.map((e) => [e.id, e.reason])).toEqual([[rotated, 'expired']]);
  });

  it('two worker processes logging one user in at the same moment leave one session (maxSessionsPerPrincipal 1)', async () => {
    cluster = new Cluster();
    await cluster.start(2, {
      redisUrl: process.env.REDIS_URL ?? '',
      prefix,
      script: CAPS_WORKER,
      topology,
      env: { ...topologyEnv(topology), ESM_CAPS_PER_PRINCIPAL: '1' },
    });
    for (let round = 0; round < 3; round++) {
      const logins = cluster.workers.map((w: Worker) =>
        fetch(`http://127.0.0.1:${w.port}/login?wait=1`, { method: 'POST', headers: { 'x-user': 'ann' } }),
      );
      // Both handlers wait; /go lets them end together, so both admissions race.
      await new Promise((r) => setTimeout(r, 50));
      await Promise.all(cluster.workers.map((w: Worker) => fetch(`http://127.0.0.1:${w.port}/go`, { method: 'POST' })));
      expect((await Promise.all(logins)).map((res) => res.status)).toEqual([204, 204]);
    }
    const coordinator = redisCoordinator({ client, prefix: `${prefix}esm:` });
    await eventually(async () => expect(await coordinator.keysOf('ann')).toHaveLength(1), 5000);
    await eventually(() => expect(cluster!.destroyed.filter((d) => d.reason === 'evicted')).toHaveLength(5), 5000);
  });
});
