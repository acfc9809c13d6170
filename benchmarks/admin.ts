/**
 * `npm run bench:admin` (`npx tsx benchmarks/admin.ts`): what the admin API
 * (`manager.sessions`, docs/architecture.md, "Administration") costs against the number of live sessions,
 * to back two claims of the README: a listing loads only the sessions of its
 * page, and `list({ principal })` / `killByPrincipal` cost what that user
 * has, not what everyone has.
 *
 * - Setups: (a) the defaults, in-process MemoryStore + LocalCoordinator;
 *   (b) connect-redis 9 + `redisCoordinator` on a private redis-server (a free
 *   loopback port, no persistence; never the machine's Redis).
 * - Sessions are created through the real request path: a manager with
 *   `principal: (req) => req.headers['x-user']`, its middleware on an Express
 *   app in the same process, `POST /login` over HTTP (50 keep-alive
 *   connections), so records and coordinator indexes (the key index, the
 *   principal index) are the real ones. One session in 1,000 belongs to user
 *   `ann`, 10 at every size to `bob` (the control: a user whose sessions do
 *   not grow with N); of the others every second has a user of its own, the
 *   rest are anonymous. Live grows from 10,000 to 100,000 in the same process
 *   (what the 10,000 stage killed is replaced, so each stage has exactly N
 *   live, N / 1,000 of them ann's).
 * - At each N: one untimed warm-up call of everything, then 5 rounds; a
 *   round times each repeatable operation once (a full GC before the round,
 *   the start rotating from round to round), so drift hits them alike.
 *   Figures are medians of the 5. `killByPrincipal('ann')` runs once, last;
 *   `killByPrincipal('carol')` each round, on 10 sessions created for it just
 *   before (untimed). The middle page's cursor comes from following cursors
 *   from the start (untimed). "Right after a new session" times the call
 *   right after one more session was created over HTTP (then killed,
 *   untimed): a live server always has new keys in its index (the
 *   in-process index once sorted its keys again after them; a B+ tree now).
 * - Counted for every call: the store's `get`s (the express-session store's
 *   own method, wrapped), the coordinator calls and the keys the coordinator's
 *   session index handed out (`keys()` results), so it shows what a call
 *   loads and reads, independent of the machine's speed. Also: the longest
 *   event-loop block during one extra call of each (a 1 ms interval timer
 *   watching), and on Redis a PING, the round trip everything there pays.
 *
 * As the other benchmarks do, lib/ is measured compiled (tsup, as `npm run
 * build`, one file per module, into benchmarks/.build/admin): under tsx
 * (keepNames) every closure lib/ creates costs a defineProperty. Each setup
 * runs in a child process of its own (`--expose-gc`), which loads that build.
 *
 * Options: --sizes=10000,100000 --only=local,redis --rounds=5
 *          --out=<file> (also write the raw results as JSON)
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RedisStore } from 'connect-redis';
import express, { type Request } from 'express';
import type { Store } from 'express-session';
import { createClient } from 'redis';
import type { Coordinator, SessionManager } from '../lib';
import { findOnPath, startRedisServer, type RedisServer } from '../test/support/redis-server';
import { postMany } from '../test/support/bulk-sessions';
import { compileForBench, cpuSnapshot, cpuUse, git, machine, median, runChild, runMainOrChild, waitForQuiet } from './harness';

/** Sessions per page, as the admin page asks. */
const PAGE = 100;
/** One session in this many belongs to `ann`. */
const ANN_EVERY = 1000;
/** Sessions of `bob` at every size: the control for "costs what the user has, not what everyone has". */
const BOB = 10;
/** Concurrent HTTP requests while creating sessions. */
const CONNECTIONS = 50;
/** Page size used to walk to the middle (untimed; any page size gives the same cursor semantics). */
const WALK_PAGE = 1000;
/** Long enough that no background sweep runs during a stage (nothing is due anyway). */
const REAPER_INTERVAL_S = 3600;

/** Where lib/ is compiled for the children (git-ignored, like the other benchmarks' builds). */
const BUILD_DIR = join(__dirname, '.build', 'admin');

type Setup = 'local' | 'redis';

/** The timed operations, in table order. */
const OPERATIONS = [
  'list({ limit: 100 }): first page',
  'list({ limit: 100, cursor }): middle page',
  'count()',
  "list({ principal: 'ann' }): N / 1,000 sessions",
  "list({ principal: 'bob' }): 10 sessions",
  'get(id)',
  'first page, right after a new session',
  'get(id), right after a new session',
  "killByPrincipal('carol'): 10 sessions",
  "killByPrincipal('ann'): N / 1,000 sessions",
  'Redis PING (one round trip, for scale)',
] as const;
type Operation = (typeof OPERATIONS)[number];
/** Run once per size, last: it takes away what the other operations measure (the others are repeated). */
type Once = "killByPrincipal('ann'): N / 1,000 sessions";

/** What one call read: counted by wrappers around the store and the coordinator. */
interface Reads {
  storeGets: number;
  coordinatorCalls: number;
  /** Keys the coordinator's session index handed out (`keys()` results). */
  indexKeys: number;
}

interface OperationResult {
  /** Wall time of each timed call, ms. */
  samples: number[];
  /**
   * The longest stretch without a turn of the event loop during one call, ms
   * (a 1 ms interval timer watching; in an extra call after the timed ones,
   * or during the call itself for killByPrincipal('ann'), which runs once).
   */
  blockMs: number;
  /** Reads of the last timed call. */
  reads: Reads;
  /** What the call answered (sessions listed, the count, sessions killed). */
  answer: number;
}

interface StageResult {
  n: number;
  annSessions: number;
  /** Seconds to create the sessions added at this stage, and how many. */
  populateS: number;
  created: number;
  operations: Partial<Record<Operation, OperationResult>>;
  /** CPU of everything else on the machine while the operations were timed, in cores. */
  otherCores: number;
  heapUsedMB: number;
}

interface SetupResult {
  setup: Setup;
  stages: StageResult[];
  childCpuMs?: number;
}

interface Job {
  setup: Setup;
  sizes: number[];
  rounds: number;
  redisUrl?: string;
  redisPid?: number;
}

function log(message: string): void {
  process.stderr.write(`[admin] ${message}\n`);
}

// ---------------------------------------------------------------- the library under test (child)

interface Compiled {
  createSessionManager: typeof import('../lib').createSessionManager;
  redisCoordinator: typeof import('../lib/coordination/redis/redis-coordinator').redisCoordinator;
}

/** lib/ as compiled JavaScript; everything required at once (another bench may wipe benchmarks/.build later). */
function loadLib(): Compiled {
  const load = (name: string): unknown => require(join(BUILD_DIR, 'lib', `${name}.js`));
  return {
    createSessionManager: (load('index') as typeof import('../lib')).createSessionManager,
    redisCoordinator: (load('redis-coordinator') as typeof import('../lib/coordination/redis/redis-coordinator')).redisCoordinator,
  };
}

/** Counts what the admin API reads: the store's `get`s and the coordinator's calls. */
function instrument(store: Store, coordinator: Coordinator): Reads {
  const reads: Reads = { storeGets: 0, coordinatorCalls: 0, indexKeys: 0 };
  const get = store.get.bind(store);
  store.get = (sid, callback) => {
    reads.storeGets++;
    return get(sid, callback);
  };
  const wrapped = coordinator as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const method of ['keys', 'keysOf', 'inspect', 'kill', 'remove', 'claim'] as const) {
    const original = wrapped[method].bind(coordinator);
    wrapped[method] = async (...args: unknown[]) => {
      reads.coordinatorCalls++;
      const result = await original(...args);
      if (method === 'keys') reads.indexKeys += (result as string[]).length;
      return result;
    };
  }
  return reads;
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The longest time the event loop went without a turn while `call` ran, ms:
 * the largest gap between the ticks of a 1 ms interval timer, the gap from the
 * last tick to the end included (an in-process call that never waits for I/O
 * blocks the loop from start to end).
 */
async function longestBlock(call: () => Promise<unknown>): Promise<number> {
  let last = 0;
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  await pause(5);
  last = performance.now();
  longest = 0;
  try {
    await call();
  } finally {
    clearInterval(timer);
  }
  return Math.max(longest, performance.now() - last);
}

// ---------------------------------------------------------------- sessions over HTTP (child)

/** A user for the session created `serial`-th: `ann`, a user of its own, or anonymous. */
type User = string | undefined;

/** An Express app with the manager's middleware, listening on a free loopback port. */
async function startApp(manager: SessionManager): Promise<{ server: Server; port: number }> {
  const app = express();
  app.use(manager.middleware());
  app.post('/login', (req, res) => {
    req.httpSession.setAttribute('user', { name: req.headers['x-user'] ?? 'guest', roles: ['reader'] });
    res.end('ok');
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Creates one session per entry of `users` with `parallel` keep-alive connections; resolves their ids. */
async function createSessions(port: number, users: User[], parallel = CONNECTIONS): Promise<string[]> {
  const headers = (i: number): Record<string, string> => (users[i] === undefined ? {} : { 'x-user': users[i]! });
  const ids = await postMany(port, users.length, () => '/login', { parallel, headers });
  if (ids.includes('')) throw new Error('POST /login: an answer set no cookie');
  return ids;
}

/** `count` users of whom `ann` are ann's, spread evenly; of the rest every second has a user of its own. */
function usersFor(count: number, ann: number, serial: { next: number }): User[] {
  const users: User[] = [];
  let annGiven = 0;
  for (let i = 0; i < count; i++) {
    if (annGiven < ann && i >= Math.floor((annGiven * count) / ann)) {
      users.push('ann');
      annGiven++;
    } else {
      const n = serial.next++;
      users.push(n % 2 === 0 ? `user-${n}` : undefined);
    }
  }
  return users;
}

// ---------------------------------------------------------------- measurement (child)

async function runSetup(job: Job): Promise<SetupResult> {
  const lib = loadLib();
  const principal = (req: Request): string | undefined => req.headers['x-user'] as string | undefined;
  let manager: SessionManager;
  let redis: ReturnType<typeof createClient> | undefined;
  if (job.setup === 'local') {
    manager = lib.createSessionManager({ principal, reaperInterval: REAPER_INTERVAL_S });
  } else {
    redis = createClient({ url: job.redisUrl }) as ReturnType<typeof createClient>;
    redis.on('error', (error: unknown) => log(`redis client error: ${String(error)}`));
    await redis.connect();
    await redis.flushAll();
    const store = new RedisStore({ client: redis, prefix: 'sess:' });
    const coordinator = lib.redisCoordinator({ client: redis, prefix: 'esm:' });
    manager = lib.createSessionManager({ principal, store, coordinator, reaperInterval: REAPER_INTERVAL_S });
  }
  const reads = instrument(manager.store, manager.coordinator);
  const { server, port } = await startApp(manager);
  const sessions = manager.sessions;
  const serial = { next: 0 };
  let live = 0;
  const stages: StageResult[] = [];

  for (const n of job.sizes) {
    // 1. Top live up to n: ann's sessions up to n / 1000 (the previous stage killed hers), bob's 10 once.
    const annTarget = n / ANN_EVERY;
    const bob = live === 0 ? BOB : 0;
    const toAdd = n - live;
    const rest = toAdd - bob;
    const started = performance.now();
    const chunk = 10_000;
    let annGiven = 0;
    for (let from = 0; from < rest; from += chunk) {
      const size = Math.min(chunk, rest - from);
      const ann = Math.round(((from + size) * annTarget) / rest) - annGiven;
      await createSessions(port, usersFor(size, ann, serial));
      annGiven += ann;
    }
    await createSessions(port, Array.from({ length: bob }, () => 'bob'));
    live = n;
    const populateS = (performance.now() - started) / 1000;
    log(`${job.setup} ${n}: ${toAdd} sessions created over HTTP in ${populateS.toFixed(1)} s (${Math.round(toAdd / populateS)}/s)`);
    await pause(50);
    const stage = await measure(job, manager, port, n, annTarget, reads, redis);
    stage.populateS = populateS;
    stage.created = toAdd;
    stages.push(stage);
    live -= annTarget;
    const count = await sessions.count();
    if (count !== live) throw new Error(`${job.setup} ${n}: count() ${count} after the kill, expected ${live}`);
  }

  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await manager.close();
  if (redis) {
    await redis.flushAll();
    await redis.close();
  }
  return { setup: job.setup, stages };
}

/** Times the admin operations at n live sessions (annTarget of them ann's). */
async function measure(
  job: Job,
  manager: SessionManager,
  port: number,
  n: number,
  annTarget: number,
  reads: Reads,
  redis: ReturnType<typeof createClient> | undefined,
): Promise<StageResult> {
  const sessions = manager.sessions;
  // The middle page's cursor: follow cursors from the start (untimed).
  let cursor: string | undefined;
  for (let seen = 0; seen < n / 2; ) {
    const page = await sessions.list({ limit: Math.min(WALK_PAGE, n / 2 - seen), cursor });
    seen += page.sessions.length;
    cursor = page.cursor;
    if (!cursor) throw new Error(`${job.setup} ${n}: the listing ended after ${seen} sessions`);
  }
  const middle = cursor;
  const middlePage = await sessions.list({ limit: PAGE, cursor: middle });
  const ids = middlePage.sessions.map((s) => s.id);
  let nextId = 0;

  /** A user's sessions (one page: at most 100), checked to be theirs. */
  const listOf = async (user: string): Promise<number> => {
    const page = await sessions.list({ principal: user });
    if (page.sessions.some((s) => s.principal !== user)) throw new Error(`list({ principal: '${user}' }) listed another user`);
    return page.sessions.length;
  };
  /** One more session (untimed), then a pause so its request has left the coordinator. */
  const newSession = async (): Promise<string> => {
    const [id] = await createSessions(port, ['new-user'], 1);
    await pause(20);
    return id;
  };
  /** The timed part of each operation and what it answered; `before`/`after` are untimed. */
  type Step = { before?: () => Promise<unknown>; call: (arg: unknown) => Promise<number>; after?: (arg: unknown) => Promise<unknown> };
  const plan: Partial<Record<Exclude<Operation, Once>, Step>> = {
    'list({ limit: 100 }): first page': { call: async () => (await sessions.list({ limit: PAGE })).sessions.length },
    'list({ limit: 100, cursor }): middle page': { call: async () => (await sessions.list({ limit: PAGE, cursor: middle })).sessions.length },
    'count()': { call: () => sessions.count() },
    "list({ principal: 'ann' }): N / 1,000 sessions": { call: () => listOf('ann') },
    "list({ principal: 'bob' }): 10 sessions": { call: () => listOf('bob') },
    'get(id)': { call: async () => ((await sessions.get(ids[nextId++ % ids.length])) ? 1 : 0) },
    'first page, right after a new session': {
      before: newSession,
      call: async () => (await sessions.list({ limit: PAGE })).sessions.length,
      after: (id) => sessions.kill(id as string),
    },
    'get(id), right after a new session': {
      before: newSession,
      call: async (id) => ((await sessions.get(id as string)) ? 1 : 0),
      after: (id) => sessions.kill(id as string),
    },
    "killByPrincipal('carol'): 10 sessions": {
      before: async () => {
        await createSessions(port, Array.from({ length: BOB }, () => 'carol'));
        await pause(20);
      },
      call: () => sessions.killByPrincipal('carol'),
    },
  };
  if (redis) plan['Redis PING (one round trip, for scale)'] = { call: async () => ((await redis.ping()) === 'PONG' ? 1 : 0) };
  const names = Object.keys(plan) as Exclude<Operation, Once>[];
  const results: Partial<Record<Operation, OperationResult>> = {};
  const timeOne = async (name: Exclude<Operation, Once>, record: boolean): Promise<void> => {
    const step = plan[name]!;
    const arg = await step.before?.();
    reads.storeGets = reads.coordinatorCalls = reads.indexKeys = 0;
    const t0 = performance.now();
    const answer = await step.call(arg);
    const ms = performance.now() - t0;
    const read = { ...reads };
    await step.after?.(arg);
    if (!record) return;
    const result = (results[name] ??= { samples: [], blockMs: NaN, reads: read, answer });
    result.samples.push(ms);
    result.reads = read;
    result.answer = answer;
  };

  // 1. Warm-up: every operation once, untimed.
  for (const name of names) await timeOne(name, false);
  // 2. Rounds: each operation once per round, the start rotating; a full GC before each round.
  const cpuBefore = cpuSnapshot({ self: process.pid, redis: job.redisPid });
  for (let round = 0; round < job.rounds; round++) {
    collectGarbage();
    await pause(100);
    for (let i = 0; i < names.length; i++) await timeOne(names[(round + i) % names.length], true);
  }
  // 3. The longest event-loop block of one call of each (an extra call, untimed).
  for (const name of names) {
    const step = plan[name]!;
    const arg = await step.before?.();
    results[name]!.blockMs = await longestBlock(() => step.call(arg));
    await step.after?.(arg);
  }
  // 4. killByPrincipal('ann') once, last.
  collectGarbage();
  await pause(100);
  reads.storeGets = reads.coordinatorCalls = reads.indexKeys = 0;
  let killed = 0;
  let killMs = 0;
  const blockMs = await longestBlock(async () => {
    const t0 = performance.now();
    killed = await sessions.killByPrincipal('ann');
    killMs = performance.now() - t0;
  });
  results["killByPrincipal('ann'): N / 1,000 sessions"] = { samples: [killMs], blockMs, reads: { ...reads }, answer: killed };
  const otherCores = cpuUse(cpuBefore, cpuSnapshot({ self: process.pid, redis: job.redisPid })).otherCores;

  // Checks: the figures are about what they claim to be.
  const expect = (name: Operation, value: number): void => {
    if (results[name]!.answer !== value) throw new Error(`${job.setup} ${n}: ${name} answered ${results[name]!.answer}, expected ${value}`);
  };
  expect('list({ limit: 100 }): first page', PAGE);
  expect('list({ limit: 100, cursor }): middle page', PAGE);
  expect('first page, right after a new session', PAGE);
  expect('count()', n);
  expect("list({ principal: 'ann' }): N / 1,000 sessions", Math.min(annTarget, PAGE));
  expect("list({ principal: 'bob' }): 10 sessions", BOB);
  expect('get(id)', 1);
  expect('get(id), right after a new session', 1);
  expect("killByPrincipal('ann'): N / 1,000 sessions", annTarget);
  expect("killByPrincipal('carol'): 10 sessions", BOB);
  for (const user of ['ann', 'carol']) {
    if ((await sessions.list({ principal: user })).sessions.length !== 0) throw new Error(`${user} still has sessions`);
  }
  log(`${job.setup} ${n}: measured (other load ${otherCores.toFixed(2)} cores)`);
  collectGarbage();
  return { n, annSessions: annTarget, populateS: 0, created: 0, operations: results, otherCores, heapUsedMB: process.memoryUsage().heapUsed / 2 ** 20 };
}

// ---------------------------------------------------------------- parent

function spawnChild(job: Job): Promise<SetupResult> {
  return runChild<SetupResult>(__filename, job, 4096, job.setup);
}

function option(name: string, fallback: string): string {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}

const LABEL: Record<Setup, string> = { local: 'MemoryStore + LocalCoordinator', redis: 'connect-redis + redisCoordinator' };

const fmt = (ms: number): string => (!Number.isFinite(ms) ? '–' : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
const thousands = (n: number): string => n.toLocaleString('en');

/** Milliseconds per operation: median (min–max) for each setup and size. */
function timeTable(results: SetupResult[]): string {
  const columns = results.flatMap((r) => r.stages.map((s) => ({ setup: r.setup, stage: s })));
  const rows = [
    `| operation | ${columns.map((c) => `${LABEL[c.setup]}, ${thousands(c.stage.n)}`).join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
  ];
  for (const op of OPERATIONS) {
    const cells = columns.map(({ stage }) => {
      const result = stage.operations[op];
      if (!result) return '';
      const { samples } = result;
      if (samples.length === 1) return `${fmt(samples[0])} (once)`;
      return `**${fmt(median(samples))}** (${fmt(Math.min(...samples))}–${fmt(Math.max(...samples))})`;
    });
    rows.push(`| ${op} | ${cells.join(' | ')} |`);
  }
  const other = columns.map(({ stage }) => stage.otherCores.toFixed(2));
  rows.push(`| *other load while timed (cores)* | ${other.join(' | ')} |`);
  return rows.join('\n');
}

/** The longest event-loop block of one call, ms, for each setup and size. */
function blockTable(results: SetupResult[]): string {
  const columns = results.flatMap((r) => r.stages.map((s) => ({ setup: r.setup, stage: s })));
  const rows = [
    `| operation | ${columns.map((c) => `${LABEL[c.setup]}, ${thousands(c.stage.n)}`).join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
  ];
  for (const op of OPERATIONS) rows.push(`| ${op} | ${columns.map(({ stage }) => fmt(stage.operations[op]?.blockMs ?? NaN)).join(' | ')} |`);
  return rows.join('\n');
}

/** What each operation read, per size (with "local / redis" where the two setups differ). */
function readsTable(results: SetupResult[]): string {
  const sizes = [...new Set(results.flatMap((r) => r.stages.map((s) => s.n)))];
  const head = sizes.map((n) => `store gets, ${thousands(n)} | coordinator calls | index keys read`).join(' | ');
  const rows = [`| operation | ${head} |`, `|---|${sizes.map(() => '---:|---:|---:').join('|')}|`];
  for (const op of OPERATIONS) {
    const cells = sizes.flatMap((n) =>
      (['storeGets', 'coordinatorCalls', 'indexKeys'] as const).map((field) => {
        const values = results.map((r) => r.stages.find((s) => s.n === n)?.operations[op]?.reads[field]);
        const shown = values.filter((v): v is number => v !== undefined);
        return new Set(shown).size <= 1 ? thousands(shown[0] ?? NaN) : shown.map(thousands).join(' / ');
      }),
    );
    rows.push(`| ${op} | ${cells.join(' | ')} |`);
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const sizes = option('sizes', '10000,100000').split(',').map(Number);
  const only = option('only', 'local,redis').split(',') as Setup[];
  const rounds = Number(option('rounds', '5'));
  const out = option('out', '');
  const started = Date.now();
  log(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  log('compiling lib/ to benchmarks/.build/admin ...');
  await compileForBench(['lib/**/*.ts'], join(BUILD_DIR, 'lib'));

  const results: SetupResult[] = [];
  const failures: string[] = [];
  const run = async (job: Job): Promise<void> => {
    const waited = await waitForQuiet(0.5, 15_000);
    log(`${job.setup}: starting (waited ${(waited / 1000).toFixed(1)} s for a quieter machine; load average ${loadavg()[0].toFixed(2)})`);
    try {
      results.push(await spawnChild(job));
    } catch (error) {
      failures.push(error instanceof Error ? error.message : String(error));
      log(`!!! ${failures.at(-1)}`);
    }
  };

  if (only.includes('local')) await run({ setup: 'local', sizes, rounds });
  if (only.includes('redis')) {
    const binary = findOnPath('redis-server');
    if (!binary) {
      log('!!! redis-server is not on PATH: the Redis setup is SKIPPED');
      failures.push('redis: redis-server not on PATH');
    } else {
      let redis: RedisServer | undefined;
      try {
        redis = await startRedisServer(binary); // private, loopback, no persistence
        await run({ setup: 'redis', sizes, rounds, redisUrl: redis.url, redisPid: redis.pid });
      } finally {
        await redis?.stop();
      }
    }
  }

  const populate = results.flatMap((r) =>
    r.stages.map((s) => `${LABEL[r.setup]}: ${thousands(s.created)} sessions to ${thousands(s.n)} in ${s.populateS.toFixed(1)} s`),
  );
  const text = [
    `### ms per operation, median of ${rounds} (min–max) — ${new Date(started).toISOString().slice(0, 16)} UTC, ${cpus().length} CPUs, Node ${process.version}`,
    '',
    timeTable(results),
    '',
    '### Longest event-loop block during one call, ms',
    '',
    blockTable(results),
    '',
    '### What one call read',
    '',
    readsTable(results),
    '',
    `Created over HTTP: ${populate.join('; ')}.`,
    ...(failures.length ? ['', 'Failures:', ...failures.map((f) => `- ${f}`)] : []),
    '',
    `Total ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  ];
  console.log(text.join('\n'));
  if (out) writeFileSync(out, `${JSON.stringify({ started: new Date(started).toISOString(), machine: machine(), git: git(), results, failures }, null, 2)}\n`);
  if (failures.length) process.exitCode = 1;
}

async function child(job: Job): Promise<void> {
  const result = await runSetup(job);
  const { user, system } = process.cpuUsage();
  result.childCpuMs = (user + system) / 1000;
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

if (require.main === module) runMainOrChild<Job>(main, child);
