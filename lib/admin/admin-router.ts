import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { idInput, principalInput, appInput } from './admin-input';
import { ADMIN_PAGE, ADMIN_SCRIPT, ADMIN_STYLES } from './page/assets.generated';
import { BadRequestError, ConfigurationError, StoreUnavailableError } from '../errors';
import type { SessionAdmin } from './session-admin';
import type { SweepResult } from '../expiry/reaper';

/** Options of `manager.adminRouter()`. */
export interface AdminRouterOptions {
  /**
   * Whether this request may see and kill sessions (e.g. the user is an
   * administrator). Called on every route; `false` answers 403.
   */
  authorize: (req: Request) => boolean | Promise<boolean>;
  /**
   * A prom-client `Registry` (or anything with `metrics()` and
   * `contentType`) that `collectMetrics` of
   * `express-session-management/prometheus` fills: `GET /metrics` then
   * serves it, behind `authorize` like every route. @default none: no `/metrics`
   */
  registry?: MetricsRegistry;
}

/** What `GET /metrics` needs of a prom-client `Registry`. */
export interface MetricsRegistry {
  metrics(): Promise<string> | string;
  readonly contentType: string;
}

/** What the router needs of the manager. */
export interface AdminRouterDeps {
  sessions: SessionAdmin;
  stats(): object;
  reap(): Promise<SweepResult>;
  /** The caps in force (shown on the page). */
  caps(): object;
  /** The administrator's principal (the manager's `principal` option), for the `by` of a kill. */
  principalOf(req: IncomingMessage): string | undefined;
}

type Handler = (req: IncomingMessage, url: URL, deps: AdminRouterDeps) => Promise<Reply>;

/** A response: JSON (with a status) or a static asset. */
type Reply = { status: number; json: unknown } | { status: 200; type: string; body: string };

const ASSETS: Record<string, { type: string; body: string }> = {
  '/': { type: 'text/html; charset=utf-8', body: ADMIN_PAGE },
  '/admin.css': { type: 'text/css; charset=utf-8', body: ADMIN_STYLES },
  '/admin.js': { type: 'text/javascript; charset=utf-8', body: ADMIN_SCRIPT },
};

/** The JSON routes (docs/architecture.md, "Administration"), by method and path; `:id` is the one parameter. */
const ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  '/api/sessions': {
    GET: async (_req, url, { sessions }) => {
      const query = url.searchParams;
      const result = await sessions.list({
        app: optional(query, 'app'),
        principal: optional(query, 'principal'),
        limit: numberOrRaw(optional(query, 'limit')),
        cursor: optional(query, 'cursor'),
      });
      return { status: 200, json: result };
    },
    DELETE: async (req, url, { sessions, principalOf }) => {
      const by = principalOf(req);
      const principal = optional(url.searchParams, 'principal');
      const app = optional(url.searchParams, 'app');
      if ((principal === undefined) === (app === undefined)) {
        throw new BadRequestError(['give exactly one of principal or app']);
      }
      const killed =
        principal !== undefined
          ? await sessions.killByPrincipal(principalInput(principal), { by })
          : await sessions.killAll({ app: appInput(app), by });
      return { status: 200, json: { killed } };
    },
  },
  '/api/sessions/:id': {
    GET: async (_req, url, { sessions }) => {
      const { id, app } = idInput(idOf(url), optional(url.searchParams, 'app'));
      const info = await sessions.get(id, { app });
      return info ? { status: 200, json: info } : { status: 404, json: { error: 'no such session' } };
    },
    DELETE: async (req, url, { sessions, principalOf }) => {
      const { id, app } = idInput(idOf(url), optional(url.searchParams, 'app'));
      const result = await sessions.kill(id, { app, by: principalOf(req) });
      return { status: result.killed ? 200 : 404, json: result };
    },
  },
  '/api/stats': {
    GET: async (_req, _url, deps) => ({ status: 200, json: { ...deps.stats(), live: await deps.sessions.count(), caps: deps.caps() } }),
  },
  '/api/reap': {
    POST: async (_req, _url, deps) => ({ status: 200, json: await deps.reap() }),
  },
};

/**
 * `manager.adminRouter({ authorize })`: the admin page and its JSON API,
 * mountable anywhere (`app.use('/admin', manager.adminRouter(...))`); paths
 * are relative to the mount point. Every route asks `authorize`; those that
 * change state also demand `X-Requested-With`, which a cross-site form or
 * image cannot send. A plain handler, so it works on Express 4 and 5 alike.
 */
export function createAdminRouter(deps: AdminRouterDeps, options: AdminRouterOptions): RequestHandler {
  if (!options || typeof options.authorize !== 'function') {
    throw new ConfigurationError(['adminRouter: authorize must be a function (req) => boolean deciding who may administer sessions']);
  }
  const { authorize, registry } = options;
  if (registry !== undefined && (typeof registry?.metrics !== 'function' || typeof registry.contentType !== 'string')) {
    throw new ConfigurationError(['adminRouter: registry must be a prom-client Registry (with metrics() and contentType)']);
  }
  return function adminRouter(req: Request, res: Response, next: NextFunction): void {
    const url = new URL(req.url, 'http://admin.invalid');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    if (registry && path === '/metrics') {
      void serveMetrics(req, res, authorize, registry).catch(next);
      return;
    }
    const asset = ASSETS[path];
    const handlers = asset ? undefined : ROUTES[routeOf(path)];
    if (!asset && !handlers) {
      next();
      return;
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET';
    const handler = handlers?.[method];
    const allowed = asset ? method === 'GET' : handler !== undefined;
    void (async () => {
      if (!(await authorize(req))) return send(res, { status: 403, json: { error: 'not authorized' } });
      if (!allowed) {
        res.setHeader('Allow', asset ? 'GET' : Object.keys(handlers!).join(', '));
        return send(res, { status: 405, json: { error: `${method} is not allowed here` } });
      }
      if (path === '/' && !pathOf(req.originalUrl ?? req.url).endsWith('/')) {
        // The page's assets and API are relative to it: `/admin` must become `/admin/`.
        res.setHeader('Location', `${pathOf(req.originalUrl)}/${url.search}`);
        return send(res, { status: 308, json: { error: 'the page is at the address with a slash at the end' } });
      }
      if (method !== 'GET' && req.headers['x-requested-with'] === undefined) {
        return send(res, { status: 403, json: { error: 'the X-Requested-With header is required' } });
      }
      send(res, asset ? { status: 200, ...asset } : await handler!(req, url, deps));
    })().catch((error: unknown) => {
      if (error instanceof BadRequestError) send(res, { status: 400, json: { error: error.message, violations: error.violations } });
      else if (error instanceof StoreUnavailableError) send(res, { status: 503, json: { error: error.message } });
      else next(error);
    });
  };
}

/** `GET /metrics`: the registry's Prometheus text, behind `authorize`. */
async function serveMetrics(req: Request, res: Response, authorize: AdminRouterOptions['authorize'], registry: MetricsRegistry): Promise<void> {
  if (!(await authorize(req))) return send(res, { status: 403, json: { error: 'not authorized' } });
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET');
    return send(res, { status: 405, json: { error: `${req.method} is not allowed here` } });
  }
  send(res, { status: 200, type: registry.contentType, body: await registry.metrics() });
}

/** The path of a request URL, without its query. */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/** The route pattern of a path: `/api/sessions/<id>` → `/api/sessions/:id`. */
function routeOf(path: string): string {
  return /^\/api\/sessions\/[^/]+$/.test(path) ? '/api/sessions/:id' : path;
}

/** The `:id` of `/api/sessions/:id`; a malformed escape is an invalid id (400), not a crash. */
function idOf(url: URL): string {
  try {
    return decodeURIComponent(url.pathname.split('/')[3] ?? '');
  } catch {
    return '';
  }
}

/** A query value; absent or empty is `undefined`. */
function optional(query: URLSearchParams, name: string): string | undefined {
  const value = query.get(name);
  return value === null || value === '' ? undefined : value;
}

/** A decimal number as a number; anything else as it came, for validation to name. */
function numberOrRaw(value: string | undefined): number | undefined {
  return (value !== undefined && /^-?\d+$/.test(value) ? Number(value) : value) as number | undefined;
}

function send(res: ServerResponse, reply: Reply): void {
  res.statusCode = reply.status;
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if ('json' in reply) {
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(reply.json));
  } else {
    res.setHeader('Content-Type', reply.type);
    res.end(reply.body);
  }
}
