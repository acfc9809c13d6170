/**
 * Sessions that survive a restart (`persist`; docs/architecture.md,
 * "Persistence"): what a snapshot keeps, deadlines across the time spent
 * down, sessions that expired meanwhile announced once, requests and admin
 * calls that arrive while the snapshot is read, an external store, and the
 * faults: an unreadable file set aside, an unwritable path refused. A
 * process killed while writing is in persistence-kill.test.ts.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type Express } from 'express';
import { MemoryStore as ExpressMemoryStore } from 'express-session';
import request from 'supertest';
import {
  ConfigurationError,
  createSessionManager,
  LocalCoordinator,
  MemoryStore,
  type SessionDestroyedEvent,
  type SessionManager,
  type SessionManagerOptions,
} from '../lib';
import { cookieFrom } from './support/cookies';
import { FakeClock } from './support/fake-clock';

const TIMEOUT_S = 600;

let dir: string;
let path: string;
const open: SessionManager[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'esm-persist-'));
  path = join(dir, 'sessions.snapshot');
});

afterEach(async () => {
  jest.restoreAllMocks();
  for (const manager of open.splice(0)) await manager.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

/** A manager (closed after the test unless the test closes it) and an app with `/write`, `/read` and `/sub`. */
function start(clock: FakeClock, options: SessionManagerOptions = {}): { manager: SessionManager; app: Express; destroyed: SessionDestroyedEvent[] } {
  const manager = createSessionManager({
    clock,
    invalidationTimeout: TIMEOUT_S,
    reaperInterval: 60,
    principal: (req) => req.get('x-user') || undefined,
    persist: { path },
    ...options,
  });
  open.push(manager);
  const destroyed: SessionDestroyedEvent[] = [];
  manager.on('sessionDestroyed', (e) => destroyed.push(e));
  const app = express();
  app.use(manager.middleware());
  app.post('/write', (req, res) => {
    req.httpSession.setAttribute('cart', [String(req.query.item ?? 'apple')]);
    res.json({ id: req.httpSession.getId() });
  });
  app.post('/sub', (req, res) => {
    req.httpSession.getSubsession('checkout', { maxInactiveInterval: 120 })!.setAttribute('step', 2);
    res.json({ id: req.httpSession.getId() });
  });
  app.get('/read', (req, res) => {
    const session = req.getSession(false);
    res.json({
      id: session?.getId() ?? null,
      cart: session?.getAttribute('cart') ?? null,
      lastAccessed: session?.getLastAccessedTime() ?? null,
      step: session?.getSubsession('checkout', { create: false })?.getAttribute('step') ?? null,
    });
  });
  return { manager, app, destroyed };
}

/** Closes `manager` (writing its snapshot) and forgets it. */
async function stop(manager: SessionManager): Promise<void> {
  open.splice(open.indexOf(manager), 1);
  await manager.close();
}

/** A session created through `/write`, its cookie. */
async function createSession(app: Express, item = 'apple', user?: string): Promise<string> {
  const res = await request(app).post(`/write?item=${item}`).set(user ? { 'x-user': user } : {}).expect(200);
  return cookieFrom(res)!;
}

describe('persist: { path, interval? }', () => {
  it('writes the sessions on close() and reads them back at the next start: data, subsessions, access times, principals', async () => {
    const clock = new FakeClock();
    const first = start(clock);
    const alice = await createSession(first.app, 'pear', 'alice');
    await request(first.app).post('/sub').set('cookie', alice).set('x-user', 'alice').expect(200);
    const bob = await createSession(first.app, 'plum');
    clock.advanceSeconds(30);
    const usedAt = clock.now();
    await request(first.app).get('/read').set('cookie', bob).expect(200);
    await stop(first.manager);

    clock.advanceSeconds(60);
    const second = start(clock);
    await second.manager.ready;
    const read = (await request(second.app).get('/read').set('cookie', alice).set('x-user', 'alice').expect(200)).body;
    expect(read).toMatchObject({ id: alice.split('=')[1], cart: ['pear'], step: 2 });
    const again = (await request(second.app).get('/read').set('cookie', bob).expect(200)).body;
    expect(again).toMatchObject({ id: bob.split('=')[1], cart: ['plum'], lastAccessed: usedAt });
    expect(await second.manager.sessions.count()).toBe(2);
    const listed = await second.manager.sessions.list({ principal: 'alice' });
    expect(listed.sessions.map((s) => s.id)).toEqual([alice.split('=')[1]]);
    expect(second.destroyed).toEqual([]);
  });

  it('keeps the deadlines: the time spent down counts, and a session that expired meanwhile is announced once, by the first sweep', async () => {
    const clock = new FakeClock();
    const first = start(clock);
    const old = await createSession(first.app, 'old');
    clock.advanceSeconds(TIMEOUT_S - 100);
    const young = await createSession(first.app, 'young');
    await stop(first.manager);

    clock.advanceSeconds(200); // down past the first one's deadline, not the second's
    const second = start(clock);
    expect((await second.manager.reap()).expired).toBe(1);
    expect(second.destroyed).toEqual([expect.objectContaining({ id: old.split('=')[1], reason: 'expired', attributes: { cart: ['old'] } })]);
    expect((await second.manager.reap()).expired).toBe(0);
    expect((await request(second.app).get('/read').set('cookie', old).expect(200)).body.id).toBeNull();
    expect((await request(second.app).get('/read').set('cookie', young).expect(200)).body.cart).toEqual(['young']);
    expect(second.destroyed).toHaveLength(1);
  });

  it('announces a session that expired while down once on access, with its attributes, however long the process was down', async () => {
    const clock = new FakeClock();
    const first = start(clock);
    const cookie = await createSession(first.app, 'kiwi');
    await stop(first.manager);

    clock.advanceSeconds(30 * 24 * 3600); // far past the record's own expiry in the store
    const second = start(clock);
    const read = (await request(second.app).get('/read').set('cookie', cookie).expect(200)).body;
    expect(read.id).toBeNull();
    expect(second.destroyed).toEqual([expect.objectContaining({ id: cookie.split('=')[1], reason: 'expired', attributes: { cart: ['kiwi'] } })]);
    expect((await second.manager.reap()).expired).toBe(0);
    expect(second.destroyed).toHaveLength(1);
  });

  it('holds back requests, sweeps and admin calls that arrive while the snapshot is read', async () => {
    const clock = new FakeClock();
    const first = start(clock);
    const cookie = await createSession(first.app, 'fig');
    // Many more sessions, straight into the store and coordinator, so the read takes many slices.
    const store = first.manager.store as MemoryStore;
    const coordinator = first.manager.coordinator as LocalCoordinator;
    const record = await new Promise<unknown>((resolve) => store.get(cookie.split('=')[1], (_e, r) => resolve(r)));
    for (let i = 0; i < 20_000; i++) {
      const key = `k${String(i).padStart(42, '0')}`;
      store.put(key, record as never);
      await coordinator.leave(key, { now: clock.now(), timeoutMs: TIMEOUT_S * 1000, storeExpires: null, entered: false, lastAccessedTime: clock.now(), request: 'r' });
    }
    await stop(first.manager);

    const second = start(clock);
    const [read, count, swept] = await Promise.all([
      request(second.app).get('/read').set('cookie', cookie),
      second.manager.sessions.count(),
      second.manager.reap(),
    ]);
    expect(read.body.cart).toEqual(['fig']);
    expect(count).toBe(20_001);
    expect(swept.expired).toBe(0);
  });

  it('writes every interval, so a process that never closes leaves its sessions behind', async () => {
    const clock = new FakeClock();
    const first = start(clock, { persist: { path, interval: 1 } });
    const cookie = await createSession(first.app, 'lime');
    await waitFor(() => readdirSync(dir).includes('sessions.snapshot'));
    await waitFor(() => readFileSync(path, 'utf8').includes(cookie.split('=')[1]));

    // As if the process had died now: another manager starts from a copy of the file.
    writeFileSync(join(dir, 'copy.snapshot'), readFileSync(path));
    const second = start(clock, { persist: { path: join(dir, 'copy.snapshot') } });
    expect((await request(second.app).get('/read').set('cookie', cookie).expect(200)).body.cart).toEqual(['lime']);
  });

  it('with an external store saves only the coordinator: exact expiry and its event survive the restart', async () => {
    const clock = new FakeClock();
    const store = new ExpressMemoryStore(); // outlives the process here, as Redis or PostgreSQL would
    jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined); // the external-store warning
    const first = start(clock, { store });
    const cookie = await createSession(first.app, 'date');
    await stop(first.manager);
    expect(readFileSync(path, 'utf8')).not.toContain('date'); // no record in the snapshot

    clock.advanceSeconds(TIMEOUT_S + 1);
    const second = start(clock, { store });
    expect((await second.manager.reap()).expired).toBe(1);
    expect(second.destroyed).toEqual([expect.objectContaining({ id: cookie.split('=')[1], reason: 'expired', attributes: { cart: ['date'] } })]);
  });

  it('rejects close() when the last snapshot cannot be written, and warns when a periodic one cannot', async () => {
    const warnings: string[] = [];
    jest.spyOn(process, 'emitWarning').mockImplementation((warning) => {
      warnings.push(String(warning));
    });
    const { manager, app } = start(new FakeClock(), { persist: { path, interval: 1 } });
    await createSession(app);
    rmSync(dir, { recursive: true, force: true }); // the directory goes away while the process runs
    await waitFor(() => warnings.length > 0);
    expect(warnings[0]).toMatch(/could not write the snapshot/);
    open.splice(open.indexOf(manager), 1);
    await expect(manager.close()).rejects.toThrow(/ENOENT/);
  });

  it('starts empty and finds nothing to warn about when the file does not exist yet', async () => {
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const { manager } = start(new FakeClock());
    await manager.ready;
    expect(await manager.sessions.count()).toBe(0);
    expect(warn).not.toHaveBeenCalled();
  });
});

describe('persist: an unreadable snapshot', () => {
  /** A valid snapshot of two sessions, then `spoil` applied to it. */
  async function spoiled(spoil: () => void): Promise<{ manager: SessionManager; app: Express; warnings: string[] }> {
    const clock = new FakeClock();
    const first = start(clock);
    await createSession(first.app, 'one');
    await createSession(first.app, 'two');
    await stop(first.manager);
    spoil();
    const warnings: string[] = [];
    jest.spyOn(process, 'emitWarning').mockImplementation((warning) => {
      warnings.push(String(warning));
    });
    const second = start(clock);
    await second.manager.ready;
    return { ...second, warnings };
  }

  it.each([
    ['a changed byte', () => {
      const bytes = readFileSync(path);
      const at = bytes.indexOf('one');
      bytes[at] = 'O'.charCodeAt(0);
      writeFileSync(path, bytes);
    }],
    ['a file cut short', () => truncateSync(path, readFileSync(path).length - 40)],
    ['a file cut in the middle', () => truncateSync(path, Math.floor(readFileSync(path).length / 2))],
    ['an empty file', () => writeFileSync(path, '')],
    ['a foreign file', () => writeFileSync(path, '{"sessions":[]}\n')],
    ['another version', () => {
      const text = readFileSync(path, 'utf8').replace('"version":1', '"version":9');
      writeFileSync(path, text);
    }],
  ])('%s: renamed aside with a warning, and the manager starts empty', async (_name, spoil) => {
    const { manager, warnings } = await spoiled(spoil);
    expect(await manager.sessions.count()).toBe(0);
    expect(warnings).toEqual([expect.stringMatching(/snapshot .* could not be read .* renamed .*\.corrupt-/)]);
    const aside = readdirSync(dir).filter((name) => name.startsWith('sessions.snapshot.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(readdirSync(dir)).not.toContain('sessions.snapshot');
  });

  it('is replaced by a good snapshot at the next close()', async () => {
    const { manager, app } = await spoiled(() => writeFileSync(path, 'garbage'));
    const cookie = await createSession(app, 'new');
    await stop(manager);
    const third = start(new FakeClock());
    expect((await request(third.app).get('/read').set('cookie', cookie).expect(200)).body.cart).toEqual(['new']);
  });
});

describe('persist: options', () => {
  it.each([
    ['a directory that does not exist', () => ({ path: join(dir, 'missing', 'sessions.snapshot') }), /directory .* does not exist/],
    ['a path that is a directory', () => {
      mkdirSync(join(dir, 'sub'), { recursive: true });
      return { path: join(dir, 'sub') };
    }, /exists and is not a file/],
    ['a path under a file', () => {
      writeFileSync(join(dir, 'file'), '');
      return { path: join(dir, 'file', 'sessions.snapshot') };
    }, /does not exist/],
    ['no path', () => ({}), /persist\.path must be a file path/],
    ['an empty path', () => ({ path: '' }), /persist\.path must not be empty/],
    ['a fractional interval', () => ({ path, interval: 1.5 }), /persist\.interval must be a whole number/],
    ['a zero interval', () => ({ path, interval: 0 }), /persist\.interval must be at least 1/],
    ['an unknown option', () => ({ path, every: 5 }), /persist\.every is not an option/],
    ['not an object', () => path, /persist must be an object/],
  ])('%s is a ConfigurationError at startup', (_name, persist, message) => {
    const given = persist() as never;
    expect(() => createSessionManager({ persist: given })).toThrow(ConfigurationError);
    expect(() => createSessionManager({ persist: given })).toThrow(message);
  });

  it('needs something in process to save', () => {
    const coordinator = { enter() {}, inspect() {}, leave() {}, remove() {}, claim() {} };
    expect(() => createSessionManager({ persist: { path }, store: new ExpressMemoryStore(), coordinator: coordinator as never })).toThrow(
      /persist needs the in-process MemoryStore or LocalCoordinator/,
    );
  });

  it('accepts a MemoryStore or LocalCoordinator passed in', async () => {
    const manager = createSessionManager({ persist: { path, interval: 60 }, store: new MemoryStore(), coordinator: new LocalCoordinator() });
    open.push(manager);
    await manager.ready;
  });
});

/** Polls `condition` until it holds (at most 10 s). */
async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if (condition()) return;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
