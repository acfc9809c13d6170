/**
 * `npm run bench:security`: what the caps and the metrics cost (issue 16).
 *
 * 1. Per request, in process (this library from `lib/`, compiled by tsx; the
 *    load generator in the same process, so CPU µs/req include it — the same
 *    for every configuration, so differences are the server's): four
 *    configurations on one server each, `base` (principal only), `caps`
 *    (maxLifetime, maxActiveSessions, maxSessionsPerPrincipal), `metrics`
 *    (collectMetrics) and `both`; two routes: `read` (an existing session,
 *    read only) and `create` (a new session each request: where admission
 *    happens). Rounds alternate the configuration order; printed are the
 *    medians of the per-round ratios to `base` (paired) and CPU µs/req.
 * 2. A login under maxSessionsPerPrincipal in Redis (a private redis-server,
 *    connect-redis + redisCoordinator): commands sent and commands run in
 *    scripts per login (MONITOR), with and without the cap, the user at the
 *    cap (every login evicts one).
 *
 * Options: --duration=3 --rounds=5 --connections=10 --logins=200
 */
import http from 'node:http';
import { loadavg } from 'node:os';
import autocannon from 'autocannon';
import express, { type Request, type Response } from 'express';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { Registry } from 'prom-client';
import { createSessionManager, type SessionManager, type SessionManagerOptions } from '../lib';
import { redisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import { collectMetrics } from '../lib/prometheus';
import { commandSources, median, startBenchRedis } from './harness';

const CONFIGS = ['base', 'caps', 'metrics', 'both'] as const;
type Config = (typeof CONFIGS)[number];
const ROUTES = ['read', 'create'] as const;
type Route = (typeof ROUTES)[number];

const principal = (req: Request): string | undefined => req.get('x-user') || undefined;
const CAPS: SessionManagerOptions = { maxLifetime: 86_400, maxActiveSessions: 10_000_000, maxSessionsPerPrincipal: 1_000_000 };

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.split('=')[1]) : fallback;
}

/** One configuration's server: its URL, cookies of existing sessions, and how to stop it. */
async function serve(config: Config, connections: number): Promise<{ url: string; cookies: string[]; close(): Promise<void> }> {
  const manager = createSessionManager({ principal, ...(config === 'caps' || config === 'both' ? CAPS : {}) });
  if (config === 'metrics' || config === 'both') collectMetrics(manager, { registry: new Registry() });
  const app = express();
  app.use(manager.middleware());
  app.post('/create', (req: Request, res: Response) => {
    req.httpSession.setAttribute('n', 1);
    res.sendStatus(204);
  });
  app.get('/read', (req: Request, res: Response) => res.json(req.httpSession.getAttribute('n') ?? null));
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const cookies: string[] = [];
  for (let i = 0; i < connections; i++) {
    const res = await fetch(`${url}/create`, { method: 'POST', headers: { 'x-user': `u${i}` } });
    cookies.push(res.headers.getSetCookie()[0].split(';')[0]);
  }
  return {
    url,
    cookies,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await manager.close();
    },
  };
}

/** req/s and CPU µs per request of one run. */
async function run(target: { url: string; cookies: string[] }, route: Route, seconds: number, connections: number): Promise<{ rps: number; cpuUs: number }> {
  let next = 0;
  const cpu = process.cpuUsage();
  const result = await autocannon({
    url: `${target.url}/${route}`,
    method: route === 'create' ? 'POST' : 'GET',
    connections,
    duration: seconds,
    setupClient(client) {
      const i = next++;
      client.setHeaders(route === 'read' ? { cookie: target.cookies[i % target.cookies.length], 'x-user': `u${i % target.cookies.length}` } : {});
    },
  });
  const used = process.cpuUsage(cpu);
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${route}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, cpuUs: (used.user + used.system) / result.requests.total };
}

async function perRequest(): Promise<void> {
  const duration = option('duration', 3);
  const rounds = option('rounds', 5);
  const connections = option('connections', 10);
  process.stdout.write(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  for (const route of ROUTES) {
    const rps: Record<Config, number[]> = { base: [], caps: [], metrics: [], both: [] };
    const cpu: Record<Config, number[]> = { base: [], caps: [], metrics: [], both: [] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? CONFIGS : [...CONFIGS].reverse();
      for (const config of order) {
        const target = await serve(config, connections);
        await run(target, route, 1, connections); // warm-up
        const measured = await run(target, route, duration, connections);
        await target.close();
        rps[config].push(measured.rps);
        cpu[config].push(measured.cpuUs);
      }
    }
    const ratio = (config: Config): number => median(rps[config].map((value, i) => value / rps.base[i]));
    const rows = CONFIGS.map((c) => `| ${route} | ${c} | ${Math.round(median(rps[c]))} | ${ratio(c).toFixed(3)} | ${median(cpu[c]).toFixed(1)} |`);
    process.stdout.write(`| route | config | req/s (median) | ratio to base (median of rounds) | CPU µs/req (median) |\n|---|---|---|---|---|\n${rows.join('\n')}\n`);
  }
  process.stdout.write(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
}

/** A Redis manager on `url` under `prefix`, with or without the per-user cap, and its login route. */
async function redisLogins(url: string, capped: boolean, logins: number, admin: Parameters<typeof commandSources>[0]): Promise<Awaited<ReturnType<typeof commandSources>>> {
  const client = createClient({ url });
  await client.connect();
  const prefix = `bench-${capped ? 'capped' : 'plain'}:`;
  const manager: SessionManager = createSessionManager({
    store: new RedisStore({ client, prefix: `${prefix}sess:` }),
    coordinator: redisCoordinator({ client, prefix: `${prefix}esm:` }),
    principal,
    ...(capped ? { maxSessionsPerPrincipal: 3 } : {}),
  });
  const app = express();
  app.use(manager.middleware());
  app.post('/login', (req: Request, res: Response) => {
    req.httpSession.setAttribute('n', 1);
    res.sendStatus(204);
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const login = () => fetch(`${base}/login`, { method: 'POST', headers: { 'x-user': 'ann' } });
  for (let i = 0; i < 3; i++) await login(); // the user at the cap: every measured login evicts one
  await new Promise((resolve) => setTimeout(resolve, 200));
  try {
    return await commandSources(admin, async () => {
      for (let i = 0; i < logins; i++) if ((await login()).status !== 204) throw new Error('login failed');
      await new Promise((resolve) => setTimeout(resolve, 200)); // the leaves after the responses
      return { requests: logins };
    });
  } finally {
    server.closeAllConnections();
    server.close();
    await manager.close();
    await client.close();
  }
}

async function loginCost(): Promise<void> {
  const logins = option('logins', 200);
  const { redis, admin } = await startBenchRedis([true], () => true, (m) => process.stdout.write(`${m}\n`));
  if (!redis || !admin) return;
  try {
    process.stdout.write('\n| login (user at the cap) | commands sent / login | by command | commands in scripts / login |\n|---|---|---|---|\n');
    for (const capped of [false, true]) {
      const found = await redisLogins(redis.url, capped, logins, admin);
      const by = Object.entries(found.sentByCommand).map(([c, n]) => `${c} ${n.toFixed(2)}`).join(', ');
      process.stdout.write(`| ${capped ? 'maxSessionsPerPrincipal: 3' : 'no cap'} | ${found.sent.toFixed(2)} | ${by} | ${found.inScripts.toFixed(2)} |\n`);
    }
  } finally {
    await admin.close();
    await redis.stop();
  }
}

async function main(): Promise<void> {
  const only = process.argv.find((a) => a.startsWith('--only='))?.split('=')[1];
  if (only !== 'redis') await perRequest();
  if (only !== 'requests') await loginCost();
  process.exit(0);
}

void main();
