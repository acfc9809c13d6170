/**
 * The snapshot file itself (docs/architecture.md, "Persistence"): what
 * `writeSnapshot` saves of a MemoryStore and a LocalCoordinator and what
 * `readSnapshot` puts back, line by line; and the kept-record helpers it
 * relies on.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionData } from 'express-session';
import { LocalCoordinator } from '../lib/coordination/local/local-coordinator';
import type { LeaveUpdate } from '../lib/coordination/coordinator';
import { UnreadableSnapshotError } from '../lib/persistence/snapshot-format';
import { readSnapshot } from '../lib/persistence/snapshot-reader';
import { writeSnapshot } from '../lib/persistence/snapshot-writer';
import { expiresAtOf, isKept, pack, unpack, withExpiresAt } from '../lib/storage/memory-record';
import { MemoryStore } from '../lib/storage/memory-store';

const NOW = 1_800_000_000_000;
const HOUR = 3_600_000;

let dir: string;
let path: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'esm-snapshot-'));
  path = join(dir, 'snapshot');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A record as the manager writes it, expiring at `expires`. */
function record(expires: number, attributes: Record<string, unknown>): SessionData {
  return { cookie: { originalMaxAge: HOUR, expires: new Date(expires).toISOString(), httpOnly: true, path: '/' }, attributes } as unknown as SessionData;
}

/** What a request that created a session reports when it leaves. */
function created(now: number, timeoutMs: number | null, principal?: string): LeaveUpdate {
  return { now, timeoutMs, storeExpires: null, entered: false, lastAccessedTime: now, request: `r${now}`, principal };
}

describe('writeSnapshot / readSnapshot', () => {
  it('puts back every entry with its deadline, access time and principal, and every record', async () => {
    const store = new MemoryStore();
    const coordinator = new LocalCoordinator();
    store.put('a', record(NOW + 2 * HOUR, { cart: ['pear'] }));
    await coordinator.leave('a', created(NOW, HOUR, 'ann'));
    store.put('a#checkout', record(NOW + HOUR, { step: 2 }));
    await coordinator.leave('a#checkout', created(NOW, 60_000));
    store.put('b:shop', record(NOW + 2 * HOUR, {}));
    await coordinator.leave('b:shop', created(NOW - 5000, null));
    store.put('migrated', { cookie: { originalMaxAge: null, expires: null }, legacy: true } as unknown as SessionData);

    const written = await writeSnapshot(path, { store, coordinator }, NOW);
    expect(written.lines).toBe(4);
    expect(written.bytes).toBe(readFileSync(path).length);

    const store2 = new MemoryStore();
    const coordinator2 = new LocalCoordinator();
    await readSnapshot(path, { store: store2, coordinator: coordinator2, now: NOW, recordGraceMs: 0 });
    for (const key of ['a', 'a#checkout', 'b:shop', 'migrated']) expect(store2.kept(key)).toBe(store.kept(key));
    for (const key of ['a', 'a#checkout', 'b:shop']) expect(await coordinator2.inspect(key)).toEqual(await coordinator.inspect(key));
    expect(await coordinator2.inspect('migrated')).toBeUndefined();
    expect(await coordinator2.keysOf('ann')).toEqual(['a']);
    expect(await coordinator2.keys(null, 10)).toEqual(['a', 'b:shop']); // subsessions are not listed
    expect(await coordinator2.due(NOW + HOUR, 10)).toEqual(expect.arrayContaining(['a', 'a#checkout']));
    expect(await coordinator2.due(NOW + 10 * HOUR, 10)).not.toContain('b:shop'); // never expires
  });

  it('leaves out claimed entries and their records, and saves an entry in use as idle', async () => {
    const store = new MemoryStore();
    const coordinator = new LocalCoordinator();
    store.put('going', record(NOW + HOUR, {}));
    await coordinator.leave('going', created(NOW - HOUR, 1000));
    expect(await coordinator.claim('going', NOW, false)).toBeDefined();
    store.put('busy', record(NOW + HOUR, {}));
    await coordinator.leave('busy', created(NOW - 1000, HOUR));
    await coordinator.enter('busy', NOW, true, 'request-1');

    await writeSnapshot(path, { store, coordinator }, NOW);
    const store2 = new MemoryStore();
    const coordinator2 = new LocalCoordinator();
    await readSnapshot(path, { store: store2, coordinator: coordinator2, now: NOW, recordGraceMs: 0 });
    expect(store2.kept('going')).toBeUndefined();
    expect(await coordinator2.inspect('going')).toBeUndefined();
    expect(await coordinator2.inspect('busy')).toMatchObject({ active: 0, lastAccessedTime: NOW, deadline: NOW - 1000 + HOUR });
  });

  it('saves only the coordinator when there is no in-process store', async () => {
    const coordinator = new LocalCoordinator();
    await coordinator.leave('a', created(NOW, HOUR));
    await writeSnapshot(path, { store: undefined, coordinator }, NOW);
    expect(readFileSync(path, 'utf8').split('\n')[1]).toBe(`["e","a",${NOW},${NOW + HOUR},null,null,null]`);
  });

  it('keeps a record whose session has a deadline for at least the grace after the restart', async () => {
    const store = new MemoryStore();
    const coordinator = new LocalCoordinator();
    store.put('due', record(NOW + HOUR, { cart: ['fig'] }));
    await coordinator.leave('due', created(NOW, 1000));
    await writeSnapshot(path, { store, coordinator }, NOW);

    const restartedAt = NOW + 10 * HOUR;
    const store2 = new MemoryStore();
    await readSnapshot(path, { store: store2, coordinator: new LocalCoordinator(), now: restartedAt, recordGraceMs: 120_000 });
    expect(expiresAtOf(store2.kept('due')!)).toBe(restartedAt + 120_000);
    expect(unpack(store2.kept('due')!)).toMatchObject({ attributes: { cart: ['fig'] } });
  });
});

describe('readSnapshot: a malformed line behind a matching digest', () => {
  it('takes back what it had restored and rejects, so the manager starts empty', async () => {
    const store = new MemoryStore();
    const coordinator = new LocalCoordinator();
    for (let i = 0; i < 5000; i++) {
      store.put(`s${i}`, record(NOW + HOUR, { i }));
      await coordinator.leave(`s${i}`, created(NOW, HOUR, `user${i % 7}`));
    }
    await writeSnapshot(path, { store, coordinator }, NOW);
    // A line that parses as JSON but is no session, near the end, and a digest that matches it.
    const lines = readFileSync(path, 'utf8').split('\n').slice(0, -2);
    lines.splice(lines.length - 3, 0, '["e","bad","not a time",null,null,null,null]');
    const body = `${lines.join('\n')}\n`;
    writeFileSync(path, `${body}["end","${createHash('sha256').update(body).digest('hex')}"]\n`);

    const store2 = new MemoryStore();
    const coordinator2 = new LocalCoordinator();
    await expect(readSnapshot(path, { store: store2, coordinator: coordinator2, now: NOW, recordGraceMs: 0 })).rejects.toThrow(UnreadableSnapshotError);
    expect([...store2.keptRecords()]).toEqual([]);
    expect(await coordinator2.count()).toBe(0);
    expect(await coordinator2.due(Infinity, 10)).toEqual([]);
    expect(await coordinator2.keysOf('user1')).toEqual([]);
  });
});

describe('memory-record: isKept, withExpiresAt', () => {
  it('tells the kept form from anything else', () => {
    expect(isKept(pack(record(NOW, {})))).toBe(true);
    expect(isKept(pack({ cookie: { expires: null } } as unknown as SessionData))).toBe(true);
    for (const other of ['', '[]', '{"a":1}', '[x,1,{}]', '[12,1,{}', 12, null]) expect(isKept(other)).toBe(false);
  });

  it('moves the expiry of either kept form, the cookie with it', () => {
    const usual = withExpiresAt(pack(record(NOW, { a: 1 })), NOW + HOUR);
    expect(expiresAtOf(usual)).toBe(NOW + HOUR);
    expect(unpack(usual)).toEqual(unpack(pack(record(NOW + HOUR, { a: 1 }))));
    const own = { cookie: { originalMaxAge: 5, expires: new Date(NOW).toISOString(), secure: true }, a: 1 } as unknown as SessionData;
    const moved = withExpiresAt(pack(own), NOW + HOUR);
    expect(expiresAtOf(moved)).toBe(NOW + HOUR);
    expect(unpack(moved)).toEqual({ ...own, cookie: { ...own.cookie, expires: new Date(NOW + HOUR).toISOString() } });
  });
});
