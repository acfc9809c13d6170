/**
 * One node of the reaper cluster test (test/reaper-cluster.test.ts), run as
 * a child process with `node --import tsx`. It serves sessions over HTTP
 * from connect-redis + `redisCoordinator` on the shared redis-server, runs
 * its own background reaper, and reports over IPC:
 *
 * - `{ type: 'ready', worker, port }` once listening;
 * - `{ type: 'destroyed', worker, id, subsession, reason, attributes, at }` per `sessionDestroyed`
 *   (`subsession` is absent for a top-level session);
 * - `{ type: 'reaped', worker, expired }` after a `{ type: 'reap' }` message (a sweep now);
 * - `{ type: 'stopped', worker, stats }` after a `{ type: 'stop' }` message.
 *
 * Environment: `ESM_REDIS_TOPOLOGY` and what it needs (redis-topology.ts), `ESM_CLUSTER_PREFIX` (key prefix of the run),
 * `ESM_CLUSTER_WORKER` (its name), `ESM_CLUSTER_TIMEOUT` and
 * `ESM_CLUSTER_REAPER_INTERVAL` (seconds), optionally `ESM_CLUSTER_REPLICAS`
 * (the coordinator's `replicas`) and `ESM_CLUSTER_STORE_TIMEOUT` (seconds).
 * An unhandled rejection is reported as `failed`. It exits when the parent goes.
 */
import express from 'express';
import { RedisStore } from 'connect-redis';
import { createSessionManager } from '../../lib';
import { redisCoordinator } from '../../lib/coordination/redis/redis-coordinator';
import { runWorker, serveWorker, workerName, workerSettings } from './worker-process';
import { connectFromEnv } from './redis-topology';

/** Messages a worker sends to the parent. */
export type WorkerMessage =
  | { type: 'ready'; worker: string; port: number }
  | {
      type: 'destroyed';
      worker: string;
      id: string;
      /** The subsession's name; absent for a top-level session. */
      subsession?: string;
      reason: string;
      attributes: Record<string, unknown>;
      at: number;
    }
  | { type: 'reaped'; worker: string; expired: number }
  | { type: 'stopped'; worker: string; stats: unknown }
  | { type: 'failed'; worker: string; error: string };

/** What `GET /session` answers. */
export interface WorkerView {
  worker: string;
  live: boolean;
  id: string | null;
  n: number | null;
}

const worker = workerName;

/** The names `POST /session?subs=k` gives its subsessions, in order. */
const SUBSESSION_NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

function send(message: WorkerMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const { prefix } = workerSettings();

  const client = await connectFromEnv();
  const manager = createSessionManager({
    store: new RedisStore({ client, prefix: `${prefix}sess:` }),
    coordinator: redisCoordinator({ client, prefix: `${prefix}esm:`, replicas: Number(process.env.ESM_CLUSTER_REPLICAS ?? 0) }),
    invalidationTimeout: Number(process.env.ESM_CLUSTER_TIMEOUT ?? 2),
    reaperInterval: Number(process.env.ESM_CLUSTER_REAPER_INTERVAL ?? 1),
    ...(process.env.ESM_CLUSTER_STORE_TIMEOUT ? { storeTimeout: Number(process.env.ESM_CLUSTER_STORE_TIMEOUT) } : {}),
  });
  // A rejection nobody handled is a failure the parent must see (the failover suite asserts there is none).
  process.on('unhandledRejection', (reason) => {
    send({ type: 'failed', worker, error: `unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}` });
  });
  manager.on('sessionDestroyed', (e) => {
    const base = e.subsession === undefined ? { id: e.id } : { id: e.id, subsession: e.subsession };
    send({ type: 'destroyed', worker, ...base, reason: e.reason, attributes: e.attributes, at: Date.now() });
  });

  const app = express();
  app.use(manager.middleware());
  app.post('/session', (req, res) => {
    req.httpSession.setAttribute('n', Number(req.query.n));
    // `subs=k` also creates subsessions 'a', 'b', ... (k of them), each holding `sub` = its name.
    for (const name of SUBSESSION_NAMES.slice(0, Number(req.query.subs ?? 0))) {
      req.httpSession.getSubsession(name)!.setAttribute('sub', name);
    }
    res.json({ worker, live: true, id: req.httpSession.getId(), n: Number(req.query.n) } satisfies WorkerView);
  });
  app.get('/session', (req, res) => {
    const session = req.getSession(false);
    const view: WorkerView = {
      worker,
      live: session !== null,
      id: session ? session.getId() : null,
      n: session ? (session.getAttribute<number>('n') ?? null) : null,
    };
    res.json(view);
  });
  await serveWorker(worker, app, {
    close: () => manager.close(),
    closeClient: () => client.close(),
    stats: () => manager.stats(),
    onMessage: (message) => {
      if (message.type !== 'reap') return;
      manager.reap().then(
        (result) => send({ type: 'reaped', worker, expired: result.expired }),
        () => send({ type: 'reaped', worker, expired: -1 }),
      );
    },
  });
}

runWorker(worker, main);
