/**
 * `express-session-management/prometheus` (issue 16; docs/architecture.md, "Metrics"): the
 * metrics of DESIGN's operations section, scraped through the admin router's `GET /metrics`
 * after known activity, values checked. Cluster-wide gauges with redisCoordinator:
 * test/caps-redis.test.ts.
 */
import express, { type Request, type Response } from 'express';
import request from 'supertest';
import { Registry } from 'prom-client';
import { createSessionManager, type SessionManager } from '../lib';
import { collectMetrics } from '../lib/prometheus';
import { FakeClock } from './support/fake-clock';
import { cookieFor, sessionIdFrom } from './support/test-app';

/** The value of `name{labels}` in a Prometheus text page; `undefined` when absent. */
function sampleOf(page: string, name: string, labels = ''): number | undefined {
  const line = page.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('collectMetrics', () => {
  let manager: SessionManager;
  afterEach(async () => {
    await manager?.close();
  });

  it('serves the session metrics at GET /metrics with the values of what happened', async () => {
    const clock = new FakeClock();
    manager = createSessionManager({ clock, invalidationTimeout: 60, maxActiveSessions: 3, serialAccess: true, principal: (req) => req.get('x-user') || undefined });
    const registry = new Registry();
    collectMetrics(manager, { registry });
    const app = express();
    app.use('/admin', manager.adminRouter({ authorize: (req) => req.get('x-user') === 'root', registry }));
    app.use(manager.middleware());
    app.use('/shop', manager.middleware({ app: 'shop' }));
    app.post('/start', (req: Request, res: Response) => {
      req.httpSession.setAttribute('n', 1);
      res.sendStatus(204);
    });
    app.post('/logout', manager.disconnect());
    const start = async () => sessionIdFrom(await request(app).post('/start'))!;

    // Known activity: 3 sessions of the default app; a 4th refused by the cap (503: its
    // sessionCreated had fired, so it counts as created); one invalidated, one killed by root, one
    // expired by the reaper; then a 5th. The shop app (mounted, unused) holds none.
    const a = await start();
    const b = await start();
    const c = await start();
    expect((await request(app).post('/start')).status).toBe(503);
    await request(app).post('/logout').set('Cookie', cookieFor(a));
    await request(app).delete(`/admin/api/sessions/${b}`).set({ 'x-user': 'root', 'X-Requested-With': 'x' });
    clock.advanceSeconds(61);
    expect((await manager.reap()).expired).toBe(1);
    expect(c).toBeDefined();
    const d = await start();

    expect((await request(app).get('/admin/metrics')).status).toBe(403);
    const scrape = await request(app).get('/admin/metrics').set('x-user', 'root');
    expect(scrape.status).toBe(200);
    expect(scrape.headers['content-type']).toMatch(/^text\/plain/);
    const page = scrape.text;
    expect(sampleOf(page, 'esm_sessions_live', 'app="default"')).toBe(1);
    expect(sampleOf(page, 'esm_sessions_live', 'app="shop"')).toBe(0);
    expect(sampleOf(page, 'esm_sessions_created_total', 'app="default"')).toBe(5);
    expect(sampleOf(page, 'esm_sessions_destroyed_total', 'app="default",reason="invalidated"')).toBe(1);
    expect(sampleOf(page, 'esm_sessions_destroyed_total', 'app="default",reason="killed"')).toBe(1);
    expect(sampleOf(page, 'esm_sessions_destroyed_total', 'app="default",reason="expired"')).toBe(1);
    expect(sampleOf(page, 'esm_requests_rejected_total', 'code="503"')).toBe(1);
    expect(sampleOf(page, 'esm_reaper_sweep_seconds_count')).toBe(1);
    // Serial access is on: the one request that named a session (the logout) waited for its turn.
    expect(sampleOf(page, 'esm_serial_access_wait_seconds_count')).toBe(1);
    // The in-process store and coordinator make no calls to time.
    expect(sampleOf(page, 'esm_store_call_seconds_count', 'op="get"')).toBeUndefined();
    expect(d).toBeDefined();
  });

  it('times the calls of an external store, and counts its failures', async () => {
    const records = new Map<string, unknown>();
    let failing = false;
    const store = {
      get: (sid: string, cb: (err: unknown, v?: unknown) => void) => (failing ? cb(new Error('down')) : cb(null, records.get(sid))),
      set: (sid: string, v: unknown, cb: (err?: unknown) => void) => {
        records.set(sid, JSON.parse(JSON.stringify(v)));
        cb();
      },
      destroy: (sid: string, cb: (err?: unknown) => void) => {
        records.delete(sid);
        cb();
      },
      on: () => undefined,
    };
    manager = createSessionManager({ store: store as never });
    const registry = new Registry();
    collectMetrics(manager, { registry });
    const app = express();
    app.use(manager.middleware());
    app.post('/start', (req: Request, res: Response) => {
      req.httpSession.setAttribute('n', 1);
      res.sendStatus(204);
    });
    app.get('/view', (req: Request, res: Response) => res.json({ live: req.getSession(false) !== null }));
    const id = sessionIdFrom(await request(app).post('/start'))!;
    await request(app).get('/view').set('Cookie', cookieFor(id));
    failing = true;
    expect((await request(app).get('/view').set('Cookie', cookieFor(id))).status).toBe(503);
    const page = await registry.metrics();
    expect(sampleOf(page, 'esm_store_call_seconds_count', 'op="set"')).toBe(1);
    expect(sampleOf(page, 'esm_store_call_seconds_count', 'op="get"')).toBe(2);
    expect(sampleOf(page, 'esm_store_errors_total', 'op="get"')).toBe(1);
    expect(sampleOf(page, 'esm_requests_rejected_total', 'code="503"')).toBe(1);
  });

  it('is refused by adminRouter when the registry is not one', () => {
    manager = createSessionManager();
    expect(() => manager.adminRouter({ authorize: () => true, registry: {} as never })).toThrow(/registry must be a prom-client Registry/);
  });
});
