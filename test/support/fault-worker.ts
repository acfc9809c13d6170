/**
 * One node of the fault suites (test/faults-cluster.test.ts) and of the soak
 * (benchmarks/soak.ts), run as a child process with `node --import tsx` by
 * the {@link Cluster} of reaper-cluster.ts. It serves the fault app
 * (fault-app.ts) from connect-redis + `redisCoordinator` on `REDIS_URL`
 * (a private redis-server, or the fault proxy in front of it), with
 * `storeTimeout` 1 s, and also answers:
 *
 * - `GET /probe[?reset=1][&gc=1]` — `{ stats, loopDelayMaxMs, pending, timers, heapUsed }`:
 *   the manager's stats, the longest event-loop stall since the last reset
 *   (`perf_hooks.monitorEventLoopDelay`, ms), commands node-redis holds,
 *   active timers, heap bytes (after a full GC with `gc=1`, when the process
 *   runs with `--expose-gc`); `reset=1` starts a new stall measurement;
 * - `POST /reap` — a sweep now: `{ expired }`, or the error's status;
 * - `POST /clock?advance=ms` — moves the manager's clock forward (a
 *   {@link ShiftedClock}: real time until told otherwise), so that the
 *   parent can make sessions fall due in every process at once: 204.
 *
 * It speaks the reaper worker's IPC protocol (`ready`, `destroyed` per
 * `sessionDestroyed`, `stopped` after `{ type: 'stop' }`, `failed`).
 * Environment: `REDIS_URL`, `ESM_CLUSTER_PREFIX`, `ESM_CLUSTER_WORKER`,
 * `ESM_CLUSTER_TIMEOUT` (invalidationTimeout, s; default 60),
 * `ESM_CLUSTER_REAPER_INTERVAL` (s; default 1), `ESM_FAULT_SERIAL` (`1`:
 * serial access, maxWaitTime 5 s), `ESM_FAULT_CLIENT` (`default` or
 * `recommended`: see app-redis-client.ts). It exits when the parent goes.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import express, { type Request, type Response } from 'express';
import { connectAppClient, pendingCommands, type ClientConfig } from './app-redis-client';
import { faultApp, redisManager } from './fault-app';
import { ShiftedClock } from './fake-clock';
import type { WorkerMessage } from './reaper-cluster-worker';
import { runWorker, serveWorker, workerName, workerSettings } from './worker-process';
import { STORE_TIMEOUT_S } from './fault-times';

/** What `GET /probe` answers. */
export interface FaultProbe {
  stats: ReturnType<import('../../lib').SessionManager['stats']>;
  loopDelayMaxMs: number;
  pending: number;
  timers: number;
  heapUsed: number;
}

const worker = workerName;
/** serialAccess.maxWaitTime when serial access is on, seconds. */
const MAX_WAIT_S = 5;

function send(message: WorkerMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const { url, prefix } = workerSettings();
  if (!url) throw new Error('REDIS_URL is required');

  const client = await connectAppClient(url, (process.env.ESM_FAULT_CLIENT ?? 'default') as ClientConfig);
  const clock = new ShiftedClock();
  const manager = redisManager(client, prefix, {
    clock,
    storeTimeout: STORE_TIMEOUT_S,
    invalidationTimeout: Number(process.env.ESM_CLUSTER_TIMEOUT ?? 60),
    reaperInterval: Number(process.env.ESM_CLUSTER_REAPER_INTERVAL ?? 1),
    serialAccess: process.env.ESM_FAULT_SERIAL === '1' ? { maxWaitTime: MAX_WAIT_S } : false,
  });
  manager.on('sessionDestroyed', (e) => {
    const base = e.subsession === undefined ? { id: e.id } : { id: e.id, subsession: e.subsession };
    send({ type: 'destroyed', worker, ...base, reason: e.reason, attributes: e.attributes, at: Date.now() });
  });
  await manager.ready;

  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const app = express();
  app.get('/probe', (req: Request, res: Response) => {
    const collect = (globalThis as { gc?: () => void }).gc;
    if (req.query.gc === '1') collect?.();
    const probe: FaultProbe = {
      stats: manager.stats(),
      loopDelayMaxMs: loopDelay.max / 1e6,
      pending: pendingCommands(client),
      timers: process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length,
      heapUsed: process.memoryUsage().heapUsed,
    };
    if (req.query.reset === '1') loopDelay.reset();
    res.json(probe);
  });
  app.post('/reap', (_req: Request, res: Response) => {
    manager.reap().then(
      (result) => res.json({ expired: result.expired }),
      (error: Error & { status?: number }) => res.status(error.status ?? 500).json({ name: error.name }),
    );
  });
  app.post('/clock', (req: Request, res: Response) => {
    clock.advance(Number(req.query.advance));
    res.sendStatus(204);
  });
  app.use(faultApp(manager));
  await serveWorker(worker, app, {
    close: () => manager.close(),
    closeClient: () => client.destroy(),
    stats: () => manager.stats(),
  });
}

runWorker(worker, main);
