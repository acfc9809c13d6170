/**
 * `npx tsx benchmarks/topologies.ts`: this library on a Redis Cluster
 * against one redis-server (issue 15), each private and started here
 * (test/support): connect-redis 9 + `redisCoordinator` on the same client.
 *
 * - Requests: an Express app in this process serving a read (`GET`: one
 *   attribute) and a write (`POST`: sets one), each of `--connections`
 *   autocannon connections on a session of its own, `--duration` s per
 *   run; single and cluster alternate, `--rounds` pairs; median req/s of
 *   each and the median of the paired ratios (cluster / single). The load
 *   generator shares the process and the machine's 2 cores with the app and
 *   the servers: the ratios are what to read, not the absolute figures.
 * - Sweep: `--live` live sessions of which 1 % are due (written through
 *   `store.set` and `coordinator.leave`), then one `manager.reap()` on a
 *   fake clock past their deadline: its wall time on each topology.
 * - Failover: `--failovers` runs of test/support/failover-rig.ts per
 *   topology (cluster, Sentinel): from the SIGKILL of a primary to the
 *   first 200 of a request sent after it, to the last 503, and to the
 *   servers' own recovery (slots served again / new primary named).
 *
 * Options: --rounds=3 --duration=5 --connections=20 --live=100000
 *          --failovers=2 --only=requests,sweep,failover --out=<file.json>
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import autocannon from 'autocannon';
import { RedisStore } from 'connect-redis';
import express from 'express';
import { createSessionManager, type SessionManager } from '../lib';
import { redisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import { generateSessionId } from '../lib/tracking/session-id';
import { FakeClock } from '../test/support/fake-clock';
import { runFailover } from '../test/support/failover-rig';
import { startRedisCluster, type RedisClusterServers } from '../test/support/redis-cluster-servers';
import { findOnPath, startRedisServer, type RedisServer } from '../test/support/redis-server';
import { closeTopologyClient, connectTopology, type TopologyClient } from '../test/support/redis-topology';
import { makeRecord } from '../test/support/store-promises';
import { median } from './harness';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
const ROUNDS = Number(args.get('rounds') ?? 3);
const DURATION_S = Number(args.get('duration') ?? 5);
const CONNECTIONS = Number(args.get('connections') ?? 20);
const LIVE = Number(args.get('live') ?? 100_000);
const FAILOVERS = Number(args.get('failovers') ?? 2);
const ONLY = new Set((args.get('only') ?? 'requests,sweep,failover').split(','));

type Kind = 'single' | 'cluster';

/** A running app on one topology. */
interface App {
  manager: SessionManager;
  server: Server;
  port: number;
  cookies: string[];
}

async function startApp(client: TopologyClient, prefix: string): Promise<App> {
  const manager = createSessionManager({
    store: new RedisStore({ client, prefix: `${prefix}sess:` }),
    coordinator: redisCoordinator({ client, prefix: `${prefix}esm:` }),
    invalidationTimeout: 1800,
  });
  const app = express();
  app.use(manager.middleware());
  app.post('/start', (req, res) => {
    req.httpSession.setAttribute('n', 0);
    res.sendStatus(204);
  });
  app.get('/read', (req, res) => {
    res.json({ n: req.httpSession.getAttribute('n') ?? null });
  });
  app.post('/write', (req, res) => {
    req.httpSession.setAttribute('n', Number(req.httpSession.getAttribute('n') ?? 0) + 1);
    res.sendStatus(204);
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const cookies: string[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const response = await fetch(`http://127.0.0.1:${port}/start`, { method: 'POST' });
    cookies.push(response.headers.get('set-cookie')!.split(';')[0]);
  }
  return { manager, server, port, cookies };
}

/** Requests per second of `method path`, each connection on its own session. */
async function rate(app: App, method: 'GET' | 'POST', path: string): Promise<number> {
  let next = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${app.port}`,
    connections: CONNECTIONS,
    duration: DURATION_S,
    requests: [{ method, path }],
    setupClient: (client: { setHeaders(headers: Record<string, string>): void }) => {
      client.setHeaders({ cookie: app.cookies[next++ % app.cookies.length] });
    },
  } as Parameters<typeof autocannon>[0]);
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${method} ${path}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

async function requests(clients: Record<Kind, TopologyClient>): Promise<Record<string, unknown>> {
  const apps = {} as Record<Kind, App>;
  for (const kind of ['single', 'cluster'] as Kind[]) apps[kind] = await startApp(clients[kind], `bench-topologies:${randomBytes(4).toString('hex')}:`);
  const figures: Record<string, { single: number[]; cluster: number[]; ratios: number[] }> = {};
  for (const [name, method, path] of [['read', 'GET', '/read'], ['write', 'POST', '/write']] as const) {
    const f: { single: number[]; cluster: number[]; ratios: number[] } = (figures[name] = { single: [], cluster: [], ratios: [] });
    for (let round = 0; round < ROUNDS; round++) {
      const order: Kind[] = round % 2 === 0 ? ['single', 'cluster'] : ['cluster', 'single'];
      const got = {} as Record<Kind, number>;
      for (const kind of order) got[kind] = await rate(apps[kind], method, path);
      f.single.push(got.single);
      f.cluster.push(got.cluster);
      f.ratios.push(got.cluster / got.single);
    }
  }
  for (const app of Object.values(apps)) {
    await app.manager.close();
    app.server.close();
  }
  const table = Object.entries(figures).map(([name, f]) => ({
    request: name,
    singleReqPerS: Math.round(median(f.single)),
    clusterReqPerS: Math.round(median(f.cluster)),
    ratio: Number(median(f.ratios).toFixed(2)),
  }));
  console.table(table);
  return { table, figures };
}

/** Wall time of one sweep of LIVE sessions, 1 % due. */
async function sweep(client: TopologyClient, kind: Kind): Promise<Record<string, number>> {
  const prefix = `bench-sweep:${randomBytes(4).toString('hex')}:`;
  const store = new RedisStore({ client, prefix: `${prefix}sess:` });
  const coordinator = redisCoordinator({ client, prefix: `${prefix}esm:` });
  const now = Date.now();
  const expires = now + 3_600_000;
  const record = makeRecord(expires, now, { n: 1 });
  const populateStarted = Date.now();
  let i = 0;
  const one = async (): Promise<void> => {
    const due = i++ % 100 === 0;
    const id = generateSessionId();
    await Promise.all([
      store.set(id, record as never),
      coordinator.leave(id, { now, timeoutMs: due ? 60_000 : 1_800_000, storeExpires: expires, entered: false, lastAccessedTime: now, request: '' }),
    ]);
  };
  for (let n = 0; n < LIVE; n += 500) await Promise.all(Array.from({ length: Math.min(500, LIVE - n) }, one));
  const populateS = (Date.now() - populateStarted) / 1000;
  const clock = new FakeClock(now);
  const manager = createSessionManager({ store, coordinator, clock, invalidationTimeout: 1800, reaperInterval: 3600 });
  let destroyed = 0;
  manager.on('sessionDestroyed', () => destroyed++);
  clock.advance(120_000);
  const started = performance.now();
  const result = await manager.reap();
  const sweepMs = performance.now() - started;
  await manager.close();
  console.log(`${kind}: ${LIVE} live, swept ${result.expired} due (${destroyed} events) in ${sweepMs.toFixed(0)} ms; population took ${populateS.toFixed(0)} s`);
  return { live: LIVE, due: result.expired, sweepMs: Math.round(sweepMs), populateS: Math.round(populateS) };
}

async function failovers(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown[]> = { cluster: [], sentinel: [] };
  for (const topology of ['cluster', 'sentinel'] as const) {
    for (let i = 0; i < FAILOVERS; i++) {
      const run = await runFailover(topology);
      const afterKill = run.responses.filter((r) => r.sent > run.killedAt);
      const firstOk = Math.min(...afterKill.filter((r) => r.status === 200).map((r) => r.answered - run.killedAt));
      const failed = run.responses.filter((r) => r.status !== 200);
      const lastFailure = failed.length ? Math.max(...failed.map((r) => r.answered - run.killedAt)) : 0;
      const figure = { healthyMs: run.healthyAt - run.killedAt, firstOkMs: firstOk, last503Ms: lastFailure, failedRequests: failed.length, requests: run.responses.length };
      console.log(topology, figure);
      out[topology].push(figure);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const binary = findOnPath('redis-server');
  const cli = findOnPath('redis-cli');
  if (!binary || !cli) throw new Error('needs redis-server and redis-cli on PATH');
  const results: Record<string, unknown> = { loadavgBefore: loadavg() };
  let single: RedisServer | undefined;
  let cluster: RedisClusterServers | undefined;
  try {
    if (ONLY.has('requests') || ONLY.has('sweep')) {
      [single, cluster] = await Promise.all([startRedisServer(binary), startRedisCluster(binary, cli)]);
      const clients: Record<Kind, TopologyClient> = {
        single: await connectTopology('single', { REDIS_URL: single.url }),
        cluster: await connectTopology('cluster', { REDIS_CLUSTER_NODES: cluster.addresses.join(',') }),
      };
      if (ONLY.has('requests')) results.requests = await requests(clients);
      if (ONLY.has('sweep')) results.sweep = { single: await sweep(clients.single, 'single'), cluster: await sweep(clients.cluster, 'cluster') };
      await Promise.all(Object.values(clients).map(closeTopologyClient));
    }
    if (ONLY.has('failover')) results.failover = await failovers();
  } finally {
    await single?.stop();
    await cluster?.stop();
  }
  results.loadavgAfter = loadavg();
  console.log('load average before', results.loadavgBefore, 'after', results.loadavgAfter);
  if (args.get('out')) writeFileSync(args.get('out')!, JSON.stringify(results, null, 2));
  process.exit(0);
}

void main();
