/**
 * `npx tsx benchmarks/sweep.ts`: what one reaper sweep (`manager.reap()`)
 * costs against the number of live sessions, and whether the in-process store
 * gives memory back once expired sessions are swept (issue 3, item 8).
 *
 * - Sweep cost: 10k, 100k and 1M live sessions of which 1 % are due, for
 *   (a) the in-process LocalCoordinator + MemoryStore and (b) redisCoordinator
 *   + connect-redis 9 on a private redis-server. Sessions are written straight
 *   into the store and the coordinator (no HTTP): locally through
 *   `coordinator.leave()` and `store.set()` with `buildRecord()` records; in
 *   Redis as the hashes, ZADDs and connect-redis records of the documented
 *   layout (checked against `coordinator.leave()` first). A fake clock puts
 *   exactly 1 % past their deadline at each sweep. Each measured sweep finds a
 *   fresh 1 % due (the swept ones are replaced, so live stays at N); sweeps
 *   alternate between a counting `sessionDestroyed` + `attributeRemoved`
 *   listener and no listener at all; a full GC runs before each sweep (untimed),
 *   then a pause of max(200 ms, 1 ms per 1,000 live) so V8's post-GC page
 *   sweeping is over before the clock starts.
 * - Memory (item 8): the default in-process store; 100,000 sessions created
 *   through HTTP (the real request path), then one sweep past their deadline;
 *   heap after a full GC before creating them, with them, and after the sweep.
 *
 * As in run.ts, lib/ is measured compiled (tsup, as `npm run build`, one file
 * per module, into benchmarks/.build/sweep), not through tsx: tsx compiles with
 * keepNames, which costs every closure lib/ creates a defineProperty. Every
 * measurement runs in its own child process (`--expose-gc`, 8 GB heap), so one
 * size's heap never weighs on the next. Besides wall time, each sweep's CPU
 * time (this process, all threads) and GC pause time are recorded: the machine
 * is shared and noisy. Prints markdown tables.
 *
 * Options: --sizes=10000,100000,1000000 --only=local,redis,memory
 *          --memory-sessions=100000 --populate-budget=180 (s: a Redis
 *          population projected to take longer is abandoned and reported)
 *          --out=<file> (also write the raw results as JSON)
 */
import { redisLayout } from '../test/support/redis-layout';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { RedisStore } from 'connect-redis';
import express from 'express';
import { createClient } from 'redis';
import type { LocalCoordinator, MemoryStore, SessionManager } from '../lib';
import type { StoredRecord } from '../lib/storage/store-adapter';
import { FakeClock } from '../test/support/fake-clock';
import { findOnPath, startRedisServer, type RedisServer } from '../test/support/redis-server';
import { seededRandom } from '../test/support/seeded-random';
import { collectGarbage, postMany } from '../test/support/bulk-sessions';
import {
  commandStats,
  compileForBench,
  machineBusyMs,
  median,
  processCpuMs,
  runChild as runChildProcess,
  runMainOrChild,
  waitForQuiet,
} from './harness';

/** The sessions' idle timeout (the manager's `invalidationTimeout`). */
const TIMEOUT_S = 1800;
const TIMEOUT_MS = TIMEOUT_S * 1000;
/** Long enough that the background timer never fires during a run (sweeps are `reap()` calls). */
const REAPER_INTERVAL_S = 3600;
/** The store TTL past the deadline, as the manager computes it (`graceMs` in session-manager.ts). */
const GRACE_MS = Math.max(TIMEOUT_MS, 2 * REAPER_INTERVAL_S * 1000);
/** Sessions that are not due were last used within this span before T0. */
const SPREAD_MS = 600_000;
/** Sweep k runs at `sweepBase + k * ROUND_MS`; all of them before the first not-due deadline. */
const ROUND_MS = 1000;
/** Measured 1 % sweeps: ABBAAB over "no listener" (A) and "listener" (B). */
const LISTENER_PATTERN = [false, true, true, false, false, true];
/** Sweeps with a fixed 100 due (no listener), to show cost follows due, not live. */
const FIXED_DUE = 100;
const FIXED_ROUNDS = 3;
const REDIS_BATCH = 2000;
/** Pause between the full GC before a sweep and the sweep (at least; 1 ms per 1,000 live sessions). */
const AFTER_GC_MS = 200;

/** Where lib/ is compiled for the children (git-ignored, like run.ts's servers; run.ts wipes .build when it starts). */
const BUILD_DIR = join(__dirname, '.build', 'sweep');

/** lib/ as compiled JavaScript, loaded by the children. */
interface Compiled {
  createSessionManager: typeof import('../lib').createSessionManager;
  redisCoordinator: typeof import('../lib/coordination/redis/redis-coordinator').redisCoordinator;
  buildRecord: typeof import('../lib/storage/session-record').buildRecord;
}
let compiledLib: Compiled | undefined;

function lib(): Compiled {
  if (!compiledLib) {
    const load = (name: string): unknown => require(join(BUILD_DIR, 'lib', `${name}.js`));
    compiledLib = {
      createSessionManager: (load('index') as typeof import('../lib')).createSessionManager,
      redisCoordinator: (load('coordination/redis/redis-coordinator') as typeof import('../lib/coordination/redis/redis-coordinator')).redisCoordinator,
      buildRecord: (load('storage/session-record') as typeof import('../lib/storage/session-record')).buildRecord,
    };
  }
  return compiledLib;
}

/** Compiles lib/ to CommonJS in BUILD_DIR/lib (see compileForBench). */
function compileLib(): Promise<void> {
  return compileForBench(['lib/**/*.ts'], join(BUILD_DIR, 'lib'));
}

// ---------------------------------------------------------------- results

interface SweepSample {
  round: number;
  due: number;
  listeners: boolean;
  /** `reap()`'s own `durationMs`. */
  ms: number;
  /** CPU time of this process (every thread, GC helpers included) during the sweep. */
  cpuMs: number;
  /** GC pauses during the sweep (PerformanceObserver `gc` entries). */
  gcMs: number;
  /** Redis only: every command Redis ran during the sweep (INFO commandstats, inside scripts too), per expired session. */
  redisCommandsPerExpired?: Record<string, number>;
  /** Redis only: redis-server CPU during the sweep (10 ms ticks). */
  redisCpuMs?: number;
}

interface SweepResult {
  kind: 'local' | 'redis';
  live: number;
  due: number;
  populateMs: number;
  /** Sweeps with nothing due (median of 3). */
  emptyMs: number;
  /** The first 1 % sweep: cold code, due sessions interleaved with the rest at population (absent when skipped). */
  cold?: SweepSample;
  samples: SweepSample[];
  fixed: SweepSample[];
  heapUsedMB: number;
  redisUsedMemoryMB?: number;
  skipped?: string;
}

interface MemoryResult {
  kind: 'memory';
  sessions: number;
  createMs: number;
  sweepMs: number;
  expired: number;
  storeAfter: number;
  coordinatorAfter: number;
  indexAfter: number;
  beforeMB: number;
  fullMB: number;
  afterMB: number;
}

/** What the parent adds to each child's result. */
interface Load {
  /** CPU the child used in all (ms), as it reported at its end. */
  childCpuMs?: number;
  /** CPU of everything else on the machine while the child ran (not the child, this process or our redis-server), in cores. */
  otherCores?: number;
  /** How long the parent waited for the machine to calm down before starting the child. */
  waitedMs?: number;
}

type Result = (SweepResult | MemoryResult) & Load;

interface Job {
  kind: 'local' | 'redis' | 'memory';
  n: number;
  redisUrl?: string;
  redisPid?: number;
  populateBudgetS?: number;
}

// ---------------------------------------------------------------- helpers

function log(message: string): void {
  process.stderr.write(`[sweep] ${message}\n`);
}

function heapMB(): number {
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** `count` session ids like the library's (32 random bytes, base64url, 43 characters). */
function newIds(count: number): string[] {
  const bytes = randomBytes(32 * count);
  const ids = new Array<string>(count);
  for (let i = 0; i < count; i++) ids[i] = bytes.toString('base64url', 32 * i, 32 * i + 32);
  return ids;
}

/** A store record as the manager writes it for a session last used at `accessed`. */
function recordOf(accessed: number, n: number): { record: StoredRecord; storeExpires: number } {
  const storeExpires = accessed + TIMEOUT_MS + GRACE_MS;
  const meta = { app: 'default', created: accessed - 60_000, accessed };
  const attributes = { user: { id: n, name: `user-${n}`, roles: ['reader'] }, visits: n % 17 };
  return { record: lib().buildRecord(meta, attributes, storeExpires, accessed), storeExpires };
}

function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

type Redis = ReturnType<typeof createClient>;

/** Every command run between two `commandStats()`, per `per` (scripts' own commands included: Redis counts them too). */
function commandsPer(before: Record<string, number>, after: Record<string, number>, per: number): Record<string, number> {
  const ran: Record<string, number> = {};
  for (const [command, calls] of Object.entries(after)) {
    const delta = calls - (before[command] ?? 0);
    if (delta > 0) ran[command.toUpperCase()] = delta / per;
  }
  return ran;
}

/** Sums GC pauses; read between two `settle()`s (entries arrive asynchronously). */
const gcPauses = { ms: 0 };
function watchGc(): void {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPauses.ms += entry.duration;
  }).observe({ entryTypes: ['gc'] });
}
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

// ---------------------------------------------------------------- sweep cost (child)

/** What differs between the local and the Redis setup. */
interface Population {
  manager: SessionManager;
  /** Writes sessions last used at `accessed[i]` (ms) under `keys[i]`. */
  add(keys: string[], accessed: number[]): Promise<void>;
  /** Sessions the store and the coordinator hold (checked after the run). */
  counts(): Promise<{ store: number; coordinator: number; index: number }>;
  redis?: { admin: Redis; pid: number | undefined };
  close(): Promise<void>;
}

async function sweepJob(job: Job): Promise<SweepResult> {
  const n = job.n;
  const due = n / 100;
  const T0 = Date.now();
  const clock = new FakeClock(T0);
  const random = seededRandom(n);
  const population = job.kind === 'local' ? localPopulation(clock) : await redisPopulation(clock, job);
  const { manager } = population;

  // Sweep k runs at sweepAt(k); its due sessions have deadlines in (sweepAt(k - 1), sweepAt(k)].
  const sweepBase = T0 + TIMEOUT_MS - SPREAD_MS - 60_000;
  const sweepAt = (k: number): number => sweepBase + k * ROUND_MS;
  // A session is written 2 ms after its request started (`leave` at accessed + 2): deadline = accessed + 2 + timeout.
  const dueAccess = (k: number): number => sweepAt(k) - TIMEOUT_MS - 2 - Math.floor(random() * (ROUND_MS - 4));
  const liveAccess = (): number => T0 - Math.floor(random() * SPREAD_MS);

  // 1. n live sessions, `due` of them (at random positions) due at sweep 1.
  const isDue = new Uint8Array(n);
  for (let chosen = 0; chosen < due; ) {
    const i = Math.floor(random() * n);
    if (!isDue[i]) {
      isDue[i] = 1;
      chosen++;
    }
  }
  const started = performance.now();
  const chunk = job.kind === 'local' ? 50_000 : REDIS_BATCH;
  for (let from = 0; from < n; from += chunk) {
    const count = Math.min(chunk, n - from);
    const accessed = Array.from({ length: count }, (_, j) => (isDue[from + j] ? dueAccess(1) : liveAccess()));
    await population.add(newIds(count), accessed);
    const elapsed = performance.now() - started;
    const done = from + count;
    if (job.populateBudgetS && done >= n / 10 && done < n) {
      const projected = (elapsed / done) * n;
      if (projected > job.populateBudgetS * 1000) {
        await population.close();
        const rate = Math.round(done / (elapsed / 1000));
        return {
          kind: job.kind as 'redis', live: n, due, populateMs: projected, emptyMs: NaN,
          samples: [], fixed: [], heapUsedMB: heapMB(),
          skipped: `populating ${n} sessions projected at ${(projected / 1000).toFixed(0)} s (${rate} sessions/s over the first ${done}), over the ${job.populateBudgetS} s budget`,
        };
      }
    }
  }
  const populateMs = performance.now() - started;
  let live = n;
  log(`${job.kind} ${n}: populated in ${(populateMs / 1000).toFixed(1)} s`);

  // Listeners that count what they are told (the "listener" rounds).
  let destroyedSeen = 0;
  let removedSeen = 0;
  const onDestroyed = (event: { reason: string }): void => {
    if (event.reason === 'expired') destroyedSeen++;
  };
  const onRemoved = (): void => {
    removedSeen++;
  };

  const sweep = async (k: number, expected: number, listeners: boolean): Promise<SweepSample> => {
    clock.advance(sweepAt(k) - clock.now());
    if (listeners) manager.on('sessionDestroyed', onDestroyed).on('attributeRemoved', onRemoved);
    destroyedSeen = removedSeen = 0;
    collectGarbage();
    // After a full GC V8 sweeps the heap's pages on background threads and, when it needs memory, on the main
    // thread: at 1M sessions that doubled the sweep's time on 2 cores. Let it finish first.
    await new Promise((resolve) => setTimeout(resolve, Math.max(AFTER_GC_MS, n / 1000)));
    const redis = population.redis;
    const statsBefore = redis && (await commandStats(redis.admin));
    const redisBefore = processCpuMs(redis?.pid);
    await settle();
    gcPauses.ms = 0;
    const cpu = process.cpuUsage();
    const result = await manager.reap();
    const { user, system } = process.cpuUsage(cpu);
    const redisAfter = processCpuMs(redis?.pid);
    await settle();
    const gcMs = gcPauses.ms;
    const statsAfter = redis && (await commandStats(redis.admin));
    manager.off('sessionDestroyed', onDestroyed).off('attributeRemoved', onRemoved);
    if (result.expired !== expected) throw new Error(`sweep ${k}: expired ${result.expired}, expected ${expected}`);
    if (listeners && (destroyedSeen !== expected || removedSeen !== 2 * expected)) {
      throw new Error(`sweep ${k}: listeners saw ${destroyedSeen} destroyed / ${removedSeen} removed for ${expected}`);
    }
    live -= result.expired;
    const sample: SweepSample = { round: k, due: expected, listeners, ms: result.durationMs, cpuMs: (user + system) / 1000, gcMs };
    if (statsBefore && statsAfter && expected > 0) {
      sample.redisCommandsPerExpired = commandsPer(statsBefore, statsAfter, expected);
      sample.redisCpuMs = redisAfter - redisBefore;
    }
    return sample;
  };

  /** Tops live up to n with `dueNext` sessions due at sweep k and the rest not due. */
  const refill = async (k: number, dueNext: number): Promise<void> => {
    const count = n - live;
    for (let from = 0; from < count; from += REDIS_BATCH) {
      const size = Math.min(REDIS_BATCH, count - from);
      const accessed = Array.from({ length: size }, (_, j) => (from + j < dueNext ? dueAccess(k) : liveAccess()));
      await population.add(newIds(size), accessed);
    }
    live = n;
  };

  // 2. Nothing due yet: the cost of asking.
  const empty: number[] = [];
  for (let i = 0; i < 3; i++) empty.push((await sweep(0, 0, false)).ms);
  // 3. The first sweep: cold code, the due sessions interleaved since population.
  const cold = await sweep(1, due, false);
  // 4. Measured 1 % sweeps, each on n live with a fresh 1 % due.
  const samples: SweepSample[] = [];
  let k = 1;
  for (const listeners of LISTENER_PATTERN) {
    k++;
    await refill(k, due);
    samples.push(await sweep(k, due, listeners));
    log(`${job.kind} ${n}: sweep ${k} (${due} due${listeners ? ', listener' : ''}): ${samples.at(-1)!.ms.toFixed(1)} ms`);
  }
  // 5. A fixed 100 due among n live.
  const fixed: SweepSample[] = [];
  for (let i = 0; i < FIXED_ROUNDS; i++) {
    k++;
    await refill(k, FIXED_DUE);
    fixed.push(await sweep(k, FIXED_DUE, false));
  }
  const counts = await population.counts();
  if (counts.store !== live || counts.coordinator !== live || counts.index !== live) {
    throw new Error(`after the sweeps: store ${counts.store}, coordinator ${counts.coordinator}, index ${counts.index}; expected ${live}`);
  }
  collectGarbage();
  const result: SweepResult = {
    kind: job.kind as 'local' | 'redis',
    live: n,
    due,
    populateMs,
    emptyMs: median(empty),
    cold,
    samples,
    fixed,
    heapUsedMB: heapMB(),
  };
  if (population.redis) {
    const info = await population.redis.admin.info('memory');
    result.redisUsedMemoryMB = Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0) / 2 ** 20;
  }
  await population.close();
  return result;
}

function localPopulation(clock: FakeClock): Population {
  const manager = lib().createSessionManager({ clock, invalidationTimeout: TIMEOUT_S, reaperInterval: REAPER_INTERVAL_S });
  const store = manager.store as MemoryStore;
  const coordinator = manager.coordinator as LocalCoordinator;
  let serial = 0;
  return {
    manager,
    async add(keys, accessed) {
      for (let i = 0; i < keys.length; i++) {
        const { record, storeExpires } = recordOf(accessed[i], serial++);
        store.set(keys[i], record); // synchronous: a Map insert
        // What a request that created the session reports when it ends (LocalCoordinator.leave is synchronous inside).
        void coordinator.leave(keys[i], {
          now: accessed[i] + 2,
          timeoutMs: TIMEOUT_MS,
          storeExpires,
          entered: false,
          lastAccessedTime: accessed[i],
          request: 'bench',
        });
      }
    },
    async counts() {
      const stored = await new Promise<number>((resolve, reject) =>
        store.length((err, length) => (err ? reject(err) : resolve(length ?? -1))),
      );
      const index = (await coordinator.due(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)).length;
      return { store: stored, coordinator: await coordinator.count(), index };
    },
    close: () => manager.close(),
  };
}

async function redisPopulation(clock: FakeClock, job: Job): Promise<Population> {
  const client = createClient({ url: job.redisUrl }) as Redis;
  client.on('error', (error: unknown) => log(`redis client error: ${String(error)}`));
  await client.connect();
  const admin = createClient({ url: job.redisUrl }) as Redis;
  admin.on('error', () => undefined);
  await admin.connect();
  await admin.flushAll();
  const storePrefix = 'sess:';
  const coordinatorPrefix = 'esm:';
  // One shard: the bench writes sessions straight into the coordinator's keys, and one expiry index is simplest.
  const layout = redisLayout(coordinatorPrefix, 1);
  const indexKey = layout.allExpiry()[0];
  const store = new RedisStore({ client, prefix: storePrefix });
  const coordinator = lib().redisCoordinator({ client, prefix: coordinatorPrefix, shards: 1 });
  const manager = lib().createSessionManager({
    clock,
    store,
    coordinator,
    invalidationTimeout: TIMEOUT_S,
    reaperInterval: REAPER_INTERVAL_S,
  });
  let serial = 0;

  /** The documented layout, written directly: what `leave()` of a newly created session leaves behind. */
  const writeDirect = (key: string, accessed: number, members: { score: number; value: string }[], ops: Promise<unknown>[]): void => {
    const now = accessed + 2;
    const deadline = now + TIMEOUT_MS;
    const { record, storeExpires } = recordOf(accessed, serial++);
    const entryKey = layout.entry(key);
    ops.push(client.hSet(entryKey, { accessed: String(accessed), deadline: String(deadline), store: String(storeExpires) }));
    ops.push(client.pExpireAt(entryKey, storeExpires));
    members.push({ score: deadline, value: key });
    // connect-redis's own set: JSON, EX from cookie.expires against the real clock.
    const ttl = Math.ceil((new Date(record.cookie.expires!).getTime() - Date.now()) / 1000);
    ops.push(client.set(`${storePrefix}${key}`, JSON.stringify(record), { expiration: { type: 'EX', value: ttl } }));
  };

  // The direct writes must leave exactly what coordinator.leave() leaves.
  {
    const accessed = clock.now() - 1000;
    const { storeExpires } = recordOf(accessed, 0);
    await coordinator.leave('probe-leave', { now: accessed + 2, timeoutMs: TIMEOUT_MS, storeExpires, entered: false, lastAccessedTime: accessed, request: 'bench' });
    const members: { score: number; value: string }[] = [];
    const ops: Promise<unknown>[] = [];
    writeDirect('probe-direct', accessed, members, ops);
    ops.push(client.zAdd(indexKey, members));
    await Promise.all(ops);
    const [a, b] = await Promise.all([client.hGetAll(layout.entry('probe-leave')), client.hGetAll(layout.entry('probe-direct'))]);
    const [ta, tb] = await Promise.all([client.pExpireTime(layout.entry('probe-leave')), client.pExpireTime(layout.entry('probe-direct'))]);
    const [sa, sb] = await Promise.all([client.zScore(indexKey, 'probe-leave'), client.zScore(indexKey, 'probe-direct')]);
    if (JSON.stringify(Object.entries(a).sort()) !== JSON.stringify(Object.entries(b).sort()) || ta !== tb || sa !== sb) {
      throw new Error(`direct writes differ from leave(): ${JSON.stringify({ a, b, ta, tb, sa, sb })}`);
    }
    await coordinator.remove('probe-leave');
    await coordinator.remove('probe-direct');
    await client.del(`${storePrefix}probe-direct`);
  }

  return {
    manager,
    redis: { admin, pid: job.redisPid },
    async add(keys, accessed) {
      const members: { score: number; value: string }[] = [];
      const ops: Promise<unknown>[] = [];
      for (let i = 0; i < keys.length; i++) writeDirect(keys[i], accessed[i], members, ops);
      ops.push(client.zAdd(indexKey, members));
      await Promise.all(ops);
    },
    async counts() {
      const count = async (match: string): Promise<number> => {
        let found = 0;
        for await (const keys of admin.scanIterator({ MATCH: match, COUNT: 10_000 })) found += keys.length;
        return found;
      };
      const [stored, entries, index] = await Promise.all([count(`${storePrefix}*`), count(`${coordinatorPrefix}*s:*`), admin.zCard(indexKey)]);
      return { store: stored, coordinator: entries, index };
    },
    async close() {
      await manager.close();
      await admin.flushAll();
      await client.close();
      await admin.close();
    },
  };
}

// ---------------------------------------------------------------- memory (child)

/** Item 8: 100,000 sessions through HTTP, one sweep past their deadline, heap before/with/after. */
async function memoryJob(job: Job): Promise<MemoryResult> {
  const clock = new FakeClock();
  const manager = lib().createSessionManager({ clock, invalidationTimeout: TIMEOUT_S, reaperInterval: REAPER_INTERVAL_S });
  const app = express();
  app.use(manager.middleware());
  app.post('/session', (req, res) => {
    req.httpSession.setAttribute('user', { id: Number(req.query.n), name: `user-${String(req.query.n)}`, roles: ['reader'] });
    req.httpSession.setAttribute('visits', 1);
    res.end('ok');
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const store = manager.store as MemoryStore;
  const coordinator = manager.coordinator as LocalCoordinator;
  const storeLength = (): Promise<number> =>
    new Promise((resolve, reject) => store.length((err, length) => (err ? reject(err) : resolve(length ?? -1))));

  const createMany = (count: number): Promise<string[]> => postMany(port, count, (n) => `/session?n=${n}`);
  const pastDeadline = (): void => clock.advance(TIMEOUT_MS + 1000);

  // Warm-up: code paths, the agent and the HTTP parser allocate once.
  await createMany(2_000);
  pastDeadline();
  if ((await manager.reap()).expired !== 2_000) throw new Error('warm-up sweep');
  await new Promise((resolve) => setTimeout(resolve, 100)); // closed sockets finish closing
  collectGarbage();
  const beforeMB = heapMB();

  const started = performance.now();
  await createMany(job.n);
  const createMs = performance.now() - started;
  if ((await storeLength()) !== job.n || (await coordinator.count()) !== job.n) throw new Error('not every session was created');
  await new Promise((resolve) => setTimeout(resolve, 100));
  collectGarbage();
  const fullMB = heapMB();
  log(`memory: ${job.n} sessions created through HTTP in ${(createMs / 1000).toFixed(1)} s`);

  pastDeadline();
  const { expired, durationMs } = await manager.reap();
  const storeAfter = await storeLength();
  const coordinatorAfter = await coordinator.count();
  const indexAfter = (await coordinator.due(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)).length;
  collectGarbage();
  const afterMB = heapMB();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await manager.close();
  return { kind: 'memory', sessions: job.n, createMs, sweepMs: durationMs, expired, storeAfter, coordinatorAfter, indexAfter, beforeMB, fullMB, afterMB };
}

// ---------------------------------------------------------------- parent

async function runChild(job: Job): Promise<Result> {
  const waitedMs = await waitForQuiet(0.5, 15_000);
  const [machine, own, redis, at] = [machineBusyMs(), ownCpuMs(), processCpuMs(job.redisPid), Date.now()];
  const result = await spawnChild(job);
  const others = machineBusyMs() - machine - (ownCpuMs() - own) - (processCpuMs(job.redisPid) - redis) - (result.childCpuMs ?? 0);
  return { ...result, waitedMs, otherCores: Math.max(0, others / (Date.now() - at)) };
}

function spawnChild(job: Job): Promise<Result> {
  return runChildProcess<Result>(__filename, job, 8192, `${job.kind} ${job.n}`);
}

function option(name: string, fallback: string): string {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}

const fmt = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const label = (kind: 'local' | 'redis'): string =>
  kind === 'local' ? 'LocalCoordinator + MemoryStore' : 'redisCoordinator + connect-redis';

function sweepTable(results: (SweepResult & Load)[]): string {
  const rows = [
    '| coordinator + store | live | due | sweep ms (listener) | µs / expired | sweep ms (no listener) | µs / expired | 100 due: sweep ms | nothing due: sweep ms | populate s | other load (cores) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    if (r.skipped) {
      rows.push(`| ${label(r.kind)} | ${r.live.toLocaleString('en')} | ${r.due.toLocaleString('en')} | not measured: ${r.skipped} | | | | | | | |`);
      continue;
    }
    const withL = median(r.samples.filter((s) => s.listeners).map((s) => s.ms));
    const without = median(r.samples.filter((s) => !s.listeners).map((s) => s.ms));
    rows.push(
      `| ${label(r.kind)} | ${r.live.toLocaleString('en')} | ${r.due.toLocaleString('en')} | ${fmt(withL)} | ${fmt((withL * 1000) / r.due)} | ${fmt(without)} | ${fmt((without * 1000) / r.due)} | ${fmt(median(r.fixed.map((s) => s.ms)), 2)} | ${fmt(r.emptyMs, 2)} | ${fmt(r.populateMs / 1000)} | ${fmt(r.otherCores ?? NaN, 2)} |`,
    );
  }
  return rows.join('\n');
}

function detailTable(results: SweepResult[]): string {
  const rows = [
    '| coordinator + store | live | every 1 % sweep, ms (L = listener) | CPU ms / GC pause ms (median) | first (cold) sweep ms | 100-due sweeps ms | heap / Redis memory MB | Redis commands per expired (scripts\' own included) | redis-server CPU ms per 1 % sweep |',
    '|---|---:|---|---|---:|---|---:|---|---:|',
  ];
  for (const r of results) {
    if (r.skipped) continue;
    const every = r.samples.map((s) => `${fmt(s.ms)}${s.listeners ? ' L' : ''}`).join(' / ');
    const ran = r.samples[0].redisCommandsPerExpired;
    const ranText = ran
      ? Object.entries(ran)
          .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
          .map(([c, v]) => `${c} ${fmt(v, 2)}`)
          .join(', ')
      : '';
    const cpuGc = `${fmt(median(r.samples.map((s) => s.cpuMs)), 0)} / ${fmt(median(r.samples.map((s) => s.gcMs)), 0)}`;
    const cpu = r.kind === 'redis' ? fmt(median(r.samples.map((s) => s.redisCpuMs ?? NaN)), 0) : '';
    const memory = r.kind === 'redis' ? `${fmt(r.heapUsedMB, 0)} / ${fmt(r.redisUsedMemoryMB ?? NaN, 0)}` : fmt(r.heapUsedMB, 0);
    rows.push(
      `| ${label(r.kind)} | ${r.live.toLocaleString('en')} | ${every} | ${cpuGc} | ${fmt(r.cold?.ms ?? NaN)} | ${r.fixed.map((s) => fmt(s.ms, 2)).join(' / ')} | ${memory} | ${ranText} | ${cpu} |`,
    );
  }
  return rows.join('\n');
}

function memoryTable(m: MemoryResult & Load): string {
  const ratio = m.afterMB / m.beforeMB;
  return [
    '| sessions | created (HTTP) in s | one sweep: expired | sweep ms | left in store / coordinator / index | heap before MB | with the sessions MB | after the sweep MB | after ÷ before | other load (cores) |',
    '|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|',
    `| ${m.sessions.toLocaleString('en')} | ${fmt(m.createMs / 1000)} | ${m.expired.toLocaleString('en')} | ${fmt(m.sweepMs, 0)} | ${m.storeAfter} / ${m.coordinatorAfter} / ${m.indexAfter} | ${fmt(m.beforeMB)} | ${fmt(m.fullMB)} | ${fmt(m.afterMB)} | ${fmt(ratio, 3)} (${ratio <= 1.1 ? 'within' : 'NOT within'} 10 %) | ${fmt(m.otherCores ?? NaN, 2)} |`,
  ].join('\n');
}

async function main(): Promise<void> {
  const sizes = option('sizes', '10000,100000,1000000').split(',').map(Number);
  const only = option('only', 'local,redis,memory').split(',');
  const memorySessions = Number(option('memory-sessions', '100000'));
  const populateBudgetS = Number(option('populate-budget', '180'));
  const out = option('out', '');
  const started = Date.now();
  log(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  log('compiling lib/ to benchmarks/.build/sweep ...');
  await compileLib();
  const results: Result[] = [];
  const failures: string[] = [];
  const run = async (job: Job): Promise<void> => {
    log(`${job.kind} ${job.n}: starting (load average ${loadavg()[0].toFixed(2)})`);
    try {
      results.push(await runChild(job));
    } catch (error) {
      failures.push(error instanceof Error ? error.message : String(error));
      log(`!!! ${failures.at(-1)}`);
    }
  };

  if (only.includes('local')) for (const n of sizes) await run({ kind: 'local', n });
  if (only.includes('memory')) await run({ kind: 'memory', n: memorySessions });
  if (only.includes('redis')) {
    const binary = findOnPath('redis-server');
    if (!binary) {
      log('!!! redis-server is not on PATH: the Redis sweeps are SKIPPED');
      failures.push('redis: redis-server not on PATH');
    } else {
      let redis: RedisServer | undefined;
      try {
        redis = await startRedisServer(binary); // private, loopback, no persistence
        for (const n of sizes) await run({ kind: 'redis', n, redisUrl: redis.url, redisPid: redis.pid, populateBudgetS });
      } finally {
        await redis?.stop();
      }
    }
  }

  const sweeps = results.filter((r): r is SweepResult & Load => r.kind !== 'memory');
  const memory = results.find((r): r is MemoryResult & Load => r.kind === 'memory');
  const text: string[] = [];
  if (sweeps.length) {
    text.push(`### Sweep cost (median of 3 sweeps per column; ${new Date(started).toISOString().slice(0, 16)} UTC, ${cpus().length} CPUs)`, '', sweepTable(sweeps), '', detailTable(sweeps), '');
  }
  if (memory) text.push('### Memory after a sweep (item 8)', '', memoryTable(memory), '');
  if (failures.length) text.push('Failures:', ...failures.map((f) => `- ${f}`), '');
  text.push(`Total ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  console.log(text.join('\n'));
  if (out) writeFileSync(out, `${JSON.stringify({ started: new Date(started).toISOString(), results, failures }, null, 2)}\n`);
  if (failures.length) process.exitCode = 1;
}

async function child(job: Job): Promise<void> {
  watchGc();
  const result: Result = job.kind === 'memory' ? await memoryJob(job) : await sweepJob(job);
  result.childCpuMs = ownCpuMs();
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

if (require.main === module) runMainOrChild<Job>(main, child);
