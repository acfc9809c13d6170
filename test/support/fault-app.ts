/**
 * The application the fault suites and the soak break things under: an
 * Express app over a session manager (connect-redis + `redisCoordinator`
 * through {@link redisManager}, or any manager), with routes that read,
 * write, invalidate and hold sessions, a stateless route, and quiet error
 * answers (a fault makes hundreds of 503s; none is printed):
 *
 * - `GET /stateless` — on `manager.middleware({ stateless: true })`: `{ session: null }`;
 * - `POST /session?n=N[&ttl=s]` — a new session holding `n` (idle timeout `ttl` if given): `{ id, n }`;
 * - `GET /session` — `{ live, id, n, v }` of the requested session (creates nothing);
 * - `POST /write?v=V` — sets `v` on the requested session: `{ id, v }`; 404 `{ live: false }` without one;
 * - `POST /invalidate` — invalidates the requested session: 204;
 * - `POST /hold?ms=M[&v=V]` — (sets `v` if given, then) waits `M` ms in the handler: `{ id, v }`;
 *   the wait ends early, and answers 499, when the client goes away;
 * - `POST /append?i=I` — reads the list `list`, waits 5 ms, writes it back with `I` appended (a
 *   lost update unless requests of the session run one at a time): `{ list }`;
 * - `POST /set?name=N&value=V` — waits 5 ms, sets attribute `N` to `V` on the requested session
 *   (concurrent requests setting different names must all be kept: commits merge): 204;
 * - `GET /attributes` — every attribute of the requested session (`{}` without one).
 *
 * Errors answer `{ name, code }` with their status (500 when they have none).
 */
import express, { type ErrorRequestHandler, type Express, type Request, type Response } from 'express';
import { RedisStore } from 'connect-redis';
import { createSessionManager, type SessionManager, type SessionManagerOptions } from '../../lib';
import { redisCoordinator } from '../../lib/redis';
import type { AppRedisClient } from './app-redis-client';

/** What `GET /session` answers. */
export interface FaultView {
  live: boolean;
  id: string | null;
  n: number | null;
  v: number | null;
}

/** A manager on connect-redis (keys `<prefix>sess:`) and `redisCoordinator` (keys `<prefix>esm:`), both on `client`. */
export function redisManager(client: AppRedisClient, prefix: string, options: SessionManagerOptions = {}): SessionManager {
  return createSessionManager({
    store: new RedisStore({ client, prefix: `${prefix}sess:` }),
    coordinator: redisCoordinator({ client, prefix: `${prefix}esm:` }),
    ...options,
  });
}

/** The app of the file's comment over `manager`. */
export function faultApp(manager: SessionManager): Express {
  const app = express();
  app.get('/stateless', manager.middleware({ stateless: true }), (req: Request, res: Response) => {
    res.json({ session: req.getSession(false) });
  });
  app.use(manager.middleware());
  app.post('/session', (req: Request, res: Response) => {
    const n = Number(req.query.n ?? 0);
    req.httpSession.setAttribute('n', n);
    if (req.query.ttl !== undefined) req.httpSession.setMaxInactiveInterval(Number(req.query.ttl));
    res.json({ id: req.httpSession.getId(), n });
  });
  app.get('/session', (req: Request, res: Response) => {
    res.json(viewOf(req));
  });
  app.post('/write', (req: Request, res: Response) => {
    const session = req.getSession(false);
    if (!session) {
      res.status(404).json({ live: false });
      return;
    }
    const v = Number(req.query.v);
    session.setAttribute('v', v);
    res.json({ id: session.getId(), v });
  });
  app.post('/invalidate', (req: Request, res: Response) => {
    req.getSession(false)?.invalidate();
    res.sendStatus(204);
  });
  app.post('/hold', async (req: Request, res: Response) => {
    if (req.query.v !== undefined) req.httpSession.setAttribute('v', Number(req.query.v));
    const left = await waitUnlessClosed(res, Number(req.query.ms ?? 0));
    if (left) res.status(499).end();
    else res.json({ id: req.getSession(false)?.getId() ?? null, v: req.httpSession.getAttribute<number>('v') ?? null });
  });
  app.post('/append', async (req: Request, res: Response) => {
    const list = req.httpSession.getAttribute<number[]>('list') ?? [];
    await new Promise((resolve) => setTimeout(resolve, 5));
    req.httpSession.setAttribute('list', [...list, Number(req.query.i)]);
    res.json({ list: req.httpSession.getAttribute<number[]>('list') });
  });
  app.post('/set', async (req: Request, res: Response) => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    req.httpSession.setAttribute(String(req.query.name), String(req.query.value));
    res.sendStatus(204);
  });
  app.get('/attributes', (req: Request, res: Response) => {
    const session = req.getSession(false);
    const names = session?.getAttributeNames() ?? [];
    res.json(Object.fromEntries(names.map((name) => [name, session!.getAttribute(name)])));
  });
  app.use(quietErrors);
  return app;
}

/** The view of the requested session. */
function viewOf(req: Request): FaultView {
  const session = req.getSession(false);
  return {
    live: session !== null,
    id: session?.getId() ?? null,
    n: session?.getAttribute<number>('n') ?? null,
    v: session?.getAttribute<number>('v') ?? null,
  };
}

/** Waits `ms`, or until the client has gone away; resolves `true` in the second case. */
function waitUnlessClosed(res: Response, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      res.off('close', onClose);
      resolve(false);
    }, ms);
    res.once('close', onClose);
  });
}

/** Answers an error's status with `{ name, code }`, printing nothing. */
const quietErrors: ErrorRequestHandler = (err: Error & { status?: number; code?: string }, _req, res, _next) => {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(err.status ?? 500).json({ name: err.name, code: err.code ?? null });
};
