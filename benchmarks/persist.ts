/**
 * `npm run bench:persist` (`npx tsx benchmarks/persist.ts`): what `persist`
 * costs (issue 17; docs/architecture.md, "Persistence"): at 10,000, 100,000
 * and 1,000,000 sessions, the time to write a snapshot (`manager.close()`)
 * and to read it back at startup (`createSessionManager()` until
 * `manager.ready`), the file's size, and the longest event-loop stall during
 * each (docs/architecture.md, "Faults": no work may hold the loop for more than 20 ms).
 *
 * Setup: the defaults, in-process MemoryStore + LocalCoordinator, on a fake
 * clock. Sessions are created through the real request path, as
 * `benchmarks/stall.ts` does (its `inProcessCreator`: the middleware called
 * with a real request/response pair, two attributes set: a small object and
 * a number). Each size runs in a child process of its own (`--expose-gc`,
 * 6 GB heap) that creates the sessions and writes the snapshot `--rounds`
 * times (`close()` writes one each time it is called); each load runs in a
 * fresh child process of its own, `--rounds` times. A full GC and a pause
 * precede each measured step. The stall is the harness's `watchStalls`:
 * `monitorEventLoopDelay` max, the longest gap of a 1 ms interval, the most
 * on CPU between two ticks (a shared machine's other processes left out),
 * and the longest GC pause.
 *
 * Options: --sizes=10000,100000,1000000 --rounds=3 --out=<file> (raw JSON)
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SessionManager } from '../lib';
import { FakeClock } from '../test/support/fake-clock';
import { compileForBench, git, machine, median, runChild, runMainOrChild, waitForQuiet, watchStalls, type Stall } from './harness';
import { inProcessCreator } from './stall';

/** Where lib/ is compiled for the children (git-ignored, like the other benchmarks' builds). */
const BUILD_DIR = join(__dirname, '.build', 'persist');
const HEAP_MB = 6144;
/** A start time for every child's fake clock, so the loaded sessions are live however long the run takes. */
const CLOCK_START = Date.now();

interface WriteJob {
  kind: 'write';
  n: number;
  path: string;
  rounds: number;
}
interface LoadJob {
  kind: 'load';
  n: number;
  path: string;
}
type Job = WriteJob | LoadJob;

interface Measured {
  ms: number;
  stall: Stall;
}
interface WriteResult {
  kind: 'write';
  n: number;
  populateS: number;
  bytes: number;
  writes: Measured[];
  heapUsedMB: number;
}
interface LoadResult extends Measured {
  kind: 'load';
  n: number;
}

function log(message: string): void {
  process.stderr.write(`[persist] ${message}\n`);
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A full GC, then a pause (1 ms per 1,000 sessions, at least 200 ms) so V8's page sweeping is over. */
async function quiet(n: number): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  await pause(Math.max(200, n / 1000));
}

/** The compiled lib/, loaded (and its modules compiled) before anything is measured. */
function lib(): typeof import('../lib') {
  return require(join(BUILD_DIR, 'lib', 'index.js')) as typeof import('../lib');
}

function newManager(path: string): SessionManager {
  return lib().createSessionManager({ clock: new FakeClock(CLOCK_START), reaperInterval: 3600, persist: { path } });
}

/** Times `work`, watching the event loop while it runs. */
async function measured(work: () => Promise<void>): Promise<Measured> {
  const watch = watchStalls();
  await pause(5); // the watchers tick regularly before the work
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  return { ms, stall: await watch.stop() };
}

// ---------------------------------------------------------------- children

async function writeJob(job: WriteJob): Promise<WriteResult> {
  const manager = newManager(job.path);
  await manager.ready;
  const started = performance.now();
  await inProcessCreator(manager)(job.n);
  const populateS = (performance.now() - started) / 1000;
  if ((await manager.sessions.count()) !== job.n) throw new Error(`created ${await manager.sessions.count()} sessions, not ${job.n}`);
  const writes: Measured[] = [];
  for (let round = 0; round < job.rounds; round++) {
    await quiet(job.n);
    writes.push(await measured(() => manager.close()));
    log(`${job.n}: write ${round + 1}: ${writes.at(-1)!.ms.toFixed(0)} ms, stall ${writes.at(-1)!.stall.intervalMaxGapMs.toFixed(1)} ms`);
  }
  return { kind: 'write', n: job.n, populateS, bytes: statSync(job.path).size, writes, heapUsedMB: process.memoryUsage().heapUsed / 2 ** 20 };
}

async function loadJob(job: LoadJob): Promise<LoadResult> {
  // Warm: the modules loaded and a manager built once (on another path), so the measure is the read alone.
  await newManager(`${job.path}.warm`).ready;
  await quiet(job.n);
  let manager: SessionManager | undefined;
  const result = await measured(async () => {
    manager = newManager(job.path);
    await manager.ready;
  });
  const count = await manager!.sessions.count();
  if (count !== job.n) throw new Error(`loaded ${count} sessions, not ${job.n}`);
  return { kind: 'load', n: job.n, ...result };
}

// ---------------------------------------------------------------- main

function option(name: string, fallback: string): string {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}

const fmt = (ms: number): string => (!Number.isFinite(ms) ? '–' : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
const thousands = (n: number): string => n.toLocaleString('en');
const worst = (runs: Measured[], pick: (s: Stall) => number): number => Math.max(...runs.map((r) => pick(r.stall)));

function table(writes: WriteResult[], loads: Map<number, LoadResult[]>): string {
  const rows = [
    '| sessions | file size | write, ms (median) | longest stall while writing: loop delay / 1 ms gap / on CPU / GC, ms | load, ms (median) | longest stall while loading: loop delay / 1 ms gap / on CPU / GC, ms |',
    '|---|---|---|---|---|---|',
  ];
  for (const w of writes) {
    const l = loads.get(w.n) ?? [];
    const stalls = (runs: Measured[]): string =>
      runs.length === 0
        ? '–'
        : [worst(runs, (s) => s.histogramMaxMs), worst(runs, (s) => s.intervalMaxGapMs), worst(runs, (s) => s.onCpuMaxGapMs), worst(runs, (s) => s.gcMaxMs)].map(fmt).join(' / ');
    rows.push(
      `| ${thousands(w.n)} | ${(w.bytes / 2 ** 20).toFixed(1)} MB | ${fmt(median(w.writes.map((r) => r.ms)))} | ${stalls(w.writes)} | ${fmt(median(l.map((r) => r.ms)))} | ${stalls(l)} |`,
    );
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const sizes = option('sizes', '10000,100000,1000000').split(',').map(Number);
  const rounds = Number(option('rounds', '3'));
  const out = option('out', '');
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'esm-bench-persist-'));
  log(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  log('compiling lib/ to benchmarks/.build/persist ...');
  await compileForBench(['lib/**/*.ts'], join(BUILD_DIR, 'lib'));
  const writes: WriteResult[] = [];
  const loads = new Map<number, LoadResult[]>();
  const loadAverages: string[] = [];
  try {
    for (const n of sizes) {
      const path = join(dir, `sessions-${n}.snapshot`);
      await waitForQuiet(0.5, 15_000);
      log(`${thousands(n)}: creating and writing (load average ${loadavg()[0].toFixed(2)})`);
      writes.push(await runChild<WriteResult>(__filename, { kind: 'write', n, path, rounds } satisfies WriteJob, HEAP_MB, `write ${n}`));
      const measuredLoads: LoadResult[] = [];
      for (let round = 0; round < rounds; round++) {
        measuredLoads.push(await runChild<LoadResult>(__filename, { kind: 'load', n, path } satisfies LoadJob, HEAP_MB, `load ${n}`));
        log(`${thousands(n)}: load ${round + 1}: ${measuredLoads.at(-1)!.ms.toFixed(0)} ms, stall ${measuredLoads.at(-1)!.stall.intervalMaxGapMs.toFixed(1)} ms`);
      }
      loads.set(n, measuredLoads);
      loadAverages.push(`${thousands(n)}: load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at its end`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const text = [
    `### persist — ${new Date(started).toISOString().slice(0, 16)} UTC, ${cpus().length} CPUs, Node ${process.version}`,
    '',
    table(writes, loads),
    '',
    ...writes.map((w) => `- ${thousands(w.n)}: created in process in ${w.populateS.toFixed(1)} s; heap ${w.heapUsedMB.toFixed(0)} MB.`),
    ...loadAverages.map((l) => `- ${l}`),
    '',
    `Total ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  ];
  console.log(text.join('\n'));
  if (out) writeFileSync(out, `${JSON.stringify({ started: new Date(started).toISOString(), machine: machine(), git: git(), writes, loads: [...loads.values()].flat() }, null, 2)}\n`);
}

async function child(job: Job): Promise<void> {
  const result = job.kind === 'write' ? await writeJob(job) : await loadJob(job);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

if (require.main === module) runMainOrChild<Job>(main, child);
