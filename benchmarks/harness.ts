/**
 * What the benchmarks share: compiling the servers, starting one, giving
 * each connection its own session, driving it with autocannon, reading Redis
 * command counters (and, with MONITOR, where each command ran), CPU use.
 */
import { execSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { createClient } from 'redis';
import { build } from 'tsup';
import { methodOf, type ConfigName, type ServerRoute } from './configs';

export const ROOT = join(__dirname, '..');
export const BUILD_DIR = join(__dirname, '.build');

/**
 * Compiles `entries` (paths relative to the repo root) to plain CommonJS in
 * `outDir` (tsup, the same esbuild and target as `npm run build`, one file
 * per module), so what is measured runs as compiled JS under plain `node`:
 * no tsx loader in the measured process, and the shared dist/ is untouched.
 */
export async function compileForBench(entries: string[], outDir: string): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  await build({
    config: false,
    entry: entries.map((entry) => join(ROOT, entry)),
    outDir,
    format: ['cjs'],
    bundle: false,
    target: 'node20',
    dts: false,
    sourcemap: false,
    silent: true,
    tsconfig: join(ROOT, 'tsconfig.json'),
  });
}

/** Compiles lib/ and the benchmark server into `outDir` (benchmarks/.build unless told). */
export function compileServers(outDir = BUILD_DIR): Promise<void> {
  return compileForBench(['lib/**/*.ts', 'benchmarks/server.ts', 'benchmarks/configs.ts'], outDir);
}

export interface RunningServer {
  config: ConfigName;
  url: string;
  child: ChildProcess;
  /** What the server wrote, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Starts one configuration's server as a child process and waits for its port. */
export function startServer(
  config: ConfigName,
  options: { redisUrl?: string; execArgv?: string[]; buildDir?: string; args?: string[] } = {},
): Promise<RunningServer> {
  const child = fork(join(options.buildDir ?? BUILD_DIR, 'benchmarks', 'server.js'), [config, ...(options.args ?? [])], {
    cwd: ROOT,
    execArgv: options.execArgv ?? [],
    env: { ...process.env, REDIS_URL: options.redisUrl ?? '', NODE_ENV: 'production', NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let text = '';
  const keep = (chunk: Buffer): void => {
    if (text.length < 16384) text += chunk.toString('utf8');
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('no port within 15 s')), 15000);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      void stop().then(() => reject(new Error(`${config} server: ${error.message}\n${text}`)));
    };
    child.once('exit', (code, signal) => fail(new Error(`exited (${code ?? signal}) before listening`)));
    child.once('message', (message: { port?: number }) => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({ config, url: `http://127.0.0.1:${message.port}`, child, output: () => text, stop });
    });
  });
}

/** Creates `count` sessions through POST /setup; returns the Cookie header of each (empty for bare Express). */
export async function createSessions(server: RunningServer, count: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${server.url}/setup`, { method: 'POST' });
    if (res.status !== 204) throw new Error(`${server.config}: POST /setup answered ${res.status}`);
    const setCookie = res.headers.getSetCookie()[0];
    if (!setCookie && server.config !== 'express') throw new Error(`${server.config}: POST /setup set no cookie`);
    cookies.push(setCookie ? setCookie.split(';')[0] : '');
  }
  return cookies;
}

export interface LoadResult {
  /** Mean of autocannon's per-second samples. */
  rps: number;
  /** Responses completed. */
  requests: number;
  latencyP50: number;
  latencyP99: number;
  latencyMean: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

/**
 * Drives one route with autocannon. Each connection sends the cookie of its
 * own session (round robin over `cookies`), so with one cookie per
 * connection no two in-flight requests share a session; with a single
 * cookie they all do.
 */
export async function load(
  server: RunningServer,
  route: ServerRoute,
  cookies: string[],
  options: { connections: number; duration: number },
): Promise<LoadResult> {
  let next = 0;
  const result = await autocannon({
    url: `${server.url}/${route}`,
    method: methodOf(route),
    connections: options.connections,
    duration: options.duration,
    setupClient(client) {
      // `new` creates a session per request: it never sends one back.
      const cookie = route === 'new' ? undefined : cookies[next++ % cookies.length];
      client.setHeaders(cookie ? { cookie } : {});
    },
  });
  return {
    rps: result.requests.average,
    requests: result.requests.total,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    latencyMean: result.latency.average,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

export type CommandStats = Record<string, number>;

/** The mean of each key over `records` (a key missing from a record counts 0), to two decimals. */
export function averageRecords(records: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const record of records) for (const [k, v] of Object.entries(record)) out[k] = (out[k] ?? 0) + v / records.length;
  for (const k of Object.keys(out)) out[k] = Math.round(out[k] * 100) / 100;
  return out;
}

/** A client for reading the private redis-server's counters (and flushing it between configurations). */
export async function adminClient(url: string): Promise<ReturnType<typeof createClient>> {
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  return client as ReturnType<typeof createClient>;
}

/** Calls per command from `INFO commandstats` (the INFO calls themselves left out). */
export async function commandStats(client: ReturnType<typeof createClient>): Promise<CommandStats> {
  const text = await client.info('commandstats');
  const stats: CommandStats = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] !== 'info') stats[match[1]] = Number(match[2]);
  }
  return stats;
}

/**
 * Commands that only ever run inside the coordinator's Lua scripts on the
 * benchmark's paths (Redis counts script-issued commands in commandstats
 * too). Everything else was sent by a client: a network command.
 */
const SCRIPT_ONLY = new Set(['exists', 'hmget', 'hget', 'hset', 'hincrby', 'hdel', 'pexpireat', 'zadd', 'zrem', 'zrangebyscore']);

export interface CommandsPerRequest {
  /** Commands a client sent (network commands), per request. */
  sent: number;
  /** Every command sent, per request. */
  sentByCommand: Record<string, number>;
  /** Commands run inside Lua scripts, per request. */
  inScripts: Record<string, number>;
}

export function perRequest(before: CommandStats, after: CommandStats, requests: number): CommandsPerRequest {
  const sentByCommand: Record<string, number> = {};
  const inScripts: Record<string, number> = {};
  let sent = 0;
  for (const [command, calls] of Object.entries(after)) {
    const delta = calls - (before[command] ?? 0);
    if (delta <= 0) continue;
    const rate = delta / requests;
    if (SCRIPT_ONLY.has(command)) inScripts[command] = rate;
    else {
      sentByCommand[command] = rate;
      sent += rate;
    }
  }
  return { sent, sentByCommand, inScripts };
}

/** Commands per request by where they ran: sent by a client over the network, or run by a Lua script. */
export interface CommandSources {
  /** Requests answered while counting. */
  requests: number;
  /** Network commands per request (`EVALSHA` counts once, as sent). */
  sent: number;
  sentByCommand: Record<string, number>;
  /** Commands the scripts ran, per request. */
  inScripts: number;
  inScriptsByCommand: Record<string, number>;
}

/** How long {@link commandSources} waits for MONITOR to catch up after the work, ms. */
const MONITOR_CATCH_UP_MS = 10_000;

/**
 * Which commands `work` (a load run) sends to Redis and which the Lua scripts
 * run, per request. `INFO commandstats` counts both alike, and the scripts
 * run commands clients send too (the locks' `SET`, `GET`, `DEL`); MONITOR
 * names each command's source (`lua` inside a script). MONITOR slows Redis
 * down, so this is a pass apart from the measured runs. `admin` (connected
 * to the same Redis) must be idle: it sends the marker that ends the count.
 */
export async function commandSources(admin: ReturnType<typeof createClient>, work: () => Promise<{ requests: number }>): Promise<CommandSources> {
  const sent: Record<string, number> = {};
  const inScripts: Record<string, number> = {};
  const marker = `census-end-${randomUUID()}`;
  let markerSeen = (): void => undefined;
  const caughtUp = new Promise<void>((resolve) => (markerSeen = resolve));
  // 1. A connection of its own in MONITOR mode (connected first: its handshake is not counted).
  const monitor = admin.duplicate();
  monitor.on('error', () => undefined);
  await monitor.connect();
  try {
    await monitor.monitor((line) => {
      if (line.includes(marker)) return markerSeen();
      // `1733387712.123456 [0 127.0.0.1:50312] "GET" "sess:…"`, or `[0 lua]` inside a script.
      const match = /^[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
      if (!match) return;
      const counts = match[1] === 'lua' ? inScripts : sent;
      const command = match[2].toLowerCase();
      counts[command] = (counts[command] ?? 0) + 1;
    });
    // 2. The work, then a marker through `admin`: once MONITOR shows it, every command before it was counted.
    const { requests } = await work();
    await admin.echo(marker);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((_, reject) => (timer = setTimeout(() => reject(new Error('MONITOR did not catch up')), MONITOR_CATCH_UP_MS)));
    await Promise.race([caughtUp, timedOut]).finally(() => clearTimeout(timer));
    // 3. Per request.
    const rate = (counts: Record<string, number>): Record<string, number> =>
      Object.fromEntries(Object.entries(counts).map(([command, calls]) => [command, requests > 0 ? calls / requests : 0]));
    const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);
    const sentByCommand = rate(sent);
    const inScriptsByCommand = rate(inScripts);
    return { requests, sent: sum(sentByCommand), sentByCommand, inScripts: sum(inScriptsByCommand), inScriptsByCommand };
  } finally {
    monitor.destroy();
  }
}

/** CPU accounting from /proc (Linux); every figure in clock ticks of 10 ms. */
export interface CpuSnapshot {
  at: number;
  /** Busy ticks of the whole machine (every core). */
  machine: number;
  /** Ticks of each watched process (all its threads). */
  processes: Record<string, number>;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

function readTicks(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime
  } catch {
    return NaN;
  }
}

function machineBusyTicks(): number {
  try {
    const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    const [user, nice, system, , , irq, softirq, steal] = values.map(Number);
    return user + nice + system + irq + softirq + steal;
  } catch {
    return NaN;
  }
}

export function cpuSnapshot(pids: Record<string, number | undefined>): CpuSnapshot {
  const processes: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) processes[name] = readTicks(pid);
  return { at: Date.now(), machine: machineBusyTicks(), processes };
}

export interface CpuUse {
  /** CPU of each watched process over the window, in cores (1 = one core busy all along). */
  cores: Record<string, number>;
  /** CPU of everything else on the machine (other people's work), in cores. */
  otherCores: number;
  /** CPU ms of each watched process over the window. */
  ms: Record<string, number>;
}

export function cpuUse(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const wallMs = after.at - before.at;
  const cores: Record<string, number> = {};
  const ms: Record<string, number> = {};
  let watched = 0;
  for (const name of Object.keys(after.processes)) {
    const ticks = after.processes[name] - before.processes[name];
    watched += ticks;
    ms[name] = ticks * TICK_MS;
    cores[name] = (ticks * TICK_MS) / wallMs;
  }
  const other = ((after.machine - before.machine - watched) * TICK_MS) / wallMs;
  return { cores, ms, otherCores: Math.max(0, other) };
}

/**
 * Waits (at most `maxMs`) until the rest of the machine uses less than
 * `threshold` cores, sampled over 500 ms while our servers are idle.
 * Returns how long it waited.
 */
export async function waitForQuiet(threshold: number, maxMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < maxMs) {
    const before = cpuSnapshot({});
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (cpuUse(before, cpuSnapshot({})).otherCores < threshold) break;
  }
  return Date.now() - start;
}

/** The median (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Node version and machine, for the results file. */
export function machine(): Record<string, unknown> {
  return { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), platform: process.platform };
}

/** The commit and the state of lib/ that was measured, for the results file. */
export function git(): Record<string, unknown> {
  try {
    const commit = execSync('git rev-parse HEAD', { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execSync('git status --porcelain -- lib', { cwd: ROOT, encoding: 'utf8' }).trimEnd();
    // lib/ changes under other hands: a digest of what was measured.
    const hash = createHash('sha1');
    const files = readdirSync(join(ROOT, 'lib'), { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
    for (const file of files.map((entry) => relative(join(ROOT, 'lib'), join(entry.parentPath, entry.name))).sort()) {
      hash.update(file).update(readFileSync(join(ROOT, 'lib', file)));
    }
    return { commit, libModifiedSinceCommit: dirty.length > 0, libModified: dirty.split('\n').filter(Boolean).map((l) => l.trim()), libSha1: hash.digest('hex') };
  } catch {
    return {};
  }
}

/**
 * The entry of a benchmark that measures in child processes (`sweep.ts`,
 * `admin.ts`): with `--child=<json>` it runs that job and exits, else `main`.
 * Either way a failure is printed and exits with 1.
 */
export function runMainOrChild<Job>(main: () => Promise<void>, child: (job: Job) => Promise<void>): void {
  const childArg = process.argv.find((a) => a.startsWith('--child='));
  (childArg ? child(JSON.parse(childArg.slice('--child='.length)) as Job) : main()).then(
    () => {
      if (childArg) process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

/**
 * Runs `job` in a fresh child process of `script` (which calls
 * {@link runMainOrChild}) with `--expose-gc` and a heap of `heapMb`, and
 * resolves the result it prints on a `RESULT <json>` line.
 */
export function runChild<Result>(script: string, job: object, heapMb: number, label: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const args = [...process.execArgv, '--expose-gc', `--max-old-space-size=${heapMb}`, script, `--child=${JSON.stringify(job)}`];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice('RESULT '.length)) as Result);
      else reject(new Error(`${label}: child exited ${code ?? signal}`));
    });
  });
}

/** One measured load run: autocannon's figures, the CPU each process used, and Redis commands per request. */
export interface MeasuredRun {
  result: LoadResult;
  cpu: CpuUse;
  /** Server CPU per request, µs (all its threads); absent when unknown or nothing was served. */
  serverCpuUsPerRequest?: number;
  /** redis-server CPU per request, µs, when `redisPid` was given. */
  redisCpuUsPerRequest?: number;
  redisCommands?: CommandsPerRequest;
}

/**
 * Loads `server` on `route` as `load()` does, measuring around it the CPU
 * of the server, this process and `redisPid`, and (with `admin`, a client
 * of that Redis) the commands per request.
 */
export async function measureRun(
  server: RunningServer,
  route: ServerRoute,
  cookies: string[],
  options: { connections: number; duration: number; redisPid?: number; admin?: ReturnType<typeof createClient> },
): Promise<MeasuredRun> {
  const { redisPid, admin } = options;
  const pids = { server: server.child.pid, loadGenerator: process.pid, redis: redisPid };
  const commandsBefore = admin && redisPid !== undefined ? await commandStats(admin) : undefined;
  const cpuBefore = cpuSnapshot(pids);
  const result = await load(server, route, cookies, options);
  const cpu = cpuUse(cpuBefore, cpuSnapshot(pids));
  const run: MeasuredRun = { result, cpu };
  if (result.requests === 0) return run;
  if (Number.isFinite(cpu.ms.server)) {
    run.serverCpuUsPerRequest = (cpu.ms.server * 1000) / result.requests;
    if (redisPid !== undefined) run.redisCpuUsPerRequest = (cpu.ms.redis * 1000) / result.requests;
  }
  if (commandsBefore && admin) run.redisCommands = perRequest(commandsBefore, await commandStats(admin), result.requests);
  return run;
}

/** The longest event-loop stall seen by {@link watchStalls}, the GC pauses and the CPU the OS gave others meanwhile. */
export interface Stall {
  /** `monitorEventLoopDelay({ resolution: 1 })`'s max: how late its 1 ms timer fired, ms. */
  histogramMaxMs: number;
  /** The longest gap between the ticks of a 1 ms `setInterval`, ms. */
  intervalMaxGapMs: number;
  /**
   * The most the main thread ran between two ticks of that timer, ms (its
   * on-CPU time, from /proc; NaN off Linux): the stall without the time the
   * OS gave the CPU to other processes, which a shared machine adds.
   */
  onCpuMaxGapMs: number;
  /** How long the main thread waited for a CPU in all, ms (NaN off Linux). */
  runQueueMs: number;
  /** The longest single GC pause, ms (PerformanceObserver `gc` entries): a stall of V8's, not the library's work. */
  gcMaxMs: number;
  /** All GC pauses together, ms. */
  gcTotalMs: number;
}

/**
 * The main thread's scheduler figures so far, ns: time on a CPU and time
 * waiting for one (Linux `/proc/<pid>/task/<pid>/schedstat`; read through an
 * open descriptor, ~5 µs); NaN when unavailable.
 */
function schedStat(fd: number | undefined, buffer: Buffer): { onCpuNs: number; waitNs: number } {
  if (fd === undefined) return { onCpuNs: NaN, waitNs: NaN };
  const length = readSync(fd, buffer, 0, buffer.length, 0);
  const [onCpu, wait] = buffer.toString('latin1', 0, length).split(' ').map(Number);
  return { onCpuNs: onCpu, waitNs: wait };
}

function openSchedStat(): number | undefined {
  try {
    return openSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'r');
  } catch {
    return undefined;
  }
}

/**
 * Starts watching the event loop for stalls (DESIGN §9: none over 20 ms).
 * `stop()` lets the loop turn before reading, so a stall that lasted until
 * the watched work ended (in-process work that never waits for I/O runs in
 * microtasks, from start to end) is counted too, and GC entries, which
 * arrive asynchronously, are in.
 */
export function watchStalls(): { stop(): Promise<Stall> } {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const fd = openSchedStat();
  const buffer = Buffer.alloc(128);
  const first = schedStat(fd, buffer);
  let last = performance.now();
  let lastOnCpu = first.onCpuNs;
  let longest = 0;
  let longestOnCpu = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const { onCpuNs } = schedStat(fd, buffer);
    longest = Math.max(longest, now - last);
    longestOnCpu = Math.max(longestOnCpu, (onCpuNs - lastOnCpu) / 1e6);
    last = now;
    lastOnCpu = onCpuNs;
  }, 1);
  let gcMaxMs = 0;
  let gcTotalMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcMaxMs = Math.max(gcMaxMs, entry.duration);
      gcTotalMs += entry.duration;
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  return {
    async stop(): Promise<Stall> {
      await new Promise((resolve) => setTimeout(resolve, 20));
      clearInterval(timer);
      histogram.disable();
      gc.disconnect();
      const runQueueMs = (schedStat(fd, buffer).waitNs - first.waitNs) / 1e6;
      if (fd !== undefined) closeSync(fd);
      return { histogramMaxMs: histogram.max / 1e6, intervalMaxGapMs: longest, onCpuMaxGapMs: longestOnCpu, runQueueMs, gcMaxMs, gcTotalMs };
    },
  };
}
