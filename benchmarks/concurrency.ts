/**
 * `npm run bench:concurrency` (`npx tsx benchmarks/concurrency.ts`): many
 * concurrent requests of one session (issue 12; docs/architecture.md,
 * "Commit"). req/s of 50 connections all on **one** session (every
 * connection sends the same cookie) against the same 50 connections on
 * **distinct** sessions (one each), for this library with serial access off
 * (the default: commits merge) and on, on the in-process MemoryStore
 * (`esm+memory`), on connect-redis with the in-process coordinator
 * (`esm+redis`) and on connect-redis + redisCoordinator
 * (`esm+redis+coordinator`), with express-session 1.19 on its MemoryStore
 * and on connect-redis as the baselines. Routes: `GET /read`,
 * `GET /slow-read` (a 1 ms timer before the read: the request holds its
 * session across async work) and `POST /write-own` (sets another attribute
 * for each request, so concurrent requests of one session change different
 * attributes and every commit of this library merges).
 *
 * One compiled server process per configuration × serial access, all up for
 * the whole run, a private redis-server on a free port (never the machine's
 * Redis), autocannon in this process. Each round measures every cell once,
 * starting at another cell; ratios are paired within a round (one ÷ distinct
 * of the same server, this library ÷ express-session on the same store, on ÷
 * off), then the median over rounds. After the rounds, a census pass counts
 * the Redis commands of each Redis cell by source (sent, or run inside a
 * script) with MONITOR, apart from the measured runs. Writes
 * benchmarks/concurrency-results.json and prints markdown tables, with the
 * goals of issue 12 marked met or not.
 *
 * Options: --duration=2 (s per run) --warmup=2 --rounds=4 --connections=50
 *          --only=express-session+memory,esm+memory,express-session+redis,esm+redis,esm+redis+coordinator
 *          --serial=off,on (this library's settings to run)
 *          --routes=read,slow-read,write-own
 *          --census=1 (s of load per Redis cell under MONITOR; 0: no census)
 *          --out=benchmarks/concurrency-results.json
 *          --quiet=0.3 (before each run, wait until the rest of the machine
 *          uses less than this many cores; at most 2 s per run, 60 s in all)
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { expressSessionPeer, isThisLibrary, usesRedis, variantArgs, type ConfigName, type ServerRoute } from './configs';
import {
  averageRecords,
  BUILD_DIR,
  commandSources,
  compileServers,
  createSessions,
  git,
  load,
  measureRun,
  machine,
  median,
  startBenchRedis,
  startServer,
  waitForQuiet,
  type CommandSources,
  type CommandsPerRequest,
  type LoadResult,
  type RunningServer,
} from './harness';

/** The configurations this bench knows: this library's three and express-session's two. */
const BENCH_CONFIGS = ['express-session+memory', 'esm+memory', 'express-session+redis', 'esm+redis', 'esm+redis+coordinator'] as const;
type BenchConfig = Extract<ConfigName, (typeof BENCH_CONFIGS)[number]>;

const BENCH_ROUTES = ['read', 'slow-read', 'write-own'] as const;
type BenchRoute = Extract<ServerRoute, (typeof BENCH_ROUTES)[number]>;

const SESSIONS = ['distinct', 'one'] as const;
type Sessions = (typeof SESSIONS)[number];

type Serial = 'off' | 'on';

/** One server process: a configuration and, for this library, its serial access setting. */
interface Server {
  config: BenchConfig;
  /** This library's `serialAccess`; absent for express-session, which has none. */
  serial?: Serial;
}

/** One thing measured: a server under one load. */
interface Cell extends Server {
  route: BenchRoute;
  sessions: Sessions;
}

interface Options {
  duration: number;
  warmup: number;
  rounds: number;
  connections: number;
  only: BenchConfig[];
  serial: Serial[];
  routes: BenchRoute[];
  census: number;
  out: string;
  quiet: number;
}

interface Measurement extends Cell, LoadResult {
  round: number;
  serverCpuUsPerRequest?: number;
  redisCpuUsPerRequest?: number;
  /** From `INFO commandstats` around the measured run. */
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
  /** On the "one" rows: median over rounds of one ÷ distinct (same server and route). */
  oneVsDistinct: number | null;
  /** This library's rows: median over rounds of req/s ÷ express-session's on the same store (same route and sessions). */
  vsExpressSession: number | null;
  /** Serial on rows: median over rounds of on ÷ off (same configuration, route and sessions). */
  onVsOff: number | null;
  serverCpuUsPerRequest: number | null;
  redisCpuUsPerRequest: number | null;
  /** Every command Redis ran per request during the measured runs (`INFO commandstats`: sent and in scripts alike), mean over rounds. */
  redisCommandsAll: number | null;
  /** The census pass (MONITOR): commands sent and run inside scripts, per request. */
  redisCommandSources: CommandSources | null;
  otherCores: number | null;
}

/** One of issue 12's goals, checked on one cell. */
interface Goal {
  goal: string;
  cell: Cell;
  threshold: number;
  /** Median of the paired req/s ratios over rounds. */
  ratio: number | null;
  byRound: number[];
  met: boolean | null;
  /** Some rounds on each side of the threshold: the verdict is within the machine's noise. */
  split: boolean;
  /**
   * The same comparison by server CPU per request (the baseline's ÷ this
   * cell's, paired, median): what the req/s ratio would be if the server had
   * a core to itself; steadier than req/s on a shared machine.
   */
  cpuRatio: number | null;
}

/** Issue 12's goal for reads: one session at least this fraction of distinct sessions. */
const ONE_VS_DISTINCT_GOAL = 0.9;
/** …and every configuration at least express-session's req/s on the same store with one shared session. */
const VS_EXPRESS_SESSION_GOAL = 1;

function parseOptions(argv: string[]): Options {
  const get = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const only = get('only')?.split(',') ?? [...BENCH_CONFIGS];
  for (const config of only) {
    if (!(BENCH_CONFIGS as readonly string[]).includes(config)) throw new Error(`unknown configuration ${config}; one of ${BENCH_CONFIGS.join(', ')}`);
  }
  const serial = get('serial')?.split(',') ?? ['off', 'on'];
  for (const s of serial) if (s !== 'off' && s !== 'on') throw new Error(`--serial takes off, on or off,on; not ${s}`);
  const routes = get('routes')?.split(',') ?? [...BENCH_ROUTES];
  for (const r of routes) if (!(BENCH_ROUTES as readonly string[]).includes(r)) throw new Error(`unknown route ${r}; one of ${BENCH_ROUTES.join(', ')}`);
  return {
    duration: Number(get('duration') ?? 2),
    warmup: Number(get('warmup') ?? 2),
    rounds: Number(get('rounds') ?? 4),
    connections: Number(get('connections') ?? 50),
    only: only as BenchConfig[],
    serial: serial as Serial[],
    routes: routes as BenchRoute[],
    census: Number(get('census') ?? 1),
    out: get('out') ?? join(__dirname, 'concurrency-results.json'),
    quiet: Number(get('quiet') ?? 0.3),
  };
}

function serversOf(configs: BenchConfig[], serials: Serial[]): Server[] {
  const ordered = BENCH_CONFIGS.filter((config) => configs.includes(config));
  return ordered.flatMap((config) => (isThisLibrary(config) ? serials.map((serial) => ({ config, serial })) : [{ config }]));
}

/**
 * Route by route, server by server (each express-session baseline just
 * before this library on its store), distinct then one session: the cells
 * compared with each other run close together.
 */
function cellsOf(servers: Server[], routes: BenchRoute[]): Cell[] {
  return routes.flatMap((route) => servers.flatMap((server) => SESSIONS.map((sessions) => ({ ...server, route, sessions }))));
}

const serverKey = (s: Server): string => (s.serial ? `${s.config} serial ${s.serial}` : s.config);
const cellKey = (c: Cell): string => `${serverKey(c)} ${c.route} ${c.sessions}`;

/** "one": every connection sends the first session's cookie. */
const cookiesFor = (sessions: Sessions, cookies: string[]): string[] => (sessions === 'one' ? [cookies[0]] : cookies);

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = Date.now();
  const loadBefore = loadavg();
  const buildDir = join(BUILD_DIR, 'concurrency');
  log(`load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}; compiling lib/ and the server to benchmarks/.build/concurrency ...`);
  await compileServers(buildDir);

  const { configs, redis, admin } = await startBenchRedis(options.only, usesRedis, log);
  const cells = cellsOf(serversOf(configs, options.serial), options.routes);

  const measurements: Measurement[] = [];
  const census = new Map<string, CommandSources>();
  let waitBudgetMs = 60_000;
  const running = new Map<string, { server: RunningServer; cookies: string[] }>();
  const of = (cell: Server): { server: RunningServer; cookies: string[] } => running.get(serverKey(cell))!;
  /** Measures one cell once (CPU, and Redis counters for the Redis configurations). */
  async function measureCell(cell: Cell, round: number, waitedMs: number): Promise<Measurement> {
    const { server, cookies } = of(cell);
    const run = await measureRun(server, cell.route, cookiesFor(cell.sessions, cookies), {
      connections: options.connections,
      duration: options.duration,
      redisPid: usesRedis(cell.config) ? redis?.pid : undefined,
      admin,
    });
    const { result } = run;
    const m: Measurement = { ...cell, round, ...result, waitedMs, redisCommands: run.redisCommands };
    if (run.serverCpuUsPerRequest !== undefined) {
      m.serverCpuUsPerRequest = run.serverCpuUsPerRequest;
      m.redisCpuUsPerRequest = run.redisCpuUsPerRequest;
      m.otherCores = run.cpu.otherCores;
    }
    log(
      `round ${round} ${cellKey(cell).padEnd(52)} ${result.rps.toFixed(0).padStart(6)} req/s` +
        `  p50 ${String(result.latencyP50).padStart(3)} p99 ${String(result.latencyP99).padStart(4)} ms` +
        (m.serverCpuUsPerRequest ? `  server ${m.serverCpuUsPerRequest.toFixed(0)} µs CPU/req` : '') +
        (m.otherCores !== undefined ? `  others ${m.otherCores.toFixed(2)} cores` : '') +
        (m.redisCommands ? `  redis ${allCommands(m.redisCommands).toFixed(2)} cmd/req` : '') +
        (result.non2xx || result.errors || result.timeouts ? `  !! non2xx=${result.non2xx} errors=${result.errors} timeouts=${result.timeouts}` : ''),
    );
    return m;
  }

  try {
    // 1. Every server is up for the whole run; one session per connection, created through POST /setup.
    for (const server of serversOf(configs, options.serial)) {
      const child = await startServer(server.config, {
        redisUrl: redis?.url,
        buildDir,
        args: variantArgs({ serialAccess: server.serial === 'on' }),
      });
      running.set(serverKey(server), { server: child, cookies: await createSessions(child, options.connections) });
    }
    // 2. Warm-up: each server's routes, distinct sessions; every route, whatever --routes says, so that
    //    every session has its a0 … a49 (records of the same size in every run).
    log(`${running.size} servers up, ${cells.length} cells; warming each route up for ${options.warmup} s`);
    for (const { server, cookies } of running.values()) {
      for (const route of BENCH_ROUTES) await load(server, route, cookies, { connections: options.connections, duration: options.warmup });
    }
    // 3. Rounds: every cell once per round, each round starting elsewhere and going the other way.
    const step = Math.max(1, Math.floor(cells.length / options.rounds));
    for (let round = 1; round <= options.rounds; round++) {
      const rotated = cells.map((_, i) => cells[(i + (round - 1) * step) % cells.length]);
      const order = round % 2 === 1 ? rotated : rotated.reverse();
      for (const cell of order) {
        const waitedMs = options.quiet > 0 && waitBudgetMs > 0 ? await waitForQuiet(options.quiet, Math.min(2_000, waitBudgetMs)) : 0;
        waitBudgetMs -= waitedMs;
        measurements.push(await measureCell(cell, round, waitedMs));
      }
    }
    // 4. Census (unmeasured): where each Redis cell's commands run.
    if (admin && options.census > 0) {
      log(`census of Redis commands by source (MONITOR, ${options.census} s per cell)`);
      for (const cell of cells.filter((c) => usesRedis(c.config))) {
        const { server, cookies } = of(cell);
        const sources = await commandSources(admin, () =>
          load(server, cell.route, cookiesFor(cell.sessions, cookies), { connections: options.connections, duration: options.census }),
        );
        census.set(cellKey(cell), sources);
        log(`census ${cellKey(cell).padEnd(52)} sent ${sources.sent.toFixed(2)}  in scripts ${sources.inScripts.toFixed(2)} per request`);
      }
    }
  } finally {
    for (const { server } of running.values()) await server.stop();
    if (admin) admin.destroy();
    await redis?.stop();
  }

  const summary = summarise(measurements, cells, census);
  const goals = goalsOf(measurements, cells);
  const loadAfter = loadavg();
  const others = measurements.flatMap((m) => (m.otherCores === undefined ? [] : [m.otherCores]));
  const otherLoad = others.length ? { min: Math.min(...others), median: median(others), max: Math.max(...others) } : null;
  const results = {
    date: new Date().toISOString(),
    durationOfBenchSeconds: Math.round((Date.now() - started) / 1000),
    machine: machine(),
    git: git(),
    loadAverage: { before: loadBefore, after: loadAfter },
    /** CPU the rest of the machine used during the measured runs, in cores (of `machine.cpus`). */
    otherLoad,
    parameters: {
      connections: options.connections,
      durationSeconds: options.duration,
      warmupSeconds: options.warmup,
      rounds: options.rounds,
      censusSeconds: options.census,
      quietThresholdCores: options.quiet,
      serversRunAs: 'plain node, CommonJS compiled by tsup into benchmarks/.build/concurrency (lib/ as it is in the working tree)',
      sessions: `distinct: one session per connection (${options.connections}); one: every connection sends the same session's cookie`,
      routes:
        'read: GET /read reads the user attribute; slow-read: GET /slow-read awaits a 1 ms timer, then reads it; ' +
        'write-own: POST /write-own sets attribute a<n mod 50> to n, n counting the server\'s write-own requests',
      serialAccess: 'this library: off (its default: commits merge) or on (--serial-access=on); express-session has none',
    },
    summary,
    goals,
    measurements,
  };
  writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n${markdown(summary)}\n\n${goalsMarkdown(goals)}\n`);
  log(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
  if (otherLoad) log(`other load while measuring: ${otherLoad.min.toFixed(2)}–${otherLoad.max.toFixed(2)} cores, median ${otherLoad.median.toFixed(2)}`);
  log(`wrote ${options.out} (${results.durationOfBenchSeconds} s)`);
  const failures = measurements.filter((m) => m.non2xx > 0 || m.errors > 0 || m.timeouts > 0);
  if (failures.length > 0) {
    log(`!!! ${failures.length} runs had non-2xx answers, errors or timeouts; see ${options.out}`);
    process.exitCode = 1;
  }
}

/** Every command Redis ran per request, as `INFO commandstats` counts them (sent and in scripts). */
function allCommands(commands: CommandsPerRequest): number {
  return commands.sent + Object.values(commands.inScripts).reduce((a, b) => a + b, 0);
}

/** What a paired ratio compares: req/s, or server CPU per request (the baseline's ÷ the cell's, so that more is better either way). */
type Compared = 'rps' | 'cpu';

/** Per round, `cell`'s req/s ÷ `baseline`'s in the same round (or, for `cpu`, the baseline's CPU µs/req ÷ the cell's). */
function pairedRatios(measurements: Measurement[], cell: Cell, baseline: Cell, compared: Compared = 'rps'): number[] {
  const of = (c: Cell): Measurement[] => measurements.filter((m) => cellKey(m) === cellKey(c));
  const ratios: number[] = [];
  for (const m of of(cell)) {
    const b = of(baseline).find((x) => x.round === m.round);
    if (!b) continue;
    if (compared === 'rps' && b.rps > 0) ratios.push(m.rps / b.rps);
    if (compared === 'cpu' && m.serverCpuUsPerRequest && b.serverCpuUsPerRequest) ratios.push(b.serverCpuUsPerRequest / m.serverCpuUsPerRequest);
  }
  return ratios;
}

/** The same route and sessions on express-session with the same store, for this library's cells. */
function expressSessionCell(cell: Cell): Cell | undefined {
  if (!isThisLibrary(cell.config)) return undefined;
  const peer = expressSessionPeer(cell.config) as BenchConfig | undefined;
  return peer && { config: peer, route: cell.route, sessions: cell.sessions };
}

function summarise(measurements: Measurement[], cells: Cell[], census: Map<string, CommandSources>): Summary[] {
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const medianOrNull = (xs: number[]): number | null => (xs.length ? median(xs) : null);
  const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined);
  const summary: Summary[] = [];
  for (const cell of cells) {
    const ms = measurements.filter((m) => cellKey(m) === cellKey(cell));
    if (!ms.length) continue;
    const others = defined(ms.map((m) => m.otherCores));
    const withCommands = ms.filter((m) => m.redisCommands);
    const peer = expressSessionCell(cell);
    summary.push({
      ...cell,
      rps: median(ms.map((m) => m.rps)),
      rpsByRound: ms.map((m) => m.rps),
      latencyP50: median(ms.map((m) => m.latencyP50)),
      latencyP99: median(ms.map((m) => m.latencyP99)),
      oneVsDistinct: cell.sessions === 'one' ? medianOrNull(pairedRatios(measurements, cell, { ...cell, sessions: 'distinct' })) : null,
      vsExpressSession: peer ? medianOrNull(pairedRatios(measurements, cell, peer)) : null,
      onVsOff: cell.serial === 'on' ? medianOrNull(pairedRatios(measurements, cell, { ...cell, serial: 'off' })) : null,
      serverCpuUsPerRequest: medianOrNull(defined(ms.map((m) => m.serverCpuUsPerRequest))),
      redisCpuUsPerRequest: medianOrNull(defined(ms.map((m) => m.redisCpuUsPerRequest))),
      redisCommandsAll: withCommands.length ? mean(withCommands.map((m) => allCommands(m.redisCommands!))) : null,
      redisCommandSources: census.get(cellKey(cell)) ?? null,
      otherCores: others.length ? mean(others) : null,
    });
  }
  return summary;
}

/**
 * Issue 12's goals, with this library's default (serial access off):
 * 1. one session ≥ 0.9× distinct sessions on the read routes, every configuration;
 * 2. one shared session ≥ express-session's on the same store, every route.
 */
function goalsOf(measurements: Measurement[], cells: Cell[]): Goal[] {
  const goals: Goal[] = [];
  const check = (goal: string, cell: Cell, baseline: Cell, threshold: number): void => {
    const byRound = pairedRatios(measurements, cell, baseline);
    const ratio = byRound.length ? median(byRound) : null;
    const cpu = pairedRatios(measurements, cell, baseline, 'cpu');
    const split = byRound.some((r) => r < threshold) && byRound.some((r) => r >= threshold);
    const met = ratio === null ? null : ratio >= threshold;
    goals.push({ goal, cell, threshold, ratio, byRound, met, split, cpuRatio: cpu.length ? median(cpu) : null });
  };
  const defaults = cells.filter((c) => c.serial === 'off' && c.sessions === 'one');
  for (const cell of defaults.filter((c) => c.route !== 'write-own')) {
    check('one session ÷ distinct sessions', cell, { ...cell, sessions: 'distinct' }, ONE_VS_DISTINCT_GOAL);
  }
  for (const cell of defaults) {
    const peer = expressSessionCell(cell);
    if (peer && cells.some((c) => cellKey(c) === cellKey(peer))) check('÷ express-session, same store, one session', cell, peer, VS_EXPRESS_SESSION_GOAL);
  }
  return goals;
}

const ratio = (x: number | null): string => (x === null ? '' : `${x.toFixed(2)}×`);

/** `3.00 (EVALSHA 2.00, GET 1.00)`: a total and its commands, largest first. */
function byCommand(total: number, commands: Record<string, number>): string {
  const parts = Object.entries(averageRecords([commands]))
    .filter(([, v]) => v >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k.toUpperCase()} ${v.toFixed(2)}`);
  return `${total.toFixed(2)}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

function markdown(summary: Summary[]): string {
  const throughput = [
    '| route | configuration | serial | sessions | req/s (median) | each round | p50 / p99 ms | one ÷ distinct | ÷ express-session, same store | on ÷ off |',
    '|---|---|---|---|---:|---|---:|---:|---:|---:|',
  ];
  const cost = [
    '| route | configuration | serial | sessions | server CPU µs/req | Redis commands/req sent | run in scripts | all (commandstats) | Redis CPU µs/req | other load (cores) |',
    '|---|---|---|---|---:|---|---|---:|---:|---:|',
  ];
  for (const s of summary) {
    const row = `| ${s.route} | ${s.config} | ${s.serial ?? '—'} | ${s.sessions} |`;
    throughput.push(
      `${row} ${s.rps.toFixed(0)} | ${s.rpsByRound.map((r) => r.toFixed(0)).join(' / ')} | ${s.latencyP50.toFixed(0)} / ${s.latencyP99.toFixed(0)} | ` +
        `${ratio(s.oneVsDistinct)} | ${ratio(s.vsExpressSession)} | ${ratio(s.onVsOff)} |`,
    );
    const sources = s.redisCommandSources;
    cost.push(
      `${row} ${s.serverCpuUsPerRequest?.toFixed(0) ?? ''} | ${sources ? byCommand(sources.sent, sources.sentByCommand) : ''} | ` +
        `${sources ? byCommand(sources.inScripts, sources.inScriptsByCommand) : ''} | ${s.redisCommandsAll?.toFixed(2) ?? ''} | ` +
        `${s.redisCpuUsPerRequest?.toFixed(1) ?? ''} | ${s.otherCores?.toFixed(2) ?? ''} |`,
    );
  }
  return [...throughput, '', ...cost].join('\n');
}

/** yes / **no**, "(rounds split)" when rounds fall on both sides of the threshold. */
function verdict(goal: Goal): string {
  if (goal.met === null) return '?';
  return `${goal.met ? 'yes' : '**no**'}${goal.split ? ' (rounds split)' : ''}`;
}

function goalsMarkdown(goals: Goal[]): string {
  const lines = [
    '| goal (serial access off) | route | configuration | goal | req/s ratio (median) | each round | met | same by CPU/req |',
    '|---|---|---|---:|---:|---|---|---:|',
  ];
  for (const g of goals) {
    lines.push(
      `| ${g.goal} | ${g.cell.route} | ${g.cell.config} | ≥ ${g.threshold.toFixed(2)}× | ${ratio(g.ratio)} | ` +
        `${g.byRound.map((r) => r.toFixed(2)).join(' / ')} | ${verdict(g)} | ${ratio(g.cpuRatio)} |`,
    );
  }
  return lines.join('\n');
}

function log(message: string): void {
  console.error(`[concurrency] ${message}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
