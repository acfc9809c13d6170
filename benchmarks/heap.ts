/**
 * `npm run bench:heap`: heap bytes per small session, this library's defaults
 * (in-process MemoryStore + LocalCoordinator) against express-session + its
 * MemoryStore, and what an in-process coordinator's enter + leave costs
 * (issue 13).
 *
 * 1. Heap per session, over HTTP: each round starts a fresh server of each
 *    configuration (`benchmarks/server.ts`, compiled, `--expose-gc`), creates
 *    `--warmup` sessions through `POST /setup` (a `user` object and a
 *    `count`: the bench's usual small session), reads the server's heap after
 *    a full GC (over IPC), creates N more sessions the same way (8 requests in
 *    flight, keep-alive), reads it again: (after − before) ÷ N. Hash tables
 *    grow by doubling, so bytes per session depend on where N falls between
 *    two sizes: round i creates N = `--sessions` × 2^(i / rounds), spreading
 *    the rounds evenly over one doubling, and the median of the rounds is
 *    reported with its range. The configurations alternate which goes first.
 * 2. Where those bytes go (a child process, `--expose-gc`, lib/ compiled):
 *    sessions created over HTTP in process, then the same keys and records
 *    copied into a fresh MemoryStore and the same entries into a fresh
 *    LocalCoordinator (public methods only), each measured on its own after
 *    a full GC: the key strings, the store, the coordinator, and the rest.
 * 3. Coordinator cost (same child): `--coordinated` entries in a
 *    LocalCoordinator, then enter + leave pairs as a request makes them
 *    (awaited, random keys, so cache misses count), and `due()` listing 1,000
 *    due keys; CPU ns (this process's user + system time, steadier than wall
 *    time on a shared machine) per pair and per key, the median of
 *    `--rounds` rounds. With `--baseline=<git ref>` the LocalCoordinator of
 *    lib/ at that ref runs too, on the same keys, in alternating rounds, and
 *    the paired ratios are printed.
 *
 * Options: --sessions=20000 --warmup=2000 --rounds=5 --coordinated=100000
 *          --only=http,breakdown,coordinator --baseline=<git ref>
 *          --out=<file> (raw results, JSON)
 * Prints markdown tables and the load average at start and end.
 */
import { randomBytes } from 'node:crypto';
import { execSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import type { SessionData } from 'express-session';
import type { AccessEntry, LocalCoordinator, MemoryStore } from '../lib';
import { build } from 'tsup';
import { BUILD_DIR as SERVERS_DIR, compileForBench, compileServers, git, machine, median, ROOT, runChild, runMainOrChild, startServer, type RunningServer } from './harness';
import type { ConfigName } from './configs';

const BUILD_DIR = join(SERVERS_DIR, 'heap');
const BASELINE_DIR = join(BUILD_DIR, 'baseline');
const CONFIGS: ConfigName[] = ['express-session+memory', 'esm+memory'];
const SETUP_IN_FLIGHT = 8;
const TIMEOUT_MS = 30 * 60 * 1000;

interface Options {
  sessions: number;
  warmup: number;
  rounds: number;
  coordinated: number;
  only: string[];
  baseline?: string;
  out?: string;
}

function options(): Options {
  const arg = (name: string, fallback: string): string =>
    process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
  const out = arg('out', '');
  const baseline = arg('baseline', '');
  return {
    sessions: Number(arg('sessions', '20000')),
    warmup: Number(arg('warmup', '2000')),
    rounds: Number(arg('rounds', '5')),
    coordinated: Number(arg('coordinated', '100000')),
    only: arg('only', 'http,breakdown,coordinator').split(','),
    ...(out ? { out } : {}),
    ...(baseline ? { baseline } : {}),
  };
}

// ---------------------------------------------------------------- 1. over HTTP

/** Creates `count` sessions through POST /setup, `SETUP_IN_FLIGHT` at a time. */
async function createSessions(url: string, count: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const res = await fetch(`${url}/setup`, { method: 'POST' });
      if (res.status !== 204) throw new Error(`POST /setup answered ${res.status}`);
      if (res.headers.getSetCookie().length === 0) throw new Error('POST /setup set no cookie');
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: SETUP_IN_FLIGHT }, worker));
}

/** The server's heap after a full GC (server.ts answers `heap` over IPC when started with --expose-gc). */
function serverHeap(server: RunningServer): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${server.config}: no heap figure within 30 s`)), 30_000);
    server.child.once('message', (message: { heapUsed?: number }) => {
      clearTimeout(timer);
      if (typeof message.heapUsed === 'number') resolve(message.heapUsed);
      else reject(new Error(`${server.config}: ${JSON.stringify(message)}`));
    });
    server.child.send('heap');
  });
}

interface HttpRound {
  config: ConfigName;
  sessions: number;
  bytesPerSession: number;
}

async function httpRound(config: ConfigName, sessions: number, warmup: number): Promise<HttpRound> {
  const server = await startServer(config, { execArgv: ['--expose-gc'] });
  try {
    await createSessions(server.url, warmup);
    await pause(200); // leaves run after the response
    const before = await serverHeap(server);
    await createSessions(server.url, sessions);
    await pause(200);
    const after = await serverHeap(server);
    return { config, sessions, bytesPerSession: (after - before) / sessions };
  } finally {
    await server.stop();
  }
}

async function overHttp(opts: Options): Promise<HttpRound[]> {
  await compileServers();
  const rounds: HttpRound[] = [];
  for (let i = 0; i < opts.rounds; i++) {
    const sessions = Math.round(opts.sessions * 2 ** (i / opts.rounds));
    const order = i % 2 === 0 ? CONFIGS : [...CONFIGS].reverse();
    for (const config of order) {
      const round = await httpRound(config, sessions, opts.warmup);
      log(`round ${i + 1}: ${config}, ${sessions} sessions: ${round.bytesPerSession.toFixed(0)} B/session`);
      rounds.push(round);
    }
  }
  return rounds;
}

// ---------------------------------------------------------------- 2. and 3., in a child

interface ChildJob {
  /** The baseline's git ref, compiled into BASELINE_DIR. */
  baseline?: string;
  sessions: number;
  coordinated: number;
  rounds: number;
  only: string[];
}

interface Breakdown {
  sessions: number;
  /** Everything the sessions added, created over HTTP in process. */
  total: number;
  /** The key strings alone (what every structure shares). */
  keys: number;
  /** A MemoryStore holding the same records, besides the keys. */
  store: number;
  /** A LocalCoordinator holding the same entries, besides the keys. */
  coordinator: number;
  /** total − keys − store − coordinator. */
  other: number;
}

interface CostRounds {
  /** CPU ns per enter + leave pair, one figure a round. */
  enterLeaveNs: number[];
  /** CPU ns per key `due()` lists, one figure a round. */
  dueNsPerKey: number[];
}

interface CoordinatorCost {
  entries: number;
  current: CostRounds;
  baseline?: CostRounds;
}

interface ChildResult {
  breakdown?: Breakdown;
  coordinator?: CoordinatorCost;
}

interface Compiled {
  createSessionManager: typeof import('../lib').createSessionManager;
  MemoryStore: typeof import('../lib').MemoryStore;
  LocalCoordinator: typeof import('../lib').LocalCoordinator;
}

function lib(dir = BUILD_DIR): Compiled {
  return require(join(dir, 'lib', 'index.js')) as Compiled;
}

/**
 * Compiles lib/ as it is at `ref` into BASELINE_DIR (its sources extracted
 * with `git archive` beside it, inside the repository so its requires find
 * node_modules).
 */
async function compileBaseline(ref: string): Promise<void> {
  const sources = join(BUILD_DIR, 'baseline-src');
  rmSync(sources, { recursive: true, force: true });
  mkdirSync(sources, { recursive: true });
  execSync(`git archive ${ref} lib | tar -x -C ${sources}`, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(BASELINE_DIR, { recursive: true, force: true });
  await build({
    config: false,
    entry: [join(sources, 'lib/**/*.ts')],
    outDir: join(BASELINE_DIR, 'lib'),
    format: ['cjs'],
    bundle: false,
    target: 'node20',
    dts: false,
    sourcemap: false,
    silent: true,
    tsconfig: join(ROOT, 'tsconfig.json'),
  });
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  for (let i = 0; i < 3; i++) gc();
}

function heapAfterGc(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/** Sessions created over HTTP in process: the heap they took, and copies of their keys, records and entries. */
async function liveSessions(sessions: number): Promise<{ total: number; keys: string[]; records: string[]; entries: AccessEntry[] }> {
  const { createSessionManager } = lib();
  const manager = createSessionManager({ secret: 'bench', reaperInterval: 3600 });
  const app = express();
  app.use(manager.middleware());
  app.post('/setup', (req, res) => {
    req.httpSession.setAttribute('user', { id: 42, name: 'bench', roles: ['reader', 'writer'] });
    req.httpSession.setAttribute('count', 0);
    res.sendStatus(204);
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await createSessions(url, 2000);
  await pause(200);
  const before = heapAfterGc();
  await createSessions(url, sessions);
  await pause(200);
  const total = heapAfterGc() - before;
  const store = manager.store as MemoryStore;
  const all = await new Promise<Record<string, unknown>>((resolve, reject) =>
    store.all((err, found) => (err ? reject(err) : resolve(found as Record<string, unknown>))),
  );
  const keys = Object.keys(all).map(fresh);
  const records = keys.map((key) => JSON.stringify(all[key]));
  const entries = (await Promise.all(keys.map((key) => manager.coordinator.inspect(key)))) as AccessEntry[];
  await manager.close();
  await new Promise((resolve) => server.close(resolve));
  return { total, keys, records, entries };
}

/** Holds what a measurement needs alive (a local an async function no longer uses may be collected). */
function keepAlive(...values: unknown[]): number {
  return values.length;
}

/** A copy of `text` that shares nothing with it (and is one flat string). */
function fresh(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1');
}

async function breakdown(sessions: number): Promise<Breakdown> {
  const { MemoryStore, LocalCoordinator } = lib();
  const live = await liveSessions(sessions);
  const { keys, entries } = live;
  const n = keys.length;
  const parsed = live.records.map((text) => JSON.parse(text) as SessionData);
  live.records.length = 0;
  // Each part is added on top of the previous ones, keys shared as the library shares them.
  const start = heapAfterGc();
  const copyStore = new MemoryStore();
  for (let i = 0; i < n; i++) copyStore.put(keys[i], parsed[i]);
  const withStore = heapAfterGc();
  const copyCoordinator = new LocalCoordinator();
  for (let i = 0; i < n; i++) {
    const entry = entries[i];
    await copyCoordinator.leave(keys[i], {
      now: entry.lastAccessedTime,
      timeoutMs: entry.deadline === null ? null : entry.deadline - entry.lastAccessedTime,
      storeExpires: entry.storeExpires,
      entered: false,
      lastAccessedTime: entry.lastAccessedTime,
      request: 'copy',
    });
  }
  const withCoordinator = heapAfterGc();
  // The key strings: what dropping a copy of them frees, less the array's own slots.
  let copies: string[] | undefined = keys.map(fresh);
  const withCopies = heapAfterGc();
  const held = copies.length;
  copies = undefined;
  const keyBytes = withCopies - heapAfterGc() - 8 * held;
  const result: Breakdown = {
    sessions: n,
    total: live.total / sessions,
    keys: keyBytes / n,
    store: (withStore - start) / n,
    coordinator: (withCoordinator - withStore) / n,
    other: 0,
  };
  result.other = result.total - result.keys - result.store - result.coordinator;
  keepAlive(parsed, entries, copyStore, copyCoordinator); // what is measured stays alive until here
  return result;
}

/** CPU time of this process, µs (user + system): steadier than wall time on a shared machine. */
function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** A LocalCoordinator holding `keys`, deadlines spread over a timeout as sessions used at random times would have. */
async function populated(Coordinator: Compiled['LocalCoordinator'], keys: string[], start: number): Promise<LocalCoordinator> {
  const coordinator = new Coordinator();
  for (const key of keys) {
    const accessed = start - Math.floor(Math.random() * TIMEOUT_MS);
    await coordinator.leave(key, { now: accessed, timeoutMs: TIMEOUT_MS, storeExpires: accessed + 2 * TIMEOUT_MS, entered: false, lastAccessedTime: accessed, request: 'r' });
  }
  return coordinator;
}

/** One round on `coordinator`: ns of CPU per enter + leave pair, and per key `due()` lists. */
async function costRound(coordinator: LocalCoordinator, keys: string[], clock: { now: number }, start: number): Promise<{ enterLeave: number; due: number }> {
  const pairs = 100_000;
  const tokens = Array.from({ length: 64 }, (_, i) => `tok${i}`);
  const order = Array.from({ length: pairs }, () => keys[Math.floor(Math.random() * keys.length)]);
  collectGarbage();
  const t0 = cpuMicros();
  for (let i = 0; i < pairs; i++) {
    const key = order[i];
    const token = tokens[i & 63];
    const now = ++clock.now;
    await coordinator.enter(key, now, true, token);
    await coordinator.leave(key, { now, timeoutMs: TIMEOUT_MS, storeExpires: now + 2 * TIMEOUT_MS, entered: true, lastAccessedTime: now, request: token });
  }
  const enterLeave = ((cpuMicros() - t0) * 1000) / pairs;
  // About the earliest 1,000 deadlines: what one batch of a sweep lists.
  const dueAt = start + TIMEOUT_MS * (1000 / keys.length);
  const t1 = cpuMicros();
  let listed = 0;
  for (let i = 0; i < 200; i++) listed += (await coordinator.due(dueAt, 1000)).length;
  return { enterLeave, due: ((cpuMicros() - t1) * 1000) / Math.max(1, listed) };
}

/**
 * enter + leave and `due()` on `entries` sessions, this lib/ and (with
 * `--baseline`) the baseline's, in alternating rounds on the same keys; the
 * first round of each is a warm-up.
 */
async function coordinatorCost(entries: number, rounds: number, baseline: boolean): Promise<CoordinatorCost> {
  const keys = Array.from({ length: entries }, () => randomBytes(32).toString('base64url'));
  const start = 1_700_000_000_000;
  const clock = { now: start };
  const subjects: { name: 'current' | 'baseline'; coordinator: LocalCoordinator }[] = [{ name: 'current', coordinator: await populated(lib().LocalCoordinator, keys, start) }];
  if (baseline) subjects.push({ name: 'baseline', coordinator: await populated(lib(BASELINE_DIR).LocalCoordinator, keys, start) });
  const result: CoordinatorCost = { entries, current: { enterLeaveNs: [], dueNsPerKey: [] }, ...(baseline ? { baseline: { enterLeaveNs: [], dueNsPerKey: [] } } : {}) };
  for (let round = 0; round <= rounds; round++) {
    for (const { name, coordinator } of round % 2 === 0 ? subjects : [...subjects].reverse()) {
      const cost = await costRound(coordinator, keys, clock, start);
      if (round === 0) continue;
      result[name]!.enterLeaveNs.push(cost.enterLeave);
      result[name]!.dueNsPerKey.push(cost.due);
    }
  }
  return result;
}

async function child(job: ChildJob): Promise<void> {
  const result: ChildResult = {};
  if (job.only.includes('breakdown')) result.breakdown = await breakdown(job.sessions);
  if (job.only.includes('coordinator')) result.coordinator = await coordinatorCost(job.coordinated, job.rounds, job.baseline !== undefined);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const opts = options();
  const loadStart = loadavg();
  log(`load average ${loadStart.map((l) => l.toFixed(2)).join(' ')}`);
  const http = opts.only.includes('http') ? await overHttp(opts) : [];
  let inChild: ChildResult = {};
  if (opts.only.includes('breakdown') || opts.only.includes('coordinator')) {
    await compileForBench(['lib/**/*.ts'], join(BUILD_DIR, 'lib'));
    if (opts.baseline) await compileBaseline(opts.baseline);
    const job: ChildJob = { sessions: opts.sessions, coordinated: opts.coordinated, rounds: opts.rounds, only: opts.only, ...(opts.baseline ? { baseline: opts.baseline } : {}) };
    inChild = await runChild<ChildResult>(__filename, job, 4096, 'heap child');
  }
  const loadEnd = loadavg();
  const text: string[] = [];
  if (http.length > 0) {
    text.push('### Heap per small session, created over HTTP, after GC', '');
    text.push('| configuration | B/session (median) | range | rounds |', '|---|---:|---:|---|');
    for (const config of CONFIGS) {
      const own = http.filter((r) => r.config === config);
      const values = own.map((r) => r.bytesPerSession);
      text.push(`| ${config} | ${median(values).toFixed(0)} | ${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)} | ${own.map((r) => `${r.sessions}: ${r.bytesPerSession.toFixed(0)}`).join(', ')} |`);
    }
    const ratio = median(http.filter((r) => r.config === 'esm+memory').map((r) => r.bytesPerSession)) / median(http.filter((r) => r.config === 'express-session+memory').map((r) => r.bytesPerSession));
    text.push('', `this library ÷ express-session: ${ratio.toFixed(2)}`, '');
  }
  const b = inChild.breakdown;
  if (b) {
    text.push(`### Where this library's bytes go (${b.sessions} sessions, in process)`, '');
    text.push('| part | B/session |', '|---|---:|');
    for (const part of ['keys', 'store', 'coordinator', 'other', 'total'] as const) text.push(`| ${part} | ${b[part].toFixed(0)} |`);
    text.push('');
  }
  const c = inChild.coordinator;
  if (c) {
    text.push(`### LocalCoordinator, ${c.entries} entries (CPU ns, median of rounds)`, '');
    text.push('| lib/ | enter + leave | due(), per key listed |', '|---|---:|---:|');
    const row = (name: string, r: CostRounds): string =>
      `| ${name} | ${median(r.enterLeaveNs).toFixed(0)} (${r.enterLeaveNs.map((x) => x.toFixed(0)).join(', ')}) | ${median(r.dueNsPerKey).toFixed(0)} |`;
    text.push(row('current', c.current));
    if (c.baseline) {
      text.push(row(`baseline (${opts.baseline})`, c.baseline));
      const paired = (pick: (r: CostRounds) => number[]): string =>
        median(pick(c.current).map((x, i) => x / pick(c.baseline!)[i])).toFixed(2);
      text.push('', `current ÷ baseline, paired by round: enter + leave ${paired((r) => r.enterLeaveNs)}, due() ${paired((r) => r.dueNsPerKey)}`);
    }
    text.push('');
  }
  text.push(`load average at start ${loadStart.map((l) => l.toFixed(2)).join(' ')}, at end ${loadEnd.map((l) => l.toFixed(2)).join(' ')}`);
  console.log(text.join('\n'));
  if (opts.out) writeFileSync(opts.out, `${JSON.stringify({ machine: machine(), git: git(), options: opts, loadStart, loadEnd, http, ...inChild }, null, 2)}\n`);
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function log(message: string): void {
  process.stderr.write(`[heap] ${message}\n`);
}

if (require.main === module) runMainOrChild<ChildJob>(main, child);
