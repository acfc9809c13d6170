/**
 * One node of the kill cluster test (test/kill-cluster.test.ts), run as a
 * child process with `node --import tsx` by the {@link Cluster} of
 * reaper-cluster.ts. It serves sessions from connect-redis +
 * `redisCoordinator` on the shared redis-server (serial access on):
 *
 * - `POST /start` — a new session with attribute `user` = `ann`; 204 with the cookie;
 * - `POST /fetch` — sets `changed`, then awaits a fetch of `ESM_KILL_HANG_URL`
 *   (a server that never answers) with `req.httpSession.signal`; 409
 *   `{ name, aborted }` when it rejects;
 * - `POST /hold` — sets `changed`, then waits, ignoring the signal, until
 *   `POST /release`; answers `{ aborted }`;
 * - `POST /release` — lets every `/hold` of this process answer; 204;
 * - `GET /view` — `{ valid, live, user, changed }` of the requested session;
 * - `POST /kill?id=` — `manager.sessions.kill(id)`: the `KillResult`.
 *
 * It speaks the reaper worker's IPC protocol (`ready`, `destroyed` per
 * `sessionDestroyed`, `stopped` after `{ type: 'stop' }`, `failed`), and
 * also sends `{ type: 'running', worker, route, id }` once a `/fetch` or
 * `/hold` handler runs. Environment: `ESM_REDIS_TOPOLOGY` (redis-topology.ts), `ESM_CLUSTER_PREFIX`,
 * `ESM_CLUSTER_WORKER`, `ESM_KILL_HANG_URL`. It exits when the parent goes.
 */
import express, { type Request, type Response } from 'express';
import { RedisStore } from 'connect-redis';
import { createSessionManager } from '../../lib';
import { redisCoordinator } from '../../lib/coordination/redis/redis-coordinator';
import type { WorkerMessage } from './reaper-cluster-worker';
import { answerErrors, runWorker, serveWorker, workerName, workerSettings } from './worker-process';
import { connectFromEnv } from './redis-topology';

/** Messages a kill worker sends: the reaper worker's, and `running`. */
export type KillWorkerMessage = WorkerMessage | { type: 'running'; worker: string; route: 'fetch' | 'hold'; id: string };

/** What `GET /view` answers. */
export interface KillView {
  valid: boolean;
  live: boolean;
  user: string | null;
  changed: boolean | null;
}

const worker = workerName;
/** serialAccess.maxWaitTime, seconds: a lock a kill failed to drop shows as a 503, not as a hung test. */
const MAX_WAIT_S = 8;

function send(message: KillWorkerMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const { prefix } = workerSettings();
  const hangUrl = process.env.ESM_KILL_HANG_URL;
  if (!hangUrl) throw new Error('ESM_KILL_HANG_URL is required');

  const client = await connectFromEnv();
  const manager = createSessionManager({
    store: new RedisStore({ client, prefix: `${prefix}sess:` }),
    coordinator: redisCoordinator({ client, prefix: `${prefix}esm:` }),
    invalidationTimeout: 600,
    serialAccess: { maxWaitTime: MAX_WAIT_S },
  });
  manager.on('sessionDestroyed', (e) => {
    const base = e.subsession === undefined ? { id: e.id } : { id: e.id, subsession: e.subsession };
    send({ type: 'destroyed', worker, ...base, reason: e.reason, attributes: e.attributes, at: Date.now() });
  });
  await manager.ready;

  /** Opens every `/hold` waiting now. */
  let releaseHolds: () => void = () => undefined;
  let holds = new Promise<void>((resolve) => (releaseHolds = resolve));

  const app = express();
  app.use(manager.middleware());
  app.post('/start', (req: Request, res: Response) => {
    req.httpSession.setAttribute('user', 'ann');
    res.sendStatus(204);
  });
  app.post('/fetch', async (req: Request, res: Response) => {
    req.httpSession.setAttribute('changed', true);
    send({ type: 'running', worker, route: 'fetch', id: req.httpSession.getId() });
    try {
      await fetch(hangUrl, { signal: req.httpSession.signal });
      res.sendStatus(200);
    } catch (error) {
      res.status(409).json({ name: (error as Error).name, aborted: req.httpSession.signal.aborted });
    }
  });
  app.post('/hold', async (req: Request, res: Response) => {
    req.httpSession.setAttribute('changed', true);
    send({ type: 'running', worker, route: 'hold', id: req.httpSession.getId() });
    await holds;
    res.json({ aborted: req.httpSession.signal.aborted });
  });
  app.post('/release', (_req: Request, res: Response) => {
    releaseHolds();
    holds = new Promise<void>((resolve) => (releaseHolds = resolve));
    res.sendStatus(204);
  });
  app.get('/view', (req: Request, res: Response) => {
    const session = req.getSession(false);
    const view: KillView = {
      valid: req.isRequestedSessionIdValid(),
      live: session !== null,
      user: session?.getAttribute<string>('user') ?? null,
      changed: session?.getAttribute<boolean>('changed') ?? null,
    };
    res.json(view);
  });
  app.post('/kill', async (req: Request, res: Response) => {
    res.json(await manager.sessions.kill(String(req.query.id)));
  });
  app.use(answerErrors(worker));

  await serveWorker(worker, app, {
    close: () => {
      releaseHolds();
      return manager.close();
    },
    closeClient: () => client.close(),
    stats: () => manager.stats(),
  });
}

runWorker(worker, main);
