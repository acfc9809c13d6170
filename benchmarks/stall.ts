/**
 * `npm run bench:stall` (`npx tsx benchmarks/stall.ts`): the longest
 * event-loop stall the library causes at the scale it claims (docs/architecture.md,
 * "Faults": no work of the library may hold the loop for more than 20 ms; issue 10).
 *
 * - Listing: `manager.sessions.list({ limit: 100 })` at 1,000,000 live
 *   sessions, right after 125,000 new ones were added to 875,000 already
 *   listed once (the in-process key index used to sort every key again at
 *   that point); then, 5 times each, the first page, a middle page (its
 *   cursor found by following cursors from the start, untimed) and `count()`.
 * - Sweep: one `manager.reap()` with 1,000,000 live / 10,000 due and with
 *   200,000 live / 20,000 due (3 sweeps per size, each on a fresh batch of
 *   due sessions, live topped up to N in between), while a client process
 *   sends `GET /hit` (4 keep-alive connections, each its own session, back
 *   to back) to an Express app with the manager's middleware: the sweep's
 *   duration, the stall, and from the client's side the requests sent and
 *   answered during the sweep, their longest latency, and the longest
 *   latency of any request in flight during the sweep.
 *
 * Setup: the defaults, in-process MemoryStore + LocalCoordinator, with a
 * fake clock (`invalidationTimeout` 1800 s as by default; `reaperInterval`
 * 3600 s so that only the measured `reap()` calls sweep). Sessions are
 * created without HTTP but through the real request path: the manager's
 * middleware is called with a real `IncomingMessage` / `ServerResponse` pair
 * (no socket), the handler sets two attributes and calls `res.end()`, which
 * the middleware holds back until the session is committed (store record,
 * coordinator entry, key and expiry index). A due batch is created at an
 * earlier fake time than the rest, and the clock is moved just past its
 * deadline before each sweep.
 *
 * The stall is measured two ways (harness `watchStalls`): the max of
 * `perf_hooks.monitorEventLoopDelay({ resolution: 1 })` and the longest gap
 * between the ticks of a 1 ms `setInterval`. On a shared machine part of a
 * gap is the OS running other processes: the most the main thread was on a
 * CPU between two ticks (Linux schedstat) is the stall without it, and the
 * longest GC pause tells a stall of V8's from one of the library's work. A
 * full GC runs before each measured step (untimed), then a pause so V8's
 * sweeping is over.
 *
 * As the other benchmarks do, lib/ is measured compiled (tsup, one file per
 * module, into benchmarks/.build/stall); each measurement runs in a child
 * process of its own (`--expose-gc`, 6 GB heap), the client in another.
 *
 * Options: --only=listing,sweep --listing=1000000:125000 (live:added)
 *          --sweeps=1000000:10000,200000:20000 (live:due) --rounds=5
 *          --out=<file> (also write the raw results as JSON)
 */
import { writeFileSync } from 'node:fs';
import { Agent, createServer, IncomingMessage, request as httpRequest, ServerResponse } from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import express, { type Request } from 'express';
import type { LocalCoordinator, MemoryStore, SessionManager } from '../lib';
import { FakeClock } from '../test/support/fake-clock';
import { compileForBench, git, machine, median, runChild, runMainOrChild, waitForQuiet, watchStalls, type Stall } from './harness';

/** The sessions' idle timeout, s (the default `invalidationTimeout`). */
const TIMEOUT_S = 1800;
const TIMEOUT_MS = TIMEOUT_S * 1000;
/** Long enough that the background timer never sweeps during a run (sweeps are `reap()` calls). */
const REAPER_INTERVAL_S = 3600;
/** Sessions per page, as the admin page asks. */
const PAGE = 100;
/** Page size used to walk to the middle (untimed). */
const WALK_PAGE = 1000;
/** Measured sweeps per size. */
const SWEEPS = 3;
/** The client's keep-alive connections, each with a session of its own. */
const CONNECTIONS = 4;
/** Requests the server must have answered before the first sweep (the client is warm). */
const WARM_REQUESTS = 500;
/** Sessions created in process between two turns of the event loop. */
const CREATE_SLICE = 100;
/** Heap of a measuring child, MB: 1,000,000 sessions with their records take about 2 GB. */
const HEAP_MB = 6144;

/** Where lib/ is compiled for the children (git-ignored, like the other benchmarks' builds). */
const BUILD_DIR = join(__dirname, '.build', 'stall');

interface ListingJob {
  kind: 'listing';
  live: number;
  added: number;
  rounds: number;
}
interface SweepJob {
  kind: 'sweep';
  live: number;
  due: number;
}
interface ClientJob {
  kind: 'client';
  port: number;
}
type Job = ListingJob | SweepJob | ClientJob;

interface Timed {
  ms: number;
  stall: Stall;
  /** What the call answered (sessions listed, or the count). */
  answer: number;
}

interface ListingResult {
  kind: 'listing';
  live: number;
  added: number;
  populateS: number;
  afterAdded: Timed;
  rounds: Record<'first page' | 'middle page' | 'count()', Timed[]>;
  heapUsedMB: number;
}

/** One sweep's window in epoch ms (both processes read the same wall clock). */
interface Window {
  start: number;
  end: number;
}

interface SweepSample {
  expired: number;
  /** `reap()`'s own `durationMs`. */
  ms: number;
  stall: Stall;
  /** Requests the server's route answered while the sweep ran. */
  servedDuring: number;
  window: Window;
}

interface ClientWindow {
  /** Requests sent and answered while the sweep ran (not those sent before: their answers may have left before it began). */
  answered: number;
  /** The longest latency of those, ms (NaN when none). */
  maxLatencyAnsweredMs: number;
  /** The longest latency of any request in flight at some point of the sweep, ms. */
  maxLatencyOverlappingMs: number;
}

interface ClientResult {
  kind: 'client';
  requests: number;
  /** Median latency over the whole run, ms. */
  p50Ms: number;
  windows: ClientWindow[];
}

interface SweepResult {
  kind: 'sweep';
  live: number;
  due: number;
  populateS: number;
  samples: SweepSample[];
  client: ClientResult;
  heapUsedMB: number;
}

type Result = ListingResult | SweepResult | ClientResult;

function log(message: string): void {
  process.stderr.write(`[stall] ${message}\n`);
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Wall-clock ms with sub-ms precision, comparable across processes. */
const epochNow = (): number => performance.timeOrigin + performance.now();

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** A full GC, then a pause (1 ms per 1,000 sessions, at least 200 ms) so V8's page sweeping is over. */
async function quiet(live: number): Promise<void> {
  collectGarbage();
  await pause(Math.max(200, live / 1000));
}

// ---------------------------------------------------------------- the library under test (child)

/** A manager of the compiled lib/ with the defaults (MemoryStore + LocalCoordinator) on a fake clock. */
function newManager(clock: FakeClock): SessionManager {
  const lib = require(join(BUILD_DIR, 'lib', 'index.js')) as typeof import('../lib');
  return lib.createSessionManager({ clock, invalidationTimeout: TIMEOUT_S, reaperInterval: REAPER_INTERVAL_S });
}

/**
 * Creates sessions through the manager's middleware without HTTP: a real
 * request/response pair on an unconnected socket; the handler sets the
 * attributes and ends the response, and the middleware calls the `end`
 * installed here only once the session is committed.
 */
export function inProcessCreator(manager: SessionManager): (count: number) => Promise<void> {
  const middleware = manager.middleware();
  const socket = new Socket();
  let serial = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const n = serial++;
      const req = new IncomingMessage(socket);
      req.method = 'POST';
      req.url = '/session';
      const res = new ServerResponse(req);
      res.end = (() => {
        resolve();
        return res;
      }) as ServerResponse['end'];
      const handler = middleware as unknown as (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;
      handler(req, res, (error?: unknown) => {
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        const session = (req as unknown as Request).httpSession;
        session.setAttribute('user', { id: n, name: `user-${n}`, roles: ['reader'] });
        session.setAttribute('visits', 1);
        res.end();
      });
    });
  return async (count) => {
    for (let i = 0; i < count; i++) {
      await one();
      // The in-process path never waits for I/O: let the loop turn, or the client's keep-alive sockets time out.
      if (i % CREATE_SLICE === CREATE_SLICE - 1) await new Promise((resolve) => setImmediate(resolve));
    }
  };
}

/** Store records, the coordinator's expiry index and its key index (the admin count), which must agree. */
async function checkCounts(manager: SessionManager, expected: number, what: string): Promise<void> {
  const store = manager.store as MemoryStore;
  const stored = await new Promise<number>((resolve, reject) => store.length((err, length) => (err ? reject(err) : resolve(length ?? -1))));
  const withDeadline = (await (manager.coordinator as LocalCoordinator).due(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)).length;
  const counted = await manager.sessions.count();
  if (stored !== expected || withDeadline !== expected || counted !== expected) {
    throw new Error(`${what}: store ${stored}, expiry index ${withDeadline}, count() ${counted}; expected ${expected}`);
  }
}

/** Times one call, watching the event loop while it runs. */
async function timed(call: () => Promise<number>): Promise<Timed> {
  const watch = watchStalls();
  await pause(5); // the watchers tick regularly before the call
  const started = performance.now();
  const answer = await call();
  const ms = performance.now() - started;
  return { ms, stall: await watch.stop(), answer };
}

// ---------------------------------------------------------------- listing (child)

async function listingJob(job: ListingJob): Promise<ListingResult> {
  const manager = newManager(new FakeClock());
  const create = inProcessCreator(manager);
  const sessions = manager.sessions;
  const firstPage = async (): Promise<number> => (await sessions.list({ limit: PAGE })).sessions.length;

  // 1. live - added sessions, listed once (the index is in order; the old index folded its new keys in here).
  const started = performance.now();
  await create(job.live - job.added);
  await firstPage();
  // 2. added more: what a busy server creates between two looks at the admin page.
  await create(job.added);
  const populateS = (performance.now() - started) / 1000;
  await checkCounts(manager, job.live, 'listing');
  log(`listing: ${job.live} sessions created in process in ${populateS.toFixed(1)} s`);

  // 3. The first listing right after them.
  await quiet(job.live);
  const afterAdded = await timed(firstPage);
  log(`listing: first page right after ${job.added} new sessions: ${afterAdded.ms.toFixed(1)} ms`);

  // 4. The middle page's cursor: follow cursors from the start (untimed).
  let cursor: string | undefined;
  for (let seen = 0; seen < job.live / 2; ) {
    const page = await sessions.list({ limit: Math.min(WALK_PAGE, job.live / 2 - seen), cursor });
    seen += page.sessions.length;
    cursor = page.cursor;
    if (!cursor) throw new Error(`the listing ended after ${seen} sessions`);
  }
  const middle = cursor;

  // 5. Rounds: each operation once per round, a full GC before each round.
  const plan = {
    'first page': firstPage,
    'middle page': async () => (await sessions.list({ limit: PAGE, cursor: middle })).sessions.length,
    'count()': () => sessions.count(),
  };
  const rounds: ListingResult['rounds'] = { 'first page': [], 'middle page': [], 'count()': [] };
  for (let round = 0; round < job.rounds; round++) {
    await quiet(job.live);
    for (const [name, call] of Object.entries(plan) as [keyof typeof plan, () => Promise<number>][]) rounds[name].push(await timed(call));
  }
  const expected = { 'first page': PAGE, 'middle page': PAGE, 'count()': job.live };
  for (const name of Object.keys(expected) as (keyof typeof expected)[]) {
    for (const { answer } of rounds[name]) if (answer !== expected[name]) throw new Error(`${name} answered ${answer}, expected ${expected[name]}`);
  }
  if (afterAdded.answer !== PAGE) throw new Error(`the first page after the new sessions had ${afterAdded.answer} sessions`);
  const heapUsedMB = process.memoryUsage().heapUsed / 2 ** 20;
  await manager.close();
  return { kind: 'listing', live: job.live, added: job.added, populateS, afterAdded, rounds, heapUsedMB };
}

// ---------------------------------------------------------------- sweep (child)

async function sweepJob(job: SweepJob): Promise<SweepResult> {
  const T0 = Date.now();
  const clock = new FakeClock(T0);
  const manager = newManager(clock);
  const create = inProcessCreator(manager);

  // 1. Due batch k (k = 1..SWEEPS) last used at T0 + (k - 1) s, the rest at T0 + 60 s.
  const started = performance.now();
  for (let k = 0; k < SWEEPS; k++) {
    await create(job.due);
    clock.advance(1000);
  }
  clock.advance(60_000 - SWEEPS * 1000);
  await create(job.live - SWEEPS * job.due);
  const populateS = (performance.now() - started) / 1000;
  await checkCounts(manager, job.live, `sweep ${job.live}`);
  log(`sweep ${job.live}: created in process in ${populateS.toFixed(1)} s`);

  // 2. The app and its client: each request reads and writes its session.
  let served = 0;
  let stop: string | undefined;
  const app = express();
  app.use(manager.middleware());
  app.get('/hit', (req, res) => {
    const session = req.httpSession;
    session.setAttribute('hits', ((session.getAttribute('hits') as number | undefined) ?? 0) + 1);
    served++;
    if (stop) res.setHeader('x-stop', stop);
    res.end('ok');
  });
  const server = createServer(app);
  // Untimed steps between sweeps (a full GC at 1,000,000 sessions on a busy machine) can hold the loop for
  // seconds; with the default 5 s a keep-alive socket could time out with the client's next request in it.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const clientJob: ClientJob = { kind: 'client', port: (server.address() as AddressInfo).port };
  const client = runChild<ClientResult>(__filename, clientJob, 512, 'client');
  client.catch(() => undefined); // awaited below; a failure must not go unhandled while the sweeps run
  for (const waitStarted = Date.now(); served < WARM_REQUESTS; await pause(50)) {
    if (Date.now() - waitStarted > 30_000) throw new Error(`the client got ${served} answers in 30 s`);
  }

  // 3. Sweeps: the clock just past batch k's deadlines (before batch k + 1's), live topped up to N after each.
  const samples: SweepSample[] = [];
  for (let k = 1; k <= SWEEPS; k++) {
    clock.advance(T0 + (k - 1) * 1000 + TIMEOUT_MS + 500 - clock.now());
    await quiet(job.live);
    const watch = watchStalls();
    await pause(5);
    const servedBefore = served;
    const start = epochNow();
    const { expired, durationMs } = await manager.reap();
    const end = epochNow();
    const servedDuring = served - servedBefore;
    const stall = await watch.stop();
    if (expired !== job.due) throw new Error(`sweep ${k}: expired ${expired}, expected ${job.due}`);
    samples.push({ expired, ms: durationMs, stall, servedDuring, window: { start, end } });
    log(`sweep ${job.live}/${job.due} #${k}: ${durationMs.toFixed(0)} ms, stall ${stall.histogramMaxMs.toFixed(0)} / ${stall.intervalMaxGapMs.toFixed(0)} ms (on CPU ${stall.onCpuMaxGapMs.toFixed(0)} ms, GC ${stall.gcMaxMs.toFixed(0)} ms), ${servedDuring} served`);
    await create(job.due); // not due for a timeout
  }
  await checkCounts(manager, job.live + CONNECTIONS, `sweep ${job.live} after`);

  // 4. Stop the client: the next answers tell it the sweeps' windows.
  stop = JSON.stringify(samples.map((s) => s.window));
  const clientResult = await client;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const heapUsedMB = process.memoryUsage().heapUsed / 2 ** 20;
  await manager.close();
  return { kind: 'sweep', live: job.live, due: job.due, populateS, samples, client: clientResult, heapUsedMB };
}

// ---------------------------------------------------------------- client (its own child)

/** `GET /hit` back to back on CONNECTIONS connections, each with its own session, until told the sweeps' windows. */
async function clientJob(job: ClientJob): Promise<ClientResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const sent: number[] = [];
  const received: number[] = [];
  let windows: Window[] | undefined;
  const one = (cookie: string | undefined): Promise<{ cookie: string | undefined; stop?: string }> =>
    new Promise((resolve, reject) => {
      const at = epochNow();
      const req = httpRequest({ host: '127.0.0.1', port: job.port, path: '/hit', agent, headers: cookie ? { cookie } : {} }, (res) => {
        res.resume();
        res.on('end', () => {
          sent.push(at);
          received.push(epochNow());
          if (res.statusCode !== 200) return reject(new Error(`GET /hit: HTTP ${res.statusCode}`));
          const setCookie = res.headers['set-cookie']?.[0];
          resolve({ cookie: setCookie ? setCookie.split(';')[0] : cookie, stop: res.headers['x-stop'] as string | undefined });
        });
      });
      req.on('error', reject);
      req.end();
    });
  const worker = async (): Promise<void> => {
    let cookie: string | undefined;
    while (!windows) {
      const answer = await one(cookie);
      cookie = answer.cookie;
      if (answer.stop) windows = JSON.parse(answer.stop) as Window[];
    }
  };
  try {
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  } finally {
    agent.destroy();
  }
  const latency = received.map((r, i) => r - sent[i]);
  return {
    kind: 'client',
    requests: received.length,
    p50Ms: median(latency),
    windows: windows!.map(({ start, end }) => {
      let answered = 0;
      let maxAnswered = NaN;
      let maxOverlapping = 0;
      for (let i = 0; i < received.length; i++) {
        if (sent[i] >= start && received[i] <= end) {
          answered++;
          maxAnswered = Number.isNaN(maxAnswered) ? latency[i] : Math.max(maxAnswered, latency[i]);
        }
        if (sent[i] <= end && received[i] >= start) maxOverlapping = Math.max(maxOverlapping, latency[i]);
      }
      return { answered, maxLatencyAnsweredMs: maxAnswered, maxLatencyOverlappingMs: maxOverlapping };
    }),
  };
}

// ---------------------------------------------------------------- parent

function option(name: string, fallback: string): string {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}

const fmt = (ms: number): string => (!Number.isFinite(ms) ? '–' : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
const thousands = (n: number): string => n.toLocaleString('en');

function listingTable(r: ListingResult): string {
  const rows = [
    `| ${thousands(r.live)} live | ms | longest stall: event-loop delay max, ms | longest stall: 1 ms interval gap, ms | most on CPU between two ticks, ms | longest GC pause, ms |`,
    '|---|---:|---:|---:|---:|---:|',
    `| list({ limit: 100 }) right after ${thousands(r.added)} new sessions (once) | ${fmt(r.afterAdded.ms)} | ${fmt(r.afterAdded.stall.histogramMaxMs)} | ${fmt(r.afterAdded.stall.intervalMaxGapMs)} | ${fmt(r.afterAdded.stall.onCpuMaxGapMs)} | ${fmt(r.afterAdded.stall.gcMaxMs)} |`,
  ];
  for (const [name, samples] of Object.entries(r.rounds)) {
    const worst = (pick: (s: Stall) => number): number => Math.max(...samples.map((s) => pick(s.stall)));
    rows.push(
      `| ${name} (median ms / worst stall of ${samples.length}) | ${fmt(median(samples.map((s) => s.ms)))} | ${fmt(worst((s) => s.histogramMaxMs))} | ${fmt(worst((s) => s.intervalMaxGapMs))} | ${fmt(worst((s) => s.onCpuMaxGapMs))} | ${fmt(worst((s) => s.gcMaxMs))} |`,
    );
  }
  return rows.join('\n');
}

function sweepTable(results: SweepResult[]): string {
  const rows = [
    '| live / due | sweep | sweep ms | longest stall: event-loop delay max, ms | 1 ms interval gap, ms | most on CPU between two ticks, ms | waited for a CPU in all, ms | longest GC pause / all GC, ms | requests sent and answered during the sweep (client; server handler runs) | their max latency, ms | longest latency of a request overlapping the sweep, ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    r.samples.forEach((s, i) => {
      const c = r.client.windows[i];
      rows.push(
        `| ${thousands(r.live)} / ${thousands(r.due)} | ${i + 1} | ${fmt(s.ms)} | ${fmt(s.stall.histogramMaxMs)} | ${fmt(s.stall.intervalMaxGapMs)} | ${fmt(s.stall.onCpuMaxGapMs)} | ${fmt(s.stall.runQueueMs)} | ${fmt(s.stall.gcMaxMs)} / ${fmt(s.stall.gcTotalMs)} | ${c.answered}; ${s.servedDuring} | ${fmt(c.maxLatencyAnsweredMs)} | ${fmt(c.maxLatencyOverlappingMs)} |`,
      );
    });
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const only = option('only', 'listing,sweep').split(',');
  const [listingLive, listingAdded] = option('listing', '1000000:125000').split(':').map(Number);
  const sweeps = option('sweeps', '1000000:10000,200000:20000')
    .split(',')
    .map((pair) => pair.split(':').map(Number));
  const rounds = Number(option('rounds', '5'));
  const out = option('out', '');
  const started = Date.now();
  log(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  log('compiling lib/ to benchmarks/.build/stall ...');
  await compileForBench(['lib/**/*.ts'], join(BUILD_DIR, 'lib'));

  const jobs: Job[] = [];
  if (only.includes('listing')) jobs.push({ kind: 'listing', live: listingLive, added: listingAdded, rounds });
  if (only.includes('sweep')) for (const [live, due] of sweeps) jobs.push({ kind: 'sweep', live, due });
  const results: Result[] = [];
  const failures: string[] = [];
  const loads: string[] = [];
  for (const job of jobs) {
    const label = `${job.kind} ${'live' in job ? job.live : ''}`;
    const waited = await waitForQuiet(0.5, 15_000);
    log(`${label}: starting (waited ${(waited / 1000).toFixed(1)} s for a quieter machine; load average ${loadavg()[0].toFixed(2)})`);
    try {
      results.push(await runChild<Result>(__filename, job, HEAP_MB, label));
      loads.push(`${label}: load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at its end`);
    } catch (error) {
      failures.push(error instanceof Error ? error.message : String(error));
      log(`!!! ${failures.at(-1)}`);
    }
  }

  const text = [`### Event-loop stalls — ${new Date(started).toISOString().slice(0, 16)} UTC, ${cpus().length} CPUs, Node ${process.version}`, ''];
  for (const r of results) if (r.kind === 'listing') text.push(listingTable(r), '', `Created in process in ${r.populateS.toFixed(1)} s; heap ${r.heapUsedMB.toFixed(0)} MB.`, '');
  const sweepResults = results.filter((r): r is SweepResult => r.kind === 'sweep');
  if (sweepResults.length) {
    text.push(sweepTable(sweepResults), '');
    for (const r of sweepResults) {
      text.push(`- ${thousands(r.live)} live: created in process in ${r.populateS.toFixed(1)} s; client: ${thousands(r.client.requests)} requests, median latency ${fmt(r.client.p50Ms)} ms; heap ${r.heapUsedMB.toFixed(0)} MB.`);
    }
    text.push('');
  }
  text.push(...loads.map((l) => `- ${l}`));
  if (failures.length) text.push('', 'Failures:', ...failures.map((f) => `- ${f}`));
  text.push('', `Total ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  console.log(text.join('\n'));
  if (out) writeFileSync(out, `${JSON.stringify({ started: new Date(started).toISOString(), machine: machine(), git: git(), results, failures }, null, 2)}\n`);
  if (failures.length) process.exitCode = 1;
}

async function child(job: Job): Promise<void> {
  const result: Result = job.kind === 'listing' ? await listingJob(job) : job.kind === 'sweep' ? await sweepJob(job) : await clientJob(job);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

if (require.main === module) runMainOrChild<Job>(main, child);
