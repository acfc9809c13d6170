/**
 * One benchmark server: `node server.js <config> [--serial-access=on]`
 * (compiled by harness.ts), with REDIS_URL for the Redis configurations. It
 * reports its port to the parent over IPC and exits on SIGTERM.
 * With --expose-gc it answers the IPC message `heap` with its heap after a
 * full GC (`heap.ts`). `--serial-access=on` runs this library with `serialAccess: true` (off is
 * the library's default); the other configurations refuse it.
 *
 * Routes (same behaviour in every configuration):
 *   POST /setup      creates a session with `user` (an object) and `count` = 0
 *   GET  /read       reads `user` from the session: 200, or 410 if there is no session
 *   GET  /slow-read  the same after a 1 ms timer (async work while the request holds its session)
 *   POST /write      increments `count`: 200 with the new value
 *   POST /write-own  sets attribute `a<k>` to n, n counting this server's
 *                    write-own requests and k = n mod OWN_ATTRIBUTES: concurrent
 *                    requests of one session set different attributes
 *   POST /new        creates a session with `user` and stores it (the load
 *                    sends no cookie: a new session per request): 204
 */
import { randomBytes } from 'node:crypto';
import express, { type Express } from 'express';
import { parse as parseCookie, serialize as serializeCookie } from 'cookie';
import { sign, unsign } from 'cookie-signature';
import session from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { sessionManagement } from '../lib/index';
import { redisCoordinator } from '../lib/redis';
import { CONFIGS, isThisLibrary, OWN_ATTRIBUTES, usesRedis, type ConfigName, type ServerVariant } from './configs';

const SECRET = 'benchmark-secret'; // both libraries sign the cookie, so both pay the HMAC
const USER = { id: 42, name: 'bench', roles: ['reader', 'writer'] };
/** The async work of `GET /slow-read`, ms. */
const SLOW_READ_MS = 1;

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

declare module 'express-session' {
  interface SessionData {
    user: typeof USER;
    count: number;
    [own: `a${number}`]: number;
  }
}

/** The attribute `POST /write-own` sets next (a0 … a49, round robin), and its value. */
function ownWriter(): () => { name: `a${number}`; value: number } {
  let writes = 0;
  return () => {
    const value = writes++;
    return { name: `a${value % OWN_ATTRIBUTES}`, value };
  };
}

async function build(config: ConfigName, variant: ServerVariant): Promise<Express> {
  const app = express();
  const redis = usesRedis(config) ? await connectRedis() : undefined;
  const nextOwn = ownWriter();

  if (config === 'express') {
    let count = 0;
    app.post('/setup', (_req, res) => void res.sendStatus(204));
    app.get('/read', (_req, res) => void res.json({ user: USER.name }));
    app.get('/slow-read', async (_req, res) => {
      await pause(SLOW_READ_MS);
      res.json({ user: USER.name });
    });
    app.post('/write', (_req, res) => void res.json({ count: ++count }));
    app.post('/write-own', (_req, res) => void res.json({ set: nextOwn().name }));
    app.post('/new', (_req, res) => void res.sendStatus(204));
    return app;
  }

  if (config === 'floor') return floor(app, nextOwn);

  if (config.startsWith('express-session')) {
    const store = redis ? new RedisStore({ client: redis, prefix: `sess:${config}:` }) : new session.MemoryStore();
    app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: false }));
    app.post('/setup', (req, res) => {
      req.session.user = USER;
      req.session.count = 0;
      res.sendStatus(204);
    });
    app.get('/read', (req, res) => {
      const user = req.session.user;
      if (!user) return void res.status(410).json({ user: null });
      res.json({ user: user.name });
    });
    app.get('/slow-read', async (req, res) => {
      await pause(SLOW_READ_MS);
      const user = req.session.user;
      if (!user) return void res.status(410).json({ user: null });
      res.json({ user: user.name });
    });
    app.post('/write', (req, res) => {
      req.session.count = (req.session.count ?? 0) + 1;
      res.json({ count: req.session.count });
    });
    app.post('/write-own', (req, res) => {
      const { name, value } = nextOwn();
      req.session[name] = value;
      res.json({ set: name });
    });
    app.post('/new', (req, res) => {
      req.session.user = USER;
      res.sendStatus(204);
    });
    return app;
  }

  // This library.
  app.use(
    sessionManagement({
      secret: SECRET,
      ...(redis ? { store: new RedisStore({ client: redis, prefix: `sess:${config}:` }) } : {}),
      ...(config === 'esm+redis+coordinator' ? { coordinator: redisCoordinator({ client: redis! }) } : {}),
      ...(variant.serialAccess ? { serialAccess: true } : {}),
    }),
  );
  app.post('/setup', (req, res) => {
    req.httpSession.setAttribute('user', USER);
    req.httpSession.setAttribute('count', 0);
    res.sendStatus(204);
  });
  app.get('/read', (req, res) => {
    const user = req.httpSession.getAttribute<typeof USER>('user');
    if (!user) return void res.status(410).json({ user: null });
    res.json({ user: user.name });
  });
  app.get('/slow-read', async (req, res) => {
    await pause(SLOW_READ_MS);
    const user = req.httpSession.getAttribute<typeof USER>('user');
    if (!user) return void res.status(410).json({ user: null });
    res.json({ user: user.name });
  });
  app.post('/write', (req, res) => {
    const count = (req.httpSession.getAttribute<number>('count') ?? 0) + 1;
    req.httpSession.setAttribute('count', count);
    res.json({ count });
  });
  app.post('/write-own', (req, res) => {
    const { name, value } = nextOwn();
    req.httpSession.setAttribute(name, value);
    res.json({ set: name });
  });
  app.post('/new', (req, res) => {
    req.httpSession.setAttribute('user', USER);
    res.sendStatus(204);
  });
  return app;
}

/**
 * The floor: the least any session middleware keyed by a signed cookie does
 * per request, in process — one `app.use` layer that reads the cookie,
 * verifies its signature (remembering verified values, as this library
 * does), finds the session in a Map and, for a new session, draws an id,
 * stores it and sends the signed cookie. No expiry, no commit, no copy: what
 * is left between this and bare Express is what no middleware can save.
 */
function floor(app: Express, nextOwn: () => { name: `a${number}`; value: number }): Express {
  type Data = Record<string, unknown>;
  const sessions = new Map<string, Data>();
  const verified = new Map<string, string>();
  const own = (req: express.Request): Data | undefined => (req as { floorSession?: Data }).floorSession;
  app.use((req, _res, next) => {
    const raw = req.headers.cookie ? parseCookie(req.headers.cookie).sid : undefined;
    let id = raw === undefined ? undefined : verified.get(raw);
    if (raw !== undefined && id === undefined && raw.startsWith('s:')) {
      const unsigned = unsign(raw.slice(2), SECRET);
      if (unsigned !== false) verified.set(raw, (id = unsigned));
    }
    const data = id === undefined ? undefined : sessions.get(id);
    (req as { floorSession?: Data }).floorSession = data;
    next();
  });
  const start = (res: express.Response, fresh: Data): void => {
    const id = randomBytes(24).toString('base64url');
    sessions.set(id, fresh);
    res.setHeader('Set-Cookie', serializeCookie('sid', `s:${sign(id, SECRET)}`, { path: '/', httpOnly: true }));
  };
  app.post('/setup', (_req, res) => {
    start(res, { user: USER, count: 0 });
    res.sendStatus(204);
  });
  const read = (req: express.Request, res: express.Response) => {
    const user = own(req)?.user as typeof USER | undefined;
    if (!user) return void res.status(410).json({ user: null });
    res.json({ user: user.name });
  };
  app.get('/read', read);
  app.get('/slow-read', async (req, res) => {
    await pause(SLOW_READ_MS);
    read(req, res);
  });
  app.post('/write', (req, res) => {
    const data = own(req);
    if (!data) return void res.status(410).json({ count: null });
    data.count = ((data.count as number) ?? 0) + 1;
    res.json({ count: data.count });
  });
  app.post('/write-own', (req, res) => {
    const data = own(req);
    if (!data) return void res.status(410).json({ set: null });
    const { name, value } = nextOwn();
    data[name] = value;
    res.json({ set: name });
  });
  app.post('/new', (_req, res) => {
    start(res, { user: USER });
    res.sendStatus(204);
  });
  return app;
}

async function connectRedis(): Promise<ReturnType<typeof createClient>> {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is required for the Redis configurations');
  const client = createClient({ url });
  client.on('error', (error: unknown) => console.error('redis client error', error));
  await client.connect();
  return client as ReturnType<typeof createClient>;
}

/** The heap after a full GC (three, to let weak references settle), for `heap.ts`; needs --expose-gc. */
function heapAfterGc(): { heapUsed: number } | { error: string } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return { error: 'start the server with --expose-gc' };
  for (let i = 0; i < 3; i++) gc();
  return { heapUsed: process.memoryUsage().heapUsed };
}

async function main(): Promise<void> {
  const config = process.argv[2] as ConfigName;
  if (!CONFIGS.includes(config)) throw new Error(`unknown configuration "${config}"; one of ${CONFIGS.join(', ')}`);
  const flags = process.argv.slice(3);
  for (const flag of flags) if (flag !== '--serial-access=on') throw new Error(`unknown flag "${flag}"; only --serial-access=on`);
  const serialAccess = flags.includes('--serial-access=on');
  if (serialAccess && !isThisLibrary(config)) throw new Error(`--serial-access=on is an option of this library, not of ${config}`);
  process.on('SIGTERM', () => process.exit(0)); // exit() so --cpu-prof writes its file
  process.on('message', (message) => {
    if (message === 'heap') process.send?.(heapAfterGc()); // heap.ts
  });
  const app = await build(config, { serialAccess });
  const server = app.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    if (process.send) process.send({ port });
    else console.log(`${config} on http://127.0.0.1:${port}`);
  });
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
