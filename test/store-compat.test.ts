/**
 * Third-party express-session stores under the library, over HTTP: a store's
 * `ENOENT` for a missing session is "no session" (session-file-store), a
 * store failure is a 503 whose message leaks nothing of the store's error,
 * and stores that take their TTL from `cookie.maxAge` (memorystore,
 * better-sqlite3-session-store) expire a record when its `cookie.expires`
 * says.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import createSqliteStore from 'better-sqlite3-session-store';
import type { Express, NextFunction, Request, Response } from 'express';
import session, { type Store } from 'express-session';
import createMemorystore from 'memorystore';
import createFileStore from 'session-file-store';
import { StoreUnavailableError } from '../lib';
import { systemClock } from '../lib/clock';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { cookieFor, createTestApp, sessionIdFrom, type TestApp } from './support/test-app';

/** Routes: write creates a session, read reports its id; errors answered with their message. */
function routes(app: Express): void {
  app.post('/write', (req, res) => {
    req.httpSession.setAttribute('n', 1);
    res.json({ id: req.httpSession.getId() });
  });
  app.get('/read', (req, res) => res.json({ n: req.httpSession.getAttribute('n') ?? null, valid: req.isRequestedSessionIdValid() }));
  app.use((err: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.status ?? 500).json({ error: err.name, message: err.message, cause: String((err.cause as Error)?.message) });
  });
}

let t: TestApp;
let dir: string;

afterEach(async () => {
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each(EXPRESS_FLAVOURS)('session-file-store on %s', (_name, flavour) => {
  const FileStore = createFileStore(session);

  it.each([
    ['retries: 0', 0],
    ['its default retries', undefined],
  ])('answers a cookie naming a missing session as no session (%s), not 503', async (_label, retries) => {
    dir = mkdtempSync(join(tmpdir(), 'esm-file-http-'));
    const store = new FileStore({ path: dir, reapInterval: -1, logFn: () => undefined, ...(retries === undefined ? {} : { retries }) });
    t = await createTestApp(flavour, { manager: { store } }, routes);
    const res = await t.http().get('/read').set('Cookie', cookieFor('unknown-session-id-00000000000')).expect(200);
    expect(res.body).toEqual({ n: null, valid: false });
    const id = sessionIdFrom(await t.http().post('/write').expect(200))!;
    expect((await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200)).body).toEqual({ n: 1, valid: true });
  });
});

describe('a failing store', () => {
  it('answers 503 with a message that names the operation only (the store error, with its path, is the cause)', async () => {
    const MemoryStore = session.MemoryStore;
    const store = new MemoryStore();
    store.get = (_sid, cb) => {
      const error = Object.assign(new Error("EACCES: permission denied, open '/srv/secret/sessions/abc.json'"), { code: 'EACCES' });
      setImmediate(() => cb(error));
    };
    t = await createTestApp(EXPRESS_FLAVOURS[1][1], { manager: { store } }, routes);
    const res = await t.http().get('/read').set('Cookie', cookieFor('a'.repeat(43))).expect(503);
    expect(res.body.error).toBe(StoreUnavailableError.name);
    expect(res.body.message).toBe('Session store unavailable (get)');
    expect(JSON.stringify(res.body.message)).not.toMatch(/srv|secret|json/);
    expect(res.body.cause).toMatch(/\/srv\/secret/); // for logs, on `cause`
  });
});

describe('stores that take their TTL from cookie.maxAge', () => {
  /** Writes one session through the library (system clock) and answers the record's `cookie.expires` in ms. */
  async function writeThrough(store: Store): Promise<{ id: string; expires: number }> {
    t = await createTestApp(EXPRESS_FLAVOURS[1][1], { manager: { store, clock: systemClock, invalidationTimeout: 600 } }, routes);
    const id = sessionIdFrom(await t.http().post('/write').expect(200))!;
    const record = await t.store.get(id);
    return { id, expires: new Date(record!.cookie.expires as string).getTime() };
  }

  it('memorystore keeps a record until its cookie.expires, not for its default day', async () => {
    const Memorystore = createMemorystore(session);
    const store = new Memorystore({ checkPeriod: 3600_000 });
    try {
      const { id, expires } = await writeThrough(store);
      const entry = (store as unknown as { store: { dump(): { k: string; e: number }[] } }).store.dump().find((e) => e.k === id);
      expect(Math.abs(entry!.e - expires)).toBeLessThan(1000);
    } finally {
      (store as unknown as { stopInterval(): void }).stopInterval();
    }
  });

  it('better-sqlite3-session-store keeps a record until its cookie.expires, not for its default day', async () => {
    const client = new Database(':memory:');
    const SqliteStore = createSqliteStore(session);
    const realSetInterval = globalThis.setInterval;
    let timer: ReturnType<typeof setInterval> | undefined;
    globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => (timer = realSetInterval(...args))) as typeof setInterval;
    let store: Store;
    try {
      store = new SqliteStore({ client });
    } finally {
      globalThis.setInterval = realSetInterval;
    }
    try {
      const { id, expires } = await writeThrough(store);
      const row = client.prepare('SELECT expire FROM sessions WHERE sid = ?').get(id) as { expire: string };
      expect(Math.abs(new Date(row.expire).getTime() - expires)).toBeLessThan(1000);
    } finally {
      clearInterval(timer);
      await t.close();
      client.close();
    }
  });
});
