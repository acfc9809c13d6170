/**
 * `npm run bench:serial` (`npx tsx benchmarks/serial.ts`): what serial access
 * costs (issue 5). req/s of this library with `serialAccess` on (the default)
 * and off, on the in-process MemoryStore, on connect-redis with the
 * in-process coordinator, and on connect-redis + redisCoordinator (serial
 * access then takes a Redis lock per request), with 50 connections each on
 * its own session ("distinct") or all 50 on one session ("one": serial access
 * runs them one at a time). Routes: `GET /read` and `GET /slow-read` (a 1 ms
 * timer before the read, so a request holds its session across async work).
 *
 * One compiled server process per configuration × serial on/off, all up for
 * the whole run, a private redis-server on a free port (never the machine's
 * Redis), autocannon in this process. Each round measures every cell once,
 * starting at another cell; ratios are paired within a round (on ÷ off of
 * the same cell, one ÷ distinct of the same server), then the median over
 * rounds. Writes benchmarks/serial-results.json and prints a markdown table.
 *
 * Options: --duration=3 (s per run) --warmup=2 --rounds=3 --connections=50
 *          --only=esm+memory,esm+redis,esm+redis+coordinator
 *          --out=benchmarks/serial-results.json
 *          --quiet=0.3 (before each run, wait until the rest of the machine
 *          uses less than this many cores; at most 2 s per run, 30 s in all)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findOnPath, startRedisServer, type RedisServer } from '../test/support/redis-server';
import { usesRedis, variantArgs, type ConfigName, type ServerRoute } from './configs';
import {
  adminClient,
  averageRecords,
  BUILD_DIR,
  compileServers,
  createSessions,
  git,
  load,
  measureRun,
  machine,
  median,
  startServer,
  waitForQuiet,
  type CommandsPerRequest,
  type LoadResult,
  type RunningServer,
} from './harness';

/** The configurations this bench knows, with the routes and session modes measured on each. */
const PLAN: Record<string, { routes: SerialRoute[]; sessions: Sessions[] }> = {
  'esm+memory': { routes: ['read', 'slow-read'], sessions: ['distinct', 'one'] },
  'esm+redis': { routes: ['read'], sessions: ['distinct', 'one'] },
  'esm+redis+coordinator': { routes: ['read', 'slow-read'], sessions: ['distinct', 'one'] },
};

type SerialRoute = Extract<ServerRoute, 'read' | 'slow-read'>;
type Sessions = 'distinct' | 'one';
type Serial = 'on' | 'off';

/** One thing measured: a server (configuration × serial access) under one load. */
interface Cell {
  config: ConfigName;
  serial: Serial;
  route: SerialRoute;
  sessions: Sessions;
}

interface Options {
  duration: number;
  warmup: number;
  rounds: number;
  connections: number;
  only: ConfigName[];
  out: string;
  quiet: number;
}

interface Measurement extends Cell, LoadResult {
  round: number;
  serverCpuUsPerRequest?: number;
  redisCommands?: CommandsPerRequest;
  otherCores?: number;
  waitedMs: number;
}

interface Summary extends Cell {
  /** Median over rounds. */
  rps: number;
  rpsByRound: number[];
  latencyP50: number;
  latencyP99: number;
  /** On the "on" rows: median over rounds of on ÷ off (same configuration, route and sessions). */
  onVsOff: number | null;
  /** On the "one" rows: median over rounds of one ÷ distinct (same server and route). */
  oneVsDistinct: number | null;
  serverCpuUsPerRequest: number | null;
  redisCommandsPerRequest: number | null;
  redisCommands?: Record<string, number>;
  otherCores: number | null;
}

const SERIALS: Serial[] = ['on', 'off'];

function parseOptions(argv: string[]): Options {
  const get = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const only = get('only')?.split(',') ?? Object.keys(PLAN);
  for (const config of only) if (!(config in PLAN)) throw new Error(`unknown configuration ${config}; one of ${Object.keys(PLAN).join(', ')}`);
  return {
    duration: Number(get('duration') ?? 3),
    warmup: Number(get('warmup') ?? 2),
    rounds: Number(get('rounds') ?? 3),
    connections: Number(get('connections') ?? 50),
    only: only as ConfigName[],
    out: get('out') ?? join(__dirname, 'serial-results.json'),
    quiet: Number(get('quiet') ?? 0.3),
  };
}

function cellsOf(configs: ConfigName[]): Cell[] {
  const cells: Cell[] = [];
  for (const config of configs) {
    const { routes, sessions } = PLAN[config];
    for (const route of routes) for (const s of sessions) for (const serial of SERIALS) cells.push({ config, serial, route, sessions: s });
  }
  return cells;
}

const serverKey = (c: Pick<Cell, 'config' | 'serial'>): string => `${c.config} serial ${c.serial}`;
const cellKey = (c: Cell): string => `${serverKey(c)} ${c.route} ${c.sessions}`;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = Date.now();
  const buildDir = join(BUILD_DIR, 'serial');
  log('compiling lib/ and the server to benchmarks/.build/serial ...');
  await compileServers(buildDir);

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
  const cells = cellsOf(configs);

  const measurements: Measurement[] = [];
  let waitBudgetMs = 30_000;
  const servers = new Map<string, { server: RunningServer; cookies: string[] }>();
  try {
    // 1. Every server is up for the whole run; one session per connection, created through POST /setup.
    for (const config of configs) {
      for (const serial of SERIALS) {
        const server = await startServer(config, { redisUrl: redis?.url, buildDir, args: variantArgs({ serialAccess: serial === 'on' }) });
        servers.set(serverKey({ config, serial }), { server, cookies: await createSessions(server, options.connections) });
      }
    }
    // 2. Warm-up: each server's routes, distinct sessions.
    log(`${servers.size} servers up; warming each route up for ${options.warmup} s`);
    for (const config of configs) {
      for (const serial of SERIALS) {
        const { server, cookies } = servers.get(serverKey({ config, serial }))!;
        for (const route of PLAN[config].routes) await load(server, route, cookies, { connections: options.connections, duration: options.warmup });
      }
    }
    // 3. Rounds: every cell once per round, each round starting elsewhere and going the other way.
    const step = Math.max(1, Math.floor(cells.length / options.rounds));
    for (let round = 1; round <= options.rounds; round++) {
      const rotated = cells.map((_, i) => cells[(i + (round - 1) * step) % cells.length]);
      const order = round % 2 === 1 ? rotated : rotated.reverse();
      for (const cell of order) {
        const { server, cookies } = servers.get(serverKey(cell))!;
        const waitedMs = options.quiet > 0 && waitBudgetMs > 0 ? await waitForQuiet(options.quiet, Math.min(2_000, waitBudgetMs)) : 0;
        waitBudgetMs -= waitedMs;
        // "one": every connection sends the first session's cookie.
        const sent = cell.sessions === 'one' ? [cookies[0]] : cookies;
        const run = await measureRun(server, cell.route, sent, {
          connections: options.connections,
          duration: options.duration,
          redisPid: usesRedis(cell.config) ? redis?.pid : undefined,
          admin,
        });
        const { result } = run;
        const m: Measurement = { ...cell, round, ...result, waitedMs, redisCommands: run.redisCommands };
        if (run.serverCpuUsPerRequest !== undefined) {
          m.serverCpuUsPerRequest = run.serverCpuUsPerRequest;
          m.otherCores = run.cpu.otherCores;
        }
        measurements.push(m);
        log(
          `round ${round} ${cellKey(cell).padEnd(52)} ${result.rps.toFixed(0).padStart(6)} req/s` +
            `  p50 ${String(result.latencyP50).padStart(3)} p99 ${String(result.latencyP99).padStart(4)} ms` +
            (m.serverCpuUsPerRequest ? `  server ${m.serverCpuUsPerRequest.toFixed(0)} µs CPU/req` : '') +
            (m.otherCores !== undefined ? `  others ${m.otherCores.toFixed(2)} cores` : '') +
            (m.redisCommands ? `  redis ${m.redisCommands.sent.toFixed(2)} cmd/req` : '') +
            (result.non2xx || result.errors || result.timeouts ? `  !! non2xx=${result.non2xx} errors=${result.errors} timeouts=${result.timeouts}` : ''),
        );
      }
    }
  } finally {
    for (const { server } of servers.values()) await server.stop();
    if (admin) admin.destroy();
    await redis?.stop();
  }

  const summary = summarise(measurements, cells);
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
      quietThresholdCores: options.quiet,
      serversRunAs: 'plain node, CommonJS compiled by tsup into benchmarks/.build/serial (lib/ as it is in the working tree)',
      sessions: `distinct: one session per connection (${options.connections}); one: every connection sends the same session's cookie`,
      routes: 'read: GET /read reads the user attribute; slow-read: GET /slow-read awaits a 1 ms timer, then reads it',
    },
    summary,
    measurements,
  };
  writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n${markdown(summary)}\n`);
  log(`wrote ${options.out} (${results.durationOfBenchSeconds} s)`);
  const failures = measurements.filter((m) => m.non2xx > 0 || m.errors > 0 || m.timeouts > 0);
  if (failures.length > 0) {
    log(`!!! ${failures.length} runs had non-2xx answers, errors or timeouts; see ${options.out}`);
    process.exitCode = 1;
  }
}

function summarise(measurements: Measurement[], cells: Cell[]): Summary[] {
  const of = (cell: Cell): Measurement[] => measurements.filter((m) => cellKey(m) === cellKey(cell));
  /** Median over rounds of `cell`'s req/s ÷ `baseline`'s in the same round. */
  const paired = (cell: Cell, baseline: Cell): number | null => {
    const ratios: number[] = [];
    for (const m of of(cell)) {
      const b = of(baseline).find((x) => x.round === m.round);
      if (b && b.rps > 0) ratios.push(m.rps / b.rps);
    }
    return ratios.length ? median(ratios) : null;
  };
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const summary: Summary[] = [];
  for (const cell of cells) {
    const ms = of(cell);
    if (!ms.length) continue;
    const cpu = ms.flatMap((m) => (m.serverCpuUsPerRequest === undefined ? [] : [m.serverCpuUsPerRequest]));
    const others = ms.flatMap((m) => (m.otherCores === undefined ? [] : [m.otherCores]));
    const withCommands = ms.filter((m) => m.redisCommands);
    summary.push({
      ...cell,
      rps: median(ms.map((m) => m.rps)),
      rpsByRound: ms.map((m) => m.rps),
      latencyP50: median(ms.map((m) => m.latencyP50)),
      latencyP99: median(ms.map((m) => m.latencyP99)),
      onVsOff: cell.serial === 'on' ? paired(cell, { ...cell, serial: 'off' }) : null,
      oneVsDistinct: cell.sessions === 'one' ? paired(cell, { ...cell, sessions: 'distinct' }) : null,
      serverCpuUsPerRequest: cpu.length ? median(cpu) : null,
      redisCommandsPerRequest: withCommands.length ? mean(withCommands.map((m) => m.redisCommands!.sent)) : null,
      ...(withCommands.length ? { redisCommands: averageRecords(withCommands.map((m) => m.redisCommands!.sentByCommand)) } : {}),
      otherCores: others.length ? mean(others) : null,
    });
  }
  return summary;
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
  const lines = [
    '| route | configuration | sessions | serial | req/s (median) | each round | p50 / p99 ms | on ÷ off | one ÷ distinct | server CPU µs/req | Redis commands/req (sent) | other load (cores) |',
    '|---|---|---|---|---:|---|---:|---:|---:|---:|---|---:|',
  ];
  for (const s of summary) {
    lines.push(
      `| ${s.route} | ${s.config} | ${s.sessions} | ${s.serial} | ${s.rps.toFixed(0)} | ${s.rpsByRound.map((r) => r.toFixed(0)).join(' / ')} | ` +
        `${s.latencyP50.toFixed(0)} / ${s.latencyP99.toFixed(0)} | ${ratio(s.onVsOff)} | ${ratio(s.oneVsDistinct)} | ` +
        `${s.serverCpuUsPerRequest?.toFixed(0) ?? ''} | ${commands(s)} | ${s.otherCores?.toFixed(2) ?? ''} |`,
    );
  }
  return lines.join('\n');
}

function log(message: string): void {
  console.error(`[serial] ${message}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
