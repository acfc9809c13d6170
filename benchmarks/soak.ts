/**
 * `npm run soak` (`npx tsx benchmarks/soak.ts`; not in CI): mixed session
 * traffic over three worker processes (test/support/fault-worker.ts:
 * connect-redis + redisCoordinator, storeTimeout 1 s, a reaper every 5 s,
 * serial access off as by default) on one private redis-server (persistent, on a free port;
 * never the machine's Redis) reached through the fault proxy, with a fault
 * injected every 30 s, in turn: redis-server paused (SIGSTOP), a black hole,
 * connections cut, redis-server stopped (SIGTERM) and started again on its
 * data, a worker SIGKILLed and started again, 50 ms of latency on every reply.
 *
 * Virtual users each hold a session (short-lived ones, 10 s idle timeout, are
 * left to expire; long ones live on) and write, read, invalidate and replace
 * it, each request to a random live worker. What must hold, and is reported:
 * - acknowledged writes lost: 0 — every write answered 200 is what a later
 *   read of its session shows (or a later write that was attempted), unless
 *   the session was destroyed (a `sessionDestroyed` for it, or invalidated);
 * - sessions destroyed twice: 0 — the workers report every `sessionDestroyed`;
 * - 5xx (and unanswered requests) outside fault windows: 0 — a window runs
 *   from the fault to `--settle` seconds after its end;
 * - heap of every worker and Redis memory, at start and end.
 * Per fault: the statuses clients saw, the longest answer, writes lost, and
 * the longest event-loop stall in any worker (monitorEventLoopDelay).
 *
 * Options: --minutes=10 --workers=3 --users=24 --fault-every=30 (s)
 *          --fault-for=5 (s) --settle=5 (s) --client=recommended|default
 *          --serial (serial access on, maxWaitTime 5 s)
 *          --out=benchmarks/soak-results.json
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createClient } from 'redis';
import { startFaultRig, type FaultRig } from '../test/support/fault-rig';
import type { FaultProbe } from '../test/support/fault-worker';
import { Cluster, eachLimited, type Worker } from '../test/support/reaper-cluster';
import { call, delay, keepAliveAgent, type Answer } from '../test/support/timed-call';

const FAULT_WORKER = resolve(__dirname, '..', 'test', 'support', 'fault-worker.ts');
/** Idle timeout of short-lived sessions (left to expire), seconds. */
const SHORT_TTL_S = 10;
/** The workers' invalidationTimeout: long-lived sessions, seconds. */
const LONG_TTL_S = 3600;
/** The workers' reaperInterval, seconds. */
const REAPER_INTERVAL_S = 5;
/** A request the soak gives up on (status 0). */
const GIVE_UP_MS = 5_000;

interface Options {
  minutes: number;
  workers: number;
  users: number;
  faultEvery: number;
  faultFor: number;
  settle: number;
  client: 'recommended' | 'default';
  serial: boolean;
  out: string;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '10' },
      workers: { type: 'string', default: '3' },
      users: { type: 'string', default: '24' },
      'fault-every': { type: 'string', default: '30' },
      'fault-for': { type: 'string', default: '5' },
      settle: { type: 'string', default: '5' },
      client: { type: 'string', default: 'recommended' },
      serial: { type: 'boolean', default: false },
      out: { type: 'string', default: join(__dirname, 'soak-results.json') },
    },
  });
  const client = values.client === 'default' ? 'default' : 'recommended';
  return {
    minutes: Number(values.minutes),
    workers: Number(values.workers),
    users: Number(values.users),
    faultEvery: Number(values['fault-every']),
    faultFor: Number(values['fault-for']),
    settle: Number(values.settle),
    client,
    serial: values.serial === true,
    out: values.out!,
  };
}

/** One kind of fault: how it begins and ends. */
interface Fault {
  name: string;
  begin(soak: Soak): Promise<void>;
  end(soak: Soak): Promise<void>;
}

const FAULTS: Fault[] = [
  { name: 'redis-server paused (SIGSTOP)', begin: async (s) => s.rig.redis.pause(), end: async (s) => s.rig.redis.resume() },
  { name: 'black hole', begin: async (s) => s.rig.proxy.blackhole(), end: async (s) => s.rig.proxy.restore() },
  { name: 'connections cut', begin: async (s) => s.rig.proxy.cut(), end: async (s) => s.rig.proxy.restore() },
  { name: 'redis-server restarted (SIGTERM)', begin: (s) => s.rig.redis.terminate(), end: (s) => s.rig.redis.restart() },
  { name: 'worker SIGKILLed and restarted', begin: (s) => s.killWorker(), end: (s) => s.restartWorker() },
  { name: '50 ms latency on replies', begin: async (s) => s.rig.proxy.latency(50), end: async (s) => s.rig.proxy.latency(0) },
];

/** What one fault window saw. */
interface Window {
  fault: string;
  from: number;
  /** End of the fault itself. */
  ended: number;
  /** End of the settling time after it. */
  to: number;
  statuses: Record<string, number>;
  longestMs: number;
  /** The request that took longest. */
  longestPath: string;
  loopStallMs: number;
  /** The longest stall in the quiet time before this fault (no fault running): the machine's own noise. */
  quietStallMs: number;
  /** Acknowledged writes sent in this window that were lost. */
  lost: number;
}

/** What the soak knows of one session. */
interface Tracked {
  id: string;
  short: boolean;
  /** The last write answered 200, if any, and when it was sent. */
  acked: number | null;
  ackedAt: number;
  /** Writes attempted after it and not acknowledged (they may have landed). */
  attempted: Set<number>;
  /** An invalidation was attempted (acknowledged or not). */
  invalidated: boolean;
  /** When a request of it last succeeded: it may expire an idle timeout later. */
  lastUsedAt: number;
}

/** The running soak: the rig, the workers, and what was seen. */
class Soak {
  readonly cluster = new Cluster();
  readonly sessions: Tracked[] = [];
  readonly windows: Window[] = [];
  /** Requests outside fault windows that got a 5xx or no answer, by status, and the first few. */
  readonly outside: Record<string, number> = {};
  readonly outsideSamples: { at: number; status: number; ms: number; path: string; worker: string }[] = [];
  /** Every answer: [time sent, status, ms]. */
  readonly answers: { at: number; status: number; ms: number; path: string; worker: string }[] = [];
  /** Reads that showed a write older than the last acknowledged one (a lost write seen early). */
  readonly staleReads: { id: string; acked: number; seen: number | null; at: number }[] = [];
  readonly agent = keepAliveAgent(256);
  /** Workers that exited without being killed on purpose, with the end of what they printed. */
  readonly crashes: { worker: string; at: number; code: number | null; signal: string | null; output: string }[] = [];
  private readonly killedOnPurpose = new Set<number>();
  private nextV = 1;
  private killed: Worker | undefined;
  running = true;

  constructor(readonly rig: FaultRig, readonly options: Options) {}

  /** Workers that take requests now. */
  alive(): Worker[] {
    return this.cluster.workers.filter((w) => w !== this.killed && w.child.exitCode === null && w.child.signalCode === null);
  }

  /** Records the worker's exit as a crash unless the soak killed it, and starts it again (as a process manager would). */
  watch(worker: Worker): void {
    worker.child.once('exit', (code, signal) => {
      if (worker.child.pid !== undefined && this.killedOnPurpose.has(worker.child.pid)) return;
      this.crashes.push({ worker: worker.name, at: Date.now(), code, signal, output: this.cluster.outputOf(worker.name).slice(-1500) });
      if (!this.running) return;
      this.cluster.crash(worker, true).then(
        (replacement) => this.watch(replacement!),
        (error: unknown) => process.stderr.write(`could not restart ${worker.name}: ${String(error)}\n`),
      );
    });
  }

  async killWorker(): Promise<void> {
    const victim = this.alive()[Math.floor(Math.random() * this.alive().length)];
    this.killed = victim;
    if (victim.child.pid !== undefined) this.killedOnPurpose.add(victim.child.pid);
    await this.cluster.crash(victim, false);
  }

  async restartWorker(): Promise<void> {
    const replacement = await this.cluster.crash(this.killed!, true);
    this.watch(replacement!);
    this.killed = undefined;
  }

  /** A request to a random live worker, recorded (and, when it succeeded, when its session was last used). */
  async request(method: string, path: string, id?: string, session?: Tracked): Promise<Answer> {
    const workers = this.alive();
    const at = Date.now();
    if (workers.length === 0) {
      // Every worker is down (crashed, being restarted): what a load balancer would answer.
      await delay(100);
      this.answers.push({ at, status: -1, ms: Date.now() - at, path: `${method} ${path.split('?')[0]}`, worker: 'none' });
      return { status: -1, body: null, ms: Date.now() - at };
    }
    const worker = workers[Math.floor(Math.random() * workers.length)];
    const answer = await call(worker.port, method, path, { id, agent: this.agent, timeoutMs: GIVE_UP_MS });
    if (session && answer.status >= 200 && answer.status < 300) session.lastUsedAt = Date.now();
    this.answers.push({ at, status: answer.status, ms: answer.ms, path: `${method} ${path.split('?')[0]}`, worker: worker.name });
    return answer;
  }

  /** One virtual user: a session at a time, mostly writes and reads of it. */
  async user(): Promise<void> {
    let session: Tracked | undefined;
    while (this.running) {
      let ok: boolean;
      if (!session || Math.random() < 0.03) {
        session = await this.create();
        ok = session !== undefined;
      } else {
        ok = await this.act(session);
      }
      // A user thinks 10–50 ms between requests, and waits longer after an error, as a browser would.
      await delay(ok ? 10 + Math.random() * 40 : 200 + Math.random() * 300);
    }
  }

  private async create(): Promise<Tracked | undefined> {
    const short = Math.random() < 0.3;
    const answer = await this.request('POST', short ? `/session?n=0&ttl=${SHORT_TTL_S}` : '/session?n=0');
    if (answer.status !== 200) return undefined;
    const tracked: Tracked = { id: (answer.body as { id: string }).id, short, acked: null, ackedAt: 0, attempted: new Set(), invalidated: false, lastUsedAt: Date.now() };
    this.sessions.push(tracked);
    return tracked;
  }

  /** One request of the session; whether it succeeded. */
  private async act(session: Tracked): Promise<boolean> {
    const roll = Math.random();
    if (session.invalidated) return true;
    if (roll < 0.5) {
      const v = this.nextV++;
      const sentAt = Date.now();
      const answer = await this.request('POST', `/write?v=${v}`, session.id, session);
      if (answer.status === 200) {
        session.acked = v;
        session.ackedAt = sentAt;
        session.attempted.clear();
      } else {
        session.attempted.add(v);
      }
      return answer.status < 500 && answer.status > 0;
    }
    if (roll < 0.98) {
      const answer = await this.request('GET', '/session', session.id, session);
      if (answer.status === 200) this.checkRead(session, answer.body as { live: boolean; v: number | null });
      return answer.status < 500 && answer.status > 0;
    }
    session.invalidated = true;
    const answer = await this.request('POST', '/invalidate', session.id);
    return answer.status < 500 && answer.status > 0;
  }

  /** A read must show the last acknowledged write or a later attempt (while the session lives). */
  private checkRead(session: Tracked, view: { live: boolean; v: number | null }): void {
    if (!view.live || session.acked === null) return;
    if (view.v === session.acked || (view.v !== null && session.attempted.has(view.v))) return;
    this.staleReads.push({ id: session.id, acked: session.acked, seen: view.v, at: Date.now() });
  }

  async probeAll(reset: boolean, gc = false): Promise<FaultProbe[]> {
    const query = [reset ? 'reset=1' : '', gc ? 'gc=1' : ''].filter(Boolean).join('&');
    const probes = await Promise.all(
      this.alive().map((w) => call(w.port, 'GET', `/probe?${query}`, { timeoutMs: GIVE_UP_MS })),
    );
    return probes.filter((p) => p.status === 200).map((p) => p.body as FaultProbe);
  }
}

/**
 * Coordinator entries that still count a request as running although no
 * request runs any more (traffic has stopped): such a session is never
 * reaped and never announced.
 */
async function leakedInUse(url: string): Promise<number> {
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    let leaked = 0;
    for await (const keys of client.scanIterator({ MATCH: 'soak:esm:s:*', COUNT: 500 })) {
      for (const key of keys) if (Number((await client.hGet(key, 'active')) ?? 0) > 0) leaked++;
    }
    return leaked;
  } finally {
    client.destroy();
  }
}

async function redisMemory(url: string): Promise<number> {
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const info = await client.info('memory');
    return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
  } finally {
    client.destroy();
  }
}

/** Runs the faults, one every `faultEvery` seconds, until `until`. */
async function injectFaults(soak: Soak, until: number): Promise<void> {
  const { faultEvery, faultFor, settle } = soak.options;
  for (let i = 0; ; i++) {
    await delay(faultEvery * 1000 - faultFor * 1000 - settle * 1000);
    if (Date.now() + faultEvery * 1000 > until) return;
    const fault = FAULTS[i % FAULTS.length];
    const quiet = await soak.probeAll(true);
    const from = Date.now();
    await fault.begin(soak);
    await delay(faultFor * 1000);
    await fault.end(soak);
    const ended = Date.now();
    await delay(settle * 1000);
    const to = Date.now();
    const stalls = await soak.probeAll(true); // and a new measurement starts: the quiet time before the next fault
    soak.windows.push({ fault: fault.name, from, ended, to, statuses: {}, longestMs: 0, longestPath: '', lost: 0, loopStallMs: Math.max(0, ...stalls.map((p) => p.loopDelayMaxMs)), quietStallMs: Math.max(0, ...quiet.map((p) => p.loopDelayMaxMs)) });
    process.stdout.write(`  ${new Date(from).toISOString().slice(11, 19)} ${fault.name}: ended after ${((ended - from) / 1000).toFixed(1)} s\n`);
  }
}

/** Puts every answer in its fault window, or counts it outside when it is a 5xx or unanswered. */
function classify(soak: Soak): void {
  for (const a of soak.answers) {
    // A request belongs to a window when it was in flight during it (sent before the fault, answered in it, included).
    const window = soak.windows.find((w) => a.at < w.to && a.at + a.ms > w.from);
    if (window) {
      window.statuses[a.status] = (window.statuses[a.status] ?? 0) + 1;
      if (a.ms > window.longestMs) {
        window.longestMs = a.ms;
        window.longestPath = `${a.path} → ${a.status}`;
      }
    } else if (a.status >= 500 || a.status <= 0) {
      soak.outside[a.status] = (soak.outside[a.status] ?? 0) + 1;
      if (soak.outsideSamples.length < 20) soak.outsideSamples.push(a);
    }
  }
}

/** An acknowledged write a later read did not show. */
interface Lost {
  id: string;
  acked: number;
  ackedAt: number;
  seen: unknown;
}

/** What the final reads found. */
interface Verified {
  /** Acknowledged writes not shown by a live session. */
  lost: Lost[];
  /** Sessions gone (not invalidated by their user), with when they could have expired at the earliest. */
  gone: { session: Tracked; expirable: boolean }[];
  unreadable: number;
}

/** Reads every session once more: acknowledged writes must be there while the session lives. */
async function verify(soak: Soak): Promise<Verified> {
  const verified: Verified = { lost: [], gone: [], unreadable: 0 };
  await eachLimited(soak.sessions, 16, async (session) => {
    const answer = await soak.request('GET', '/session', session.id);
    if (answer.status !== 200) {
      verified.unreadable++;
      return;
    }
    const view = answer.body as { live: boolean; v: number | null };
    if (!view.live) {
      // Gone: fine when invalidated by its user, or announced destroyed (the caller checks, once every event is in).
      if (session.invalidated) return;
      const ttlMs = (session.short ? SHORT_TTL_S : LONG_TTL_S) * 1000;
      verified.gone.push({ session, expirable: Date.now() >= session.lastUsedAt + ttlMs });
      return;
    }
    if (session.acked === null) return;
    if (view.v === session.acked || (view.v !== null && session.attempted.has(view.v))) return;
    verified.lost.push({ id: session.id, acked: session.acked, ackedAt: session.ackedAt, seen: view.v });
  });
  return verified;
}

async function main(): Promise<void> {
  const options = parseOptions();
  const rig = await startFaultRig();
  const soak = new Soak(rig, options);
  process.stdout.write(`soak: ${options.minutes} min, ${options.workers} workers, ${options.users} users, a fault every ${options.faultEvery} s (${options.faultFor} s + ${options.settle} s settling), client ${options.client}, serial access ${options.serial ? 'on' : 'off'}\n`);
  try {
    await soak.cluster.start(
      options.workers,
      {
        redisUrl: rig.proxy.url,
        prefix: 'soak:',
        script: FAULT_WORKER,
        timeout: LONG_TTL_S,
        reaperInterval: REAPER_INTERVAL_S,
        // --expose-gc: heap figures after a full collection.
        env: { ESM_FAULT_SERIAL: options.serial ? '1' : '0', ESM_FAULT_CLIENT: options.client, NODE_OPTIONS: '--expose-gc' },
      },
      120_000,
    );
    for (const worker of soak.cluster.workers) soak.watch(worker);
    const startedAt = Date.now();
    const until = startedAt + options.minutes * 60_000;
    const heapStart = (await soak.probeAll(false, true)).map((p) => p.heapUsed);
    const redisStart = await redisMemory(rig.redis.url);

    // 1. Traffic and faults until the time is up.
    const users = Array.from({ length: options.users }, () => soak.user());
    await injectFaults(soak, until);
    await delay(Math.max(0, until - Date.now()));
    soak.running = false;
    await Promise.all(users);

    // 2. What is left: every session read once more, heap and memory, duplicates.
    await delay(options.settle * 1000);
    const heapEnd = (await soak.probeAll(false, true)).map((p) => p.heapUsed);
    const redisEnd = await redisMemory(rig.redis.url);
    const inUse = await leakedInUse(rig.redis.url);
    // Reading a session past its deadline destroys it (and announces it): count events after the reads.
    const verified = await verify(soak);
    await delay(1_000);
    const perId = destroyedPerId(soak.cluster);
    const destroyedTwice = [...perId.values()].filter((n) => n > 1).length;
    // Gone without a sessionDestroyed: expired silently if it had been idle its timeout (an event
    // lost: destroyed zero times), else lost with whatever was acknowledged.
    const silent = verified.gone.filter((g) => !perId.has(g.session.id));
    const expiredSilently = silent.filter((g) => g.expirable).length;
    const lost = [
      ...verified.lost,
      ...silent
        .filter((g) => !g.expirable && g.session.acked !== null)
        .map(({ session }) => ({ id: session.id, acked: session.acked!, ackedAt: session.ackedAt, seen: 'gone' })),
    ];
    const goneEarly = silent.filter((g) => !g.expirable).length;
    classify(soak);
    for (const l of lost) {
      const window = soak.windows.find((w) => l.ackedAt >= w.from && l.ackedAt < w.to);
      if (window) window.lost++;
    }
    const result = {
      when: new Date(startedAt).toISOString(),
      options,
      requests: soak.answers.length,
      sessions: soak.sessions.length,
      acknowledgedWritesLost: lost.length,
      lost: lost.slice(0, 20).map((l) => ({ ...l, secondsIn: (l.ackedAt - startedAt) / 1000 })),
      staleReads: soak.staleReads.length,
      staleReadSamples: soak.staleReads.slice(0, 20),
      sessionsDestroyed: perId.size,
      sessionsDestroyedTwice: destroyedTwice,
      expiredWithoutSessionDestroyed: expiredSilently,
      // Where each was last used: a fault window (its fault) or none, to tell causes apart.
      expiredWithoutSessionDestroyedLastUsed: countBy(
        silent.filter((g) => g.expirable).map(({ session }) => soak.windows.find((w) => session.lastUsedAt >= w.from && session.lastUsedAt < w.to)?.fault ?? 'outside fault windows'),
      ),
      goneBeforeTheirTimeoutWithoutSessionDestroyed: goneEarly,
      sessionsCountedInUseAfterTraffic: inUse,
      unreadableAtTheEnd: verified.unreadable,
      workersCrashed: soak.crashes.length,
      crashes: soak.crashes.slice(0, 3).map((c) => ({ ...c, secondsIn: (c.at - startedAt) / 1000 })),
      errorsOutsideFaultWindows: soak.outside,
      errorsOutsideSamples: soak.outsideSamples.map((a) => ({ ...a, secondsIn: (a.at - startedAt) / 1000 })),
      heapUsedMB: { start: heapStart.map(mb), end: heapEnd.map(mb) },
      redisUsedMemoryMB: { start: mb(redisStart), end: mb(redisEnd) },
      windows: soak.windows,
    };
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
    report(result, options);
  } finally {
    soak.cluster.kill();
    soak.agent.destroy();
    await rig.stop();
  }
}

/** How many times each value occurs. */
function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** How many `sessionDestroyed` each session (or subsession) got, across the workers. */
function destroyedPerId(cluster: Cluster): Map<string, number> {
  const perId = new Map<string, number>();
  for (const d of cluster.destroyed) {
    const key = d.subsession === undefined ? d.id : `${d.id}#${d.subsession}`;
    perId.set(key, (perId.get(key) ?? 0) + 1);
  }
  return perId;
}

const mb = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

/** Prints the summary and the per-fault table. */
function report(result: Record<string, unknown> & { windows: Window[] }, options: Options): void {
  const lines = [
    '',
    `requests ${String(result.requests)}, sessions ${String(result.sessions)}`,
    `acknowledged writes lost: ${String(result.acknowledgedWritesLost)} (stale reads seen during the run: ${String(result.staleReads)})`,
    `sessions destroyed twice: ${String(result.sessionsDestroyedTwice)} (destroyed: ${String(result.sessionsDestroyed)})`,
    `sessions gone without a sessionDestroyed: ${String(result.expiredWithoutSessionDestroyed)} after their idle timeout (destroyed zero times; last used: ${JSON.stringify(result.expiredWithoutSessionDestroyedLastUsed)}), ${String(result.goneBeforeTheirTimeoutWithoutSessionDestroyed)} before it`,
    `sessions still counted in use once traffic had stopped (never reaped): ${String(result.sessionsCountedInUseAfterTraffic)}`,
    `workers that crashed (exited without being killed on purpose): ${String(result.workersCrashed)}`,
    `5xx or unanswered outside fault windows (settling ${options.settle} s after each fault): ${JSON.stringify(result.errorsOutsideFaultWindows)}`,
    `heap used (MB) per worker, start → end: ${JSON.stringify(result.heapUsedMB)}`,
    `Redis used_memory (MB), start → end: ${JSON.stringify(result.redisUsedMemoryMB)}`,
    '',
    '| fault | statuses seen (window incl. settling) | longest answer (ms) | acknowledged writes lost | longest event-loop stall (ms; quiet time before) |',
    '|---|---|---|---|---|',
    ...summariseWindows(result.windows),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** One row per kind of fault: statuses summed, worst answer and stall. */
function summariseWindows(windows: Window[]): string[] {
  const byFault = new Map<string, Window[]>();
  for (const w of windows) byFault.set(w.fault, [...(byFault.get(w.fault) ?? []), w]);
  return [...byFault.entries()].map(([fault, ws]) => {
    const statuses: Record<string, number> = {};
    for (const w of ws) for (const [s, n] of Object.entries(w.statuses)) statuses[s] = (statuses[s] ?? 0) + n;
    const longest = Math.max(...ws.map((w) => w.longestMs));
    const stall = Math.max(...ws.map((w) => w.loopStallMs));
    const quiet = Math.max(...ws.map((w) => w.quietStallMs));
    const slowest = ws.reduce((a, b) => (b.longestMs > a.longestMs ? b : a));
    const lost = ws.reduce((sum, w) => sum + w.lost, 0);
    const seen = Object.entries(statuses).map(([s, n]) => `${s === '0' ? 'none' : s === '-1' ? 'conn. error' : s}: ${n}`).join(', ');
    return `| ${fault} (×${ws.length}) | ${seen} | ${Math.round(longest)} (${slowest.longestPath}) | ${lost} | ${stall.toFixed(0)} (${quiet.toFixed(0)}) |`;
  });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
