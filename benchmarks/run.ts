/**
 * `npm run bench`: req/s and p99 latency of a read route and a write route
 * for bare Express, express-session and this library, on the in-process store
 * and on connect-redis (with and without redisCoordinator). One compiled
 * server process per configuration, a private redis-server, autocannon in
 * this process. Writes benchmarks/results.json and prints a markdown table.
 *
 * Options: --duration=4 --warmup=3 --connections=10 --rounds=6
 *          --only=esm+memory,express (configurations) --out=benchmarks/results.json
 *          --quiet=0.3 (before each run, wait until the rest of the machine uses
 *          less than this many cores; at most 5 s per run, 90 s in all; 0 = never wait)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findOnPath, startRedisServer, type RedisServer } from '../test/support/redis-server';
import { CONFIGS, DESCRIPTIONS, ROUTES, expressSessionPeer, usesRedis, type ConfigName, type RouteName } from './configs';
import {
  adminClient,
  commandSources,
  compileServers,
  waitForQuiet,
  createSessions,
  git,
  load,
  measureRun,
  machine,
  median,
  startServer,
  type CommandSources,
  type RunningServer,
  type CpuUse,
  type LoadResult,
} from './harness';

interface Options {
  duration: number;
  warmup: number;
  connections: number;
  rounds: number;
  only: ConfigName[];
  out: string;
  quiet: number;
}

interface Measurement extends LoadResult {
  config: ConfigName;
  route: RouteName;
  round: number;
  cpu?: CpuUse;
  /** Server CPU time per request, µs (all its threads). */
  serverCpuUsPerRequest?: number;
  /** redis-server CPU time per request, µs. */
  redisCpuUsPerRequest?: number;
  /** How long the run waited for the rest of the machine to calm down, ms. */
  waitedMs: number;
}

interface Summary {
  config: ConfigName;
  route: RouteName;
  /** Median over rounds. */
  rps: number;
  /** req/s of each round. */
  rpsByRound: number[];
  /** Median over rounds, ms. */
  latencyP99: number;
  /** Median over rounds of req/s ÷ bare Express's req/s in the same round. */
  vsExpress: number | null;
  /** Same, ÷ express-session on the same store. */
  vsExpressSession: number | null;
  /** Median server CPU per request, µs. */
  serverCpuUsPerRequest: number | null;
  /** Express's CPU per request / this one's: the req/s ratio if the server had a core to itself. */
  cpuVsExpress: number | null;
  cpuVsExpressSession: number | null;
  /** Mean CPU the rest of the machine used during the measured runs, in cores. */
  otherCores: number | null;
  /** Commands sent to Redis per request (a script call counts once), from a MONITOR pass apart from the measured runs. */
  redisCommandsPerRequest: number | null;
  /** Median redis-server CPU per request, µs. */
  redisCpuUsPerRequest: number | null;
  redisCommands?: Record<string, number>;
  /** Commands run inside the coordinator's scripts, per request. */
  redisCommandsInScripts?: Record<string, number>;
}

/** How long each MONITOR pass (the Redis command census of one configuration and route) runs, s. */
const CENSUS_SECONDS = 2;

function parseOptions(argv: string[]): Options {
  const get = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const only = get('only')?.split(',') ?? [...CONFIGS];
  for (const config of only) if (!CONFIGS.includes(config as ConfigName)) throw new Error(`unknown configuration ${config}`);
  return {
    duration: Number(get('duration') ?? 4),
    warmup: Number(get('warmup') ?? 3),
    connections: Number(get('connections') ?? 10),
    rounds: Number(get('rounds') ?? 6),
    only: only as ConfigName[],
    out: get('out') ?? join(__dirname, 'results.json'),
    quiet: Number(get('quiet') ?? 0.3),
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = Date.now();
  log(`compiling lib/ and the server to benchmarks/.build ...`);
  await compileServers();

  let configs = options.only;
  let redis: RedisServer | undefined;
  if (configs.some(usesRedis)) {
    const binary = findOnPath('redis-server');
    if (binary) redis = await startRedisServer(binary);
    else {
      log('!!! redis-server is not on PATH: the Redis configurations are SKIPPED (apt-get install redis-server)');
      configs = configs.filter((c) => !usesRedis(c));
    }
  }
  const admin = redis ? await adminClient(redis.url) : undefined;

  const measurements: Measurement[] = [];
  let waitBudgetMs = 90_000;
  const servers = new Map<ConfigName, { server: RunningServer; cookies: string[] }>();
  const census = new Map<string, CommandSources>();
  try {
    // Every configuration's server is up for the whole bench (only one is under load at a
    // time), so runs can be interleaved finely: drift of the machine hits all alike.
    for (const config of configs) {
      const server = await startServer(config, { redisUrl: redis?.url });
      servers.set(config, { server, cookies: await createSessions(server, options.connections) });
    }
    log(`${configs.length} servers up; warming each route up for ${options.warmup} s`);
    for (const config of configs) {
      const { server, cookies } = servers.get(config)!;
      for (const route of ROUTES) await load(server, route, cookies, { connections: options.connections, duration: options.warmup });
    }
    for (let round = 1; round <= options.rounds; round++) {
      // Each round starts at another configuration and flips the route order.
      const order = configs.map((_, i) => configs[(i + round - 1) % configs.length]);
      const routes = round % 2 === 1 ? ROUTES : [...ROUTES].reverse();
      for (const config of order) {
        const { server, cookies } = servers.get(config)!;
        for (const route of routes) {
          const waitedMs = options.quiet > 0 && waitBudgetMs > 0 ? await waitForQuiet(options.quiet, Math.min(5_000, waitBudgetMs)) : 0;
          waitBudgetMs -= waitedMs;
          const run = await measureRun(server, route, cookies, {
            connections: options.connections,
            duration: options.duration,
            redisPid: usesRedis(config) ? redis?.pid : undefined,
          });
          const { result } = run;
          const m: Measurement = { config, route, round, ...result, waitedMs };
          if (run.serverCpuUsPerRequest !== undefined) {
            m.cpu = run.cpu;
            m.serverCpuUsPerRequest = run.serverCpuUsPerRequest;
            m.redisCpuUsPerRequest = run.redisCpuUsPerRequest;
          }
          measurements.push(m);
          log(
            `round ${round} ${config.padEnd(22)} ${route.padEnd(5)} ${result.rps.toFixed(0).padStart(6)} req/s` +
              `  p99 ${String(result.latencyP99).padStart(3)} ms` +
              (m.serverCpuUsPerRequest ? `  server ${m.serverCpuUsPerRequest.toFixed(0)} µs CPU/req` : '') +
              (m.cpu ? `  others ${m.cpu.otherCores.toFixed(2)} cores` : '') +
              (waitedMs > 600 ? ` (waited ${(waitedMs / 1000).toFixed(1)} s)` : '') +
              (result.non2xx || result.errors ? `  !! non2xx=${result.non2xx} errors=${result.errors}` : ''),
          );
        }
      }
    }
    // What each Redis configuration sends and runs in scripts, per request: MONITOR
    // slows Redis down, so it counts a pass of its own.
    for (const config of configs.filter(usesRedis)) {
      const { server, cookies } = servers.get(config)!;
      for (const route of ROUTES) {
        census.set(`${config} ${route}`, await commandSources(admin!, () => load(server, route, cookies, { connections: options.connections, duration: CENSUS_SECONDS })));
      }
    }
  } finally {
    for (const { server } of servers.values()) await server.stop();
    if (admin) admin.destroy();
    await redis?.stop();
  }

  const summary = summarise(measurements, configs, census);
  const results = {
    date: new Date().toISOString(),
    durationOfBenchSeconds: Math.round((Date.now() - started) / 1000),
    machine: machine(),
    git: git(),
    parameters: {
      connections: options.connections,
      durationSeconds: options.duration,
      warmupSeconds: options.warmup,
      rounds: options.rounds,
      serversRunAs: 'plain node, CommonJS compiled by tsup into benchmarks/.build (lib/ as it is in the working tree)',
      quietThresholdCores: options.quiet,
      sessions: `one per connection (${options.connections}), created before the runs; express-session: resave false, saveUninitialized false; both sign the cookie with a secret`,
    },
    descriptions: DESCRIPTIONS,
    summary,
    measurements,
  };
  writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n${markdown(summary)}\n`);
  log(`wrote ${options.out} (${results.durationOfBenchSeconds} s)`);
  const failures = measurements.filter((m) => m.non2xx > 0 || m.errors > 0);
  if (failures.length > 0) {
    log(`!!! ${failures.length} runs had non-2xx answers or errors; see results.json`);
    process.exitCode = 1;
  }
}

function summarise(measurements: Measurement[], configs: ConfigName[], census: Map<string, CommandSources>): Summary[] {
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const of = (config: ConfigName, route: RouteName): Measurement[] =>
    measurements.filter((m) => m.config === config && m.route === route);
  /**
   * Median over rounds of this configuration's figure divided by the baseline's in the same
   * round (runs minutes apart on a drifting machine are not compared).
   */
  const paired = (
    config: ConfigName,
    baseline: ConfigName | undefined,
    route: RouteName,
    value: (m: Measurement) => number | undefined,
    invert = false,
  ): number | null => {
    if (!baseline) return null;
    const ratios: number[] = [];
    for (const m of of(config, route)) {
      const b = of(baseline, route).find((x) => x.round === m.round);
      const mine = value(m);
      const theirs = b && value(b);
      if (mine && theirs) ratios.push(invert ? theirs / mine : mine / theirs);
    }
    return ratios.length ? median(ratios) : null;
  };
  const rps = (m: Measurement): number => m.rps;
  const cpuPerRequest = (m: Measurement): number | undefined => m.serverCpuUsPerRequest;
  const summary: Summary[] = [];
  for (const route of ROUTES) {
    for (const config of configs) {
      const ms = of(config, route);
      if (!ms.length) continue;
      const cpu = ms.flatMap((m) => (m.serverCpuUsPerRequest ? [m.serverCpuUsPerRequest] : []));
      const peer = expressSessionPeer(config);
      const others = ms.flatMap((m) => (m.cpu ? [m.cpu.otherCores] : []));
      const s: Summary = {
        config,
        route,
        rps: median(ms.map(rps)),
        rpsByRound: ms.map(rps),
        latencyP99: median(ms.map((m) => m.latencyP99)),
        vsExpress: paired(config, 'express', route, rps),
        vsExpressSession: paired(config, peer, route, rps),
        serverCpuUsPerRequest: cpu.length ? median(cpu) : null,
        cpuVsExpress: paired(config, 'express', route, cpuPerRequest, true),
        cpuVsExpressSession: paired(config, peer, route, cpuPerRequest, true),
        otherCores: others.length ? mean(others) : null,
        redisCommandsPerRequest: null,
        redisCpuUsPerRequest: null,
      };
      const redisCpu = ms.flatMap((m) => (m.redisCpuUsPerRequest === undefined ? [] : [m.redisCpuUsPerRequest]));
      if (redisCpu.length) s.redisCpuUsPerRequest = median(redisCpu);
      const counted = census.get(`${config} ${route}`);
      if (counted) {
        s.redisCommandsPerRequest = counted.sent;
        s.redisCommands = rounded(counted.sentByCommand);
        s.redisCommandsInScripts = rounded(counted.inScriptsByCommand);
      }
      summary.push(s);
    }
  }
  return summary;
}

/** Each figure to two decimals. */
function rounded(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, Math.round(v * 100) / 100]));
}

function markdown(summary: Summary[]): string {
  const ratio = (x: number | null): string => (x === null ? '' : `${x.toFixed(2)}×`);
  const commands = (s: Summary): string => {
    if (s.redisCommandsPerRequest === null) return '';
    const sent = Object.entries(s.redisCommands ?? {})
      .filter(([, v]) => v >= 0.01)
      .map(([k, v]) => `${k.toUpperCase()} ${v.toFixed(2)}`)
      .join(', ');
    return `${s.redisCommandsPerRequest.toFixed(2)} (${sent})`;
  };
  const inScripts = (s: Summary): string =>
    s.redisCommandsInScripts ? Object.values(s.redisCommandsInScripts).reduce((a, b) => a + b, 0).toFixed(1) : '';
  const throughput = [
    '| route | configuration | req/s (median) | each round | p99 ms | vs Express | vs express-session, same store |',
    '|---|---|---:|---|---:|---:|---:|',
  ];
  const cost = [
    '| route | configuration | server CPU µs/req | Express ÷ this | express-session ÷ this | Redis commands/req (sent) | in scripts | Redis CPU µs/req | other load (cores) |',
    '|---|---|---:|---:|---:|---|---:|---:|---:|',
  ];
  for (const s of summary) {
    throughput.push(
      `| ${s.route} | ${s.config} | ${s.rps.toFixed(0)} | ${s.rpsByRound.map((r) => r.toFixed(0)).join(' / ')} | ${s.latencyP99.toFixed(0)} | ${ratio(s.vsExpress)} | ${ratio(s.vsExpressSession)} |`,
    );
    cost.push(
      `| ${s.route} | ${s.config} | ${s.serverCpuUsPerRequest?.toFixed(0) ?? ''} | ${ratio(s.cpuVsExpress)} | ${ratio(s.cpuVsExpressSession)} | ${commands(s)} | ${inScripts(s)} | ${s.redisCpuUsPerRequest?.toFixed(1) ?? ''} | ${s.otherCores?.toFixed(2) ?? ''} |`,
    );
  }
  const lines = [...throughput, '', ...cost];
  return lines.join('\n');
}

function log(message: string): void {
  console.error(`[bench] ${message}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
