/**
 * One node of the Redis caps test (test/caps-redis.test.ts), run as a child
 * process with `node --import tsx` by the {@link Cluster} of
 * reaper-cluster.ts: connect-redis + `redisCoordinator` on the topology of
 * `ESM_REDIS_TOPOLOGY`, `principal` from the `x-user` header,
 * `maxSessionsPerPrincipal` from `ESM_CAPS_PER_PRINCIPAL` (`onMaxSessions`
 * from `ESM_CAPS_ON_MAX`), `maxActiveSessions` from `ESM_CAPS_ACTIVE`.
 *
 * - `POST /login` (header `x-user`) — a new session bound to the user; 204
 *   with the cookie, or the cap's error;
 * - `POST /go` — releases every `/login` waiting for the same moment: a
 *   login with `?wait=1` waits for it first, so logins of two processes
 *   commit together.
 *
 * It speaks the reaper worker's IPC protocol (`ready`, `destroyed`,
 * `stopped`, `failed`). It exits when the parent goes.
 */
import express, { type Request, type Response } from 'express';
import { RedisStore } from 'connect-redis';
import { createSessionManager } from '../../lib';
import { redisCoordinator } from '../../lib/coordination/redis/redis-coordinator';
import type { WorkerMessage } from './reaper-cluster-worker';
import { connectFromEnv } from './redis-topology';
import { answerErrors, runWorker, serveWorker, workerName, workerSettings } from './worker-process';

const worker = workerName;

function send(message: WorkerMessage): void {
  process.send?.(message);
}

/** A whole number from the environment, or `undefined`. */
function numberFrom(name: string): number | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : Number(value);
}

async function main(): Promise<void> {
  const { prefix } = workerSettings();
  const client = await connectFromEnv();
  const perPrincipal = numberFrom('ESM_CAPS_PER_PRINCIPAL');
  const manager = createSessionManager({
    store: new RedisStore({ client, prefix: `${prefix}sess:` }),
    coordinator: redisCoordinator({ client, prefix: `${prefix}esm:` }),
    invalidationTimeout: 600,
    principal: (req) => req.get('x-user') || undefined,
    maxActiveSessions: numberFrom('ESM_CAPS_ACTIVE'),
    ...(perPrincipal === undefined
      ? {}
      : { maxSessionsPerPrincipal: perPrincipal, onMaxSessions: process.env.ESM_CAPS_ON_MAX === 'reject' ? 'reject' : 'evict-oldest' }),
  });
  manager.on('sessionDestroyed', (e) => {
    send({ type: 'destroyed', worker, id: e.id, reason: e.reason, attributes: e.attributes, at: Date.now() });
  });
  await manager.ready;

  let go: () => void = () => undefined;
  let moment = new Promise<void>((resolve) => (go = resolve));
  const app = express();
  app.use(manager.middleware());
  app.post('/login', async (req: Request, res: Response) => {
    req.httpSession.setAttribute('user', req.get('x-user') ?? null);
    if (req.query.wait) await moment;
    res.sendStatus(204);
  });
  app.post('/go', (_req: Request, res: Response) => {
    go();
    moment = new Promise<void>((resolve) => (go = resolve));
    res.sendStatus(204);
  });
  app.use(answerErrors(worker));

  await serveWorker(worker, app, {
    close: () => {
      go();
      return manager.close();
    },
    closeClient: () => client.close(),
    stats: () => manager.stats(),
  });
}

runWorker(worker, main);
