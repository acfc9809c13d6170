/**
 * What the reaper suites share: a small Express app over a session manager
 * (create, read and slow routes), an event recorder, a gate to hold a request
 * in its handler, and wrappers that give a store or coordinator latency or
 * take an optional method away.
 */
import { createServer, type Server } from 'node:http';
import { Store, type SessionData } from 'express-session';
import type { Express, Request } from 'express';
import request from 'supertest';
import '../../lib/request/express-request';
import type { AccessEntry, Coordinator } from '../../lib/coordination/coordinator';
import type { LocalCoordinator } from '../../lib/coordination/local/local-coordinator';
import type { AppOptions } from '../../lib/manager/options';
import type { SessionManager } from '../../lib/manager/session-manager';
import type { SessionDestroyedEvent, AttributeEvent } from '../../lib/manager/events';

/** What the app's routes answer about the request's session. */
export interface SessionView {
  /** The request ended with a live session. */
  live: boolean;
  id: string | null;
  isNew: boolean | null;
  attributes: Record<string, unknown>;
  /** `req.isRequestedSessionIdValid()`. */
  requestedValid: boolean;
}

/** A running app and the means to talk to it. */
export interface SessionApp {
  server: Server;
  /** Holds `/slow` requests in their handler until opened. */
  gate: Gate;
  /** `POST /session`: creates (or writes to) a session with these attributes. */
  create(attributes?: Record<string, unknown>, cookieId?: string, query?: string): Promise<SessionView>;
  /** `GET /session` with the id's cookie: reads, never writes. */
  read(id: string): Promise<SessionView>;
  /** `GET /slow` with the id's cookie: waits at the gate inside the handler. */
  slow(id: string): Promise<SessionView>;
  close(): Promise<void>;
}

/** Holds requests until opened; tells when one has arrived. */
export class Gate {
  private opened = false;
  private waiters: (() => void)[] = [];
  private arrivals: (() => void)[] = [];
  arrived = 0;

  /** Waits in a handler until the gate opens. */
  async pass(): Promise<void> {
    this.arrived++;
    for (const notify of this.arrivals.splice(0)) notify();
    if (this.opened) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Resolves once `count` requests have reached the gate. */
  async reached(count = 1): Promise<void> {
    while (this.arrived < count) await new Promise<void>((resolve) => this.arrivals.push(resolve));
  }

  open(): void {
    this.opened = true;
    for (const release of this.waiters.splice(0)) release();
  }

  /** Closes the gate again. */
  reset(): void {
    this.opened = false;
  }
}

/** The session of a request as the routes report it. */
function view(req: Request): SessionView {
  const session = req.getSession(false);
  const attributes: Record<string, unknown> = {};
  if (session) for (const name of session.getAttributeNames()) attributes[name] = session.getAttribute(name);
  return {
    live: session !== null,
    id: session ? session.getId() : null,
    isNew: session ? session.isNew() : null,
    attributes,
    requestedValid: req.isRequestedSessionIdValid(),
  };
}

/**
 * Mounts `manager.middleware(appOptions)` on an app from `makeApp` and
 * listens on a free port. Query `never=1` on `POST /session` sets the
 * session's own timeout to never.
 */
export async function startSessionApp(
  makeApp: () => Express,
  manager: SessionManager,
  appOptions?: AppOptions,
): Promise<SessionApp> {
  const app = makeApp();
  const gate = new Gate();
  app.use(manager.middleware(appOptions));
  app.post('/session', (req, res) => {
    const attributes = JSON.parse(String(req.query.attributes ?? '{}')) as Record<string, unknown>;
    for (const [name, value] of Object.entries(attributes)) req.httpSession.setAttribute(name, value);
    if (req.query.never === '1') req.httpSession.setMaxInactiveInterval(-1);
    req.getSession();
    res.json(view(req));
  });
  app.get('/session', (req, res) => {
    res.json(view(req));
  });
  app.get('/slow', async (req, res) => {
    await gate.pass();
    res.json(view(req));
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cookie = (id: string | undefined): Record<string, string> => (id ? { Cookie: `JSESSIONID=${id}` } : {});
  const send = async (test: request.Test): Promise<SessionView> => {
    const res = await test;
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.text}`);
    return res.body as SessionView;
  };
  return {
    server,
    gate,
    create: (attributes = {}, cookieId, query = '') =>
      send(
        request(server)
          .post(`/session?attributes=${encodeURIComponent(JSON.stringify(attributes))}${query}`)
          .set(cookie(cookieId)),
      ),
    read: (id) => send(request(server).get('/session').set(cookie(id))),
    slow: (id) => send(request(server).get('/slow').set(cookie(id))),
    close: async () => {
      gate.open();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One recorded event. */
export type RecordedEvent =
  | { event: 'sessionDestroyed'; payload: SessionDestroyedEvent }
  | { event: 'attributeRemoved'; payload: AttributeEvent };

/** Records `sessionDestroyed` and `attributeRemoved` in the order they fire. */
export function recordEvents(manager: SessionManager): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  manager.on('sessionDestroyed', (payload) => {
    events.push({ event: 'sessionDestroyed', payload });
  });
  manager.on('attributeRemoved', (payload) => {
    events.push({ event: 'attributeRemoved', payload });
  });
  return events;
}

/** Ids of the `sessionDestroyed` events, in order. */
export function destroyedIds(events: RecordedEvent[]): string[] {
  return events.filter((e) => e.event === 'sessionDestroyed').map((e) => e.payload.id);
}

/** Resolves after the event loop has turned (lets I/O callbacks in between). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A coordinator without the optional `due`: the reaper must fall back to a store scan. */
export function withoutIndex(inner: LocalCoordinator): Coordinator {
  return {
    enter: (...args) => inner.enter(...args),
    inspect: (...args) => inner.inspect(...args),
    leave: (...args) => inner.leave(...args),
    remove: (...args) => inner.remove(...args),
    claim: (...args) => inner.claim(...args),
    kill: (...args) => inner.kill(...args),
    onKill: (...args) => inner.onKill(...args),
    keys: (...args) => inner.keys(...args),
    count: () => inner.count(),
    keysOf: (...args) => inner.keysOf(...args),
  };
}

/**
 * A coordinator that answers every call on a later turn of the event loop,
 * as a remote one would, so requests and sweeps interleave. Each call still
 * runs atomically on the inner coordinator.
 */
export class DelayedCoordinator implements Coordinator {
  /**
   * @param turns how many turns each call waits (drawn per call; vary it to
   * let a later call overtake an earlier one, as on separate connections)
   */
  constructor(
    private readonly inner: LocalCoordinator,
    private readonly turns: () => number = () => 1,
  ) {}

  private async delay(): Promise<void> {
    for (let i = this.turns(); i > 0; i--) await nextTurn();
  }

  async enter(...args: Parameters<LocalCoordinator['enter']>): Promise<AccessEntry | undefined> {
    await this.delay();
    return this.inner.enter(...args);
  }

  async inspect(...args: Parameters<LocalCoordinator['inspect']>): Promise<AccessEntry | undefined> {
    await this.delay();
    return this.inner.inspect(...args);
  }

  async leave(...args: Parameters<LocalCoordinator['leave']>): Promise<boolean> {
    await this.delay();
    return this.inner.leave(...args);
  }

  async remove(...args: Parameters<LocalCoordinator['remove']>): Promise<boolean> {
    await this.delay();
    return this.inner.remove(...args);
  }

  async claim(...args: Parameters<LocalCoordinator['claim']>): Promise<AccessEntry | undefined> {
    await this.delay();
    return this.inner.claim(...args);
  }

  async due(now: number, limit: number): Promise<string[]> {
    await this.delay();
    return this.inner.due(now, limit);
  }

  async kill(...args: Parameters<LocalCoordinator['kill']>): Promise<AccessEntry | undefined> {
    await this.delay();
    return this.inner.kill(...args);
  }

  onKill(...args: Parameters<LocalCoordinator['onKill']>): ReturnType<LocalCoordinator['onKill']> {
    return this.inner.onKill(...args);
  }

  keys(...args: Parameters<LocalCoordinator['keys']>): ReturnType<LocalCoordinator['keys']> {
    return this.inner.keys(...args);
  }

  count(): Promise<number> {
    return this.inner.count();
  }

  keysOf(...args: Parameters<LocalCoordinator['keysOf']>): ReturnType<LocalCoordinator['keysOf']> {
    return this.inner.keysOf(...args);
  }
}

type Callback<T = void> = (err?: unknown, value?: T) => void;

/**
 * An express-session store over another that does its work on a later turn
 * of the event loop (as a networked store would). Only the required
 * get/set/destroy and the recommended touch: no `all`, no `length`.
 */
export class DelayedStore extends Store {
  /** @param turns how many turns each call waits (drawn per call) */
  constructor(
    private readonly inner: Store,
    private readonly turns: () => number = () => 1,
  ) {
    super();
  }

  override get(sid: string, callback: Callback<SessionData | null>): void {
    this.later(() => this.inner.get(sid, callback));
  }

  override set(sid: string, session: SessionData, callback?: Callback): void {
    this.later(() => this.inner.set(sid, session, callback));
  }

  override destroy(sid: string, callback?: Callback): void {
    this.later(() => this.inner.destroy(sid, callback));
  }

  override touch(sid: string, session: SessionData, callback?: Callback): void {
    this.later(() => this.inner.touch!(sid, session, callback ?? (() => undefined)));
  }

  private later(work: () => void): void {
    let left = this.turns();
    const step = (): void => {
      if (left-- <= 0) work();
      else setImmediate(step);
    };
    setImmediate(step);
  }
}
