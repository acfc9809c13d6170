/**
 * One node of the serial access cluster test
 * (test/serial-access-cluster.test.ts), run as a child process with
 * `node --import tsx` by the {@link Cluster} of reaper-cluster.ts. It serves
 * the lost-update app over HTTP, its sessions in connect-redis on the shared
 * redis-server:
 *
 * - `POST /start` — a new session whose attribute `list` is `[]`; answers 204
 *   with the session cookie;
 * - `POST /append?i=N[&wait=ms]` — reads `list`, waits (5 ms unless told),
 *   writes it back with `N` appended; 204;
 * - `GET /list` — `list` as JSON;
 * - `POST /set/:name[?wait=ms]` — waits (5 ms unless told), then sets the
 *   attribute `name` to `name`; 204;
 * - `GET /attributes` — every attribute as a JSON object.
 *
 * `ESM_APPEND_MODE` picks the session layer: `manager` (the default:
 * createSessionManager + `redisCoordinator` with serial access on, so it
 * spans the processes), `merging` (the same with serial access off, the
 * default: commits merge) or `express-session` (express-session 1.19 on the
 * same store, which has neither: the version users migrate from).
 *
 * It speaks the reaper worker's IPC protocol, in part: `ready`, `failed`, and
 * `stopped` after a `{ type: 'stop' }`. Environment: `REDIS_URL`,
 * `ESM_CLUSTER_PREFIX` (key prefix of the run), `ESM_CLUSTER_WORKER` (its
 * name), `ESM_APPEND_MODE`. It exits when the parent goes.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type Request, type Response } from 'express';
import session from 'express-session-1.19';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import type { TestRedisClient } from './services';
import { createSessionManager } from '../../lib';
import { redisCoordinator } from '../../lib/coordination/redis/redis-coordinator';
import type { WorkerMessage } from './reaper-cluster-worker';
import { answerErrors, closeServer, runWorker } from './worker-process';

/** The session layers a worker can serve the app with. */
export type AppendMode = 'manager' | 'merging' | 'express-session';

/** The app, and how to let go of its session layer. */
interface AppendApp {
  app: Express;
  close: () => Promise<void>;
}

type RedisClient = TestRedisClient;

const worker = process.env.ESM_CLUSTER_WORKER ?? `worker-${process.pid}`;
/** How long `/append` holds the list it read before writing it back, unless `wait` says otherwise. */
const DEFAULT_WAIT_MS = 5;
/**
 * serialAccess.maxWaitTime, seconds: far above what 50 appends take (under
 * a second), far below the test's timeout, so that a lock never given back
 * shows as 503s rather than as a test that hangs.
 */
const MAX_WAIT_S = 8;

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function send(message: WorkerMessage): void {
  process.send?.(message);
}

/**
 * The app on createSessionManager + redisCoordinator: with `serial`,
 * requests of one session run one at a time across processes; without, they
 * run side by side and their commits merge.
 */
function managerApp(client: RedisClient, prefix: string, serial: boolean): AppendApp {
  const manager = createSessionManager({
    store: new RedisStore({ client, prefix: `${prefix}sess:` }),
    coordinator: redisCoordinator({ client, prefix: `${prefix}esm:` }),
    serialAccess: serial ? { maxWaitTime: MAX_WAIT_S } : false,
  });
  const app = express();
  app.use(manager.middleware());
  app.post('/start', (req: Request, res: Response) => {
    req.httpSession.setAttribute('list', []);
    res.sendStatus(204);
  });
  app.post('/append', async (req: Request, res: Response) => {
    const list = req.httpSession.getAttribute<number[]>('list') ?? [];
    await delay(Number(req.query.wait ?? DEFAULT_WAIT_MS));
    req.httpSession.setAttribute('list', [...list, Number(req.query.i)]);
    res.sendStatus(204);
  });
  app.get('/list', (req: Request, res: Response) => {
    res.json(req.httpSession.getAttribute('list') ?? null);
  });
  app.post('/set/:name', async (req: Request, res: Response) => {
    await delay(Number(req.query.wait ?? DEFAULT_WAIT_MS));
    req.httpSession.setAttribute(String(req.params.name), String(req.params.name));
    res.sendStatus(204);
  });
  app.get('/attributes', (req: Request, res: Response) => {
    const session = req.httpSession;
    res.json(Object.fromEntries(session.getAttributeNames().map((name) => [name, session.getAttribute(name)])));
  });
  app.use(answerErrors(worker));
  return { app, close: () => manager.close() };
}

/** The same app on express-session 1.19 and the same store: no serial access, so concurrent appends overwrite each other. */
function expressSessionApp(client: RedisClient, prefix: string): AppendApp {
  type ListSession = { list?: number[] };
  const app = express();
  app.use(
    session({
      secret: 'serial-access-cluster',
      store: new RedisStore({ client, prefix: `${prefix}sess:` }),
      resave: false,
      saveUninitialized: false,
    }),
  );
  app.post('/start', (req: Request, res: Response) => {
    (req.session as unknown as ListSession).list = [];
    res.sendStatus(204);
  });
  app.post('/append', async (req: Request, res: Response) => {
    const s = req.session as unknown as ListSession;
    const list = s.list ?? [];
    await delay(Number(req.query.wait ?? DEFAULT_WAIT_MS));
    s.list = [...list, Number(req.query.i)];
    res.sendStatus(204);
  });
  app.get('/list', (req: Request, res: Response) => {
    res.json((req.session as unknown as ListSession).list ?? null);
  });
  app.post('/set/:name', async (req: Request, res: Response) => {
    await delay(Number(req.query.wait ?? DEFAULT_WAIT_MS));
    (req.session as unknown as Record<string, string>)[String(req.params.name)] = String(req.params.name);
    res.sendStatus(204);
  });
  app.get('/attributes', (req: Request, res: Response) => {
    const { cookie: _cookie, ...attributes } = req.session as unknown as Record<string, unknown>;
    res.json(attributes);
  });
  app.use(answerErrors(worker));
  return { app, close: async () => undefined };
}

async function main(): Promise<void> {
  const url = process.env.REDIS_URL;
  const prefix = process.env.ESM_CLUSTER_PREFIX;
  if (!url || !prefix) throw new Error('REDIS_URL and ESM_CLUSTER_PREFIX are required');
  const mode = (process.env.ESM_APPEND_MODE ?? 'manager') as AppendMode;
  if (mode !== 'manager' && mode !== 'merging' && mode !== 'express-session') throw new Error(`unknown ESM_APPEND_MODE: ${mode}`);

  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  const { app, close } = mode === 'express-session' ? expressSessionApp(client, prefix) : managerApp(client, prefix, mode === 'manager');
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  process.on('message', (message: { type?: string }) => {
    if (message?.type !== 'stop') return;
    void (async () => {
      await close();
      await closeServer(server);
      await client.close();
      send({ type: 'stopped', worker, stats: { mode } });
      process.disconnect();
    })();
  });
  send({ type: 'ready', worker, port: (server.address() as AddressInfo).port });
}

runWorker(worker, main);
