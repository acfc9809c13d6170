/**
 * A small Express app that exposes what the session middleware put on the
 * request, for HTTP suites that look at tracking, ids, stores and
 * coordinators from the outside:
 *
 * - `GET /state` — the request's view as JSON ({@link ProbeState}); creates nothing.
 * - `POST /set/:name/:value` — `setAttribute(name, value)`; answers the state.
 * - `POST /create` — the explicit `req.getSession()`; answers the state.
 * - `POST /invalidate` — `req.httpSession.invalidate()`; answers 204.
 * - `GET /plain` — a route that never looks at the session.
 *
 * Errors passed to `next(err)` are recorded in `errors` and answered with
 * their `status` (else 500) and `{ name, code }`.
 */
import type { ErrorRequestHandler, Express, Request, RequestHandler } from 'express';

/** What `GET /state` (and the write routes) answer. */
export interface ProbeState {
  /** `req.getSession(false) !== null`. */
  hasSession: boolean;
  /** The id of the live session, or `null`. */
  id: string | null;
  requestedId: string | null;
  requestedIdValid: boolean;
  isNew: boolean | null;
  creationTime: number | null;
  lastAccessedTime: number | null;
  maxInactiveInterval: number;
  attributes: Record<string, unknown>;
}

/** An app built by {@link probeApp} and the errors its error handler saw. */
export interface Probe {
  app: Express;
  errors: unknown[];
}

/** Builds the probe app on `createExpress()` with `middleware` mounted first. */
export function probeApp(createExpress: () => Express, middleware: RequestHandler): Probe {
  const app = createExpress();
  const errors: unknown[] = [];
  app.use(middleware);
  app.get('/state', (req, res) => {
    res.json(probeState(req));
  });
  app.post('/set/:name/:value', (req, res) => {
    req.httpSession.setAttribute(String(req.params.name), String(req.params.value));
    res.json(probeState(req));
  });
  app.post('/create', (req, res) => {
    req.getSession();
    res.json(probeState(req));
  });
  app.post('/invalidate', (req, res) => {
    req.httpSession.invalidate();
    res.sendStatus(204);
  });
  app.get('/plain', (_req, res) => {
    res.send('plain');
  });
  const onError: ErrorRequestHandler = (err: unknown, _req, res, _next) => {
    errors.push(err);
    const { status, name, code } = err as { status?: unknown; name?: unknown; code?: unknown };
    res.status(typeof status === 'number' ? status : 500).json({ name, code });
  };
  app.use(onError);
  return { app, errors };
}

/** The request's session as JSON-friendly data. */
export function probeState(req: Request): ProbeState {
  const session = req.getSession(false);
  return {
    hasSession: session !== null,
    id: session?.getId() ?? null,
    requestedId: req.getRequestedSessionId(),
    requestedIdValid: req.isRequestedSessionIdValid(),
    isNew: session?.isNew() ?? null,
    creationTime: session?.getCreationTime() ?? null,
    lastAccessedTime: session?.getLastAccessedTime() ?? null,
    maxInactiveInterval: req.httpSession.getMaxInactiveInterval(),
    attributes: session ? Object.fromEntries(session.getAttributeNames().map((n) => [n, session.getAttribute(n)])) : {},
  };
}
