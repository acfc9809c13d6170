/**
 * The in-process coordinator (lib/coordination/local/local-coordinator.ts)
 * under the HTTP stack: requests finding a session expired at the same moment
 * never serve it and destroy it exactly once — over a store that answers on
 * a later turn, as any remote store does. Express 4 and 5. What each of its calls
 * promises is in the coordinator contract (coordinator-contract.test.ts);
 * here also that a slot reused by a new session carries nothing of the old
 * one, and snapshots (`savedEntries()`, `restore()`).
 */
import type { Express } from 'express';
import request from 'supertest';
import { createSessionManager, MemoryStore, type SessionDestroyedEvent } from '../lib/index';
import { cookieFrom } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { FakeClock } from './support/fake-clock';
import { probeApp, type ProbeState } from './support/probe-app';
import { LocalCoordinator } from '../lib/coordination/local/local-coordinator';
import { seededRandom } from './support/seeded-random';

/** Creates an entry for `key` as the request that created the session would, with a 60 s timeout. */
async function createEntry(coordinator: LocalCoordinator, key: string, now: number): Promise<void> {
  await coordinator.leave(key, { now, timeoutMs: 60_000, storeExpires: null, entered: false, lastAccessedTime: now, request: 'creator' });
}


describe.each(EXPRESS_FLAVOURS)('expiry on access with concurrent requests on %s', (_flavour, createExpress: () => Express) => {
  it('never serves a session that expired before the requests arrived, and destroys it once', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    // Answer a turn later, as a store on the network does, so the requests interleave.
    const get = store.get.bind(store);
    store.get = (sid, callback) => {
      setTimeout(() => get(sid, callback), 5);
    };
    const manager = createSessionManager({ store, clock, invalidationTimeout: 60, reaperInterval: 60 });
    const destroyed: SessionDestroyedEvent[] = [];
    manager.on('sessionDestroyed', (event) => {
      destroyed.push(event);
    });
    const { app } = probeApp(createExpress, manager.middleware());
    try {
      const cookies: string[] = [];
      for (let i = 0; i < 5; i++) cookies.push(cookieFrom(await request(app).post('/set/a/1').expect(200))!);
      clock.advanceSeconds(61);
      const seen = await Promise.all(
        cookies.flatMap((cookie) => [1, 2, 3].map(() => request(app).get('/state').set('Cookie', cookie))),
      );
      expect(seen.map((res) => (res.body as ProbeState).hasSession)).toEqual(Array(15).fill(false));
      expect(destroyed.map((event) => event.reason)).toEqual(Array(5).fill('expired'));
      expect(new Set(destroyed.map((event) => event.id)).size).toBe(5);
    } finally {
      await manager.close();
    }
  });
});

describe('LocalCoordinator slots', () => {
  const leaveOf = (now: number, request: string, principal?: string) => ({
    now,
    timeoutMs: 60_000,
    storeExpires: now + 120_000,
    entered: true,
    lastAccessedTime: now,
    request,
    ...(principal === undefined ? {} : { principal }),
  });

  it('gives a new session nothing of a removed one whose place it takes', async () => {
    const coordinator = new LocalCoordinator();
    await coordinator.leave('old', { ...leaveOf(1000, 'creator', 'ann'), entered: false });
    await coordinator.enter('old', 2000, true, 'r1');
    await coordinator.kill('old');
    await expect(coordinator.remove('old')).resolves.toBe(true);
    await createEntry(coordinator, 'new', 5000);
    expect(await coordinator.inspect('new')).toEqual({
      lastAccessedTime: 5000,
      deadline: 65_000,
      storeExpires: null,
      active: 0,
      claimed: false,
      killed: false,
      version: 0,
    });
    await expect(coordinator.keysOf('ann')).resolves.toEqual([]);
    await expect(coordinator.leave('new', leaveOf(6000, 'r1'))).resolves.toBe(false); // r1 entered the old one
    await expect(coordinator.leave('old', leaveOf(6000, 'r1'))).resolves.toBe(false);
    await expect(coordinator.due(Infinity, 10)).resolves.toEqual(['new']);
  });

  it('agrees with a plain model of entries through 5,000 random operations on reused slots (seed 11)', async () => {
    const random = seededRandom(11);
    const coordinator = new LocalCoordinator();
    /** key → [deadline, active tokens] */
    const model = new Map<string, { deadline: number; tokens: string[]; lastAccessedTime: number }>();
    let now = 0;
    let token = 0;
    for (let step = 0; step < 5000; step++) {
      now += 7;
      const key = `k${Math.floor(random() * 60)}`;
      const entry = model.get(key);
      const choice = random();
      if (!entry) {
        await createEntry(coordinator, key, now);
        model.set(key, { deadline: now + 60_000, tokens: [], lastAccessedTime: now });
      } else if (choice < 0.35) {
        const request = `t${token++}`;
        await coordinator.enter(key, now, false, request);
        entry.tokens.push(request);
        entry.lastAccessedTime = now;
      } else if (choice < 0.7 && entry.tokens.length > 0) {
        const request = entry.tokens.splice(Math.floor(random() * entry.tokens.length), 1)[0];
        await coordinator.leave(key, { ...leaveOf(now, request), lastAccessedTime: entry.lastAccessedTime });
        if (entry.tokens.length === 0) entry.deadline = now + 60_000;
      } else if (choice < 0.85) {
        await expect(coordinator.remove(key)).resolves.toBe(true);
        model.delete(key);
      } else {
        const at = now + Math.floor(random() * 60_000);
        const due = (await coordinator.due(at, Infinity)).sort();
        const expected = [...model].filter(([, e]) => e.deadline <= at).map(([k]) => k).sort();
        if (due.join() !== expected.join()) throw new Error(`step ${step}: due(${at}) is [${due}], model says [${expected}]`);
      }
      const seen = await coordinator.inspect(key);
      const modelled = model.get(key);
      if (!modelled) expect(seen).toBeUndefined();
      else expect(seen).toMatchObject({ deadline: modelled.deadline, active: modelled.tokens.length, lastAccessedTime: modelled.lastAccessedTime });
    }
    await expect(coordinator.count()).resolves.toBe(model.size);
  });
});

describe('LocalCoordinator.savedEntries and restore', () => {
  it('hands out every unclaimed entry as a snapshot keeps it, and puts each back idle', async () => {
    const source = new LocalCoordinator();
    await source.leave('a', { now: 1000, timeoutMs: 60_000, storeExpires: 121_000, entered: false, lastAccessedTime: 900, request: 'c', principal: 'ann' });
    await source.leave('b', { now: 2000, timeoutMs: null, storeExpires: null, entered: false, lastAccessedTime: 2000, request: 'c' });
    await source.leave('c', { now: 3000, timeoutMs: 1000, storeExpires: null, entered: false, lastAccessedTime: 3000, request: 'c' });
    await source.leave('a#sub', { now: 1000, timeoutMs: 5000, storeExpires: null, entered: false, lastAccessedTime: 1000, request: 'c' });
    await source.enter('b', 2500, true, 'in-flight');
    await source.kill('c');
    const saved = [...source.savedEntries()];
    // In no promised order: the entries' map is sharded (docs/architecture.md, "Large maps").
    expect([...saved].sort((x, y) => (x.key < y.key ? -1 : 1))).toEqual([
      { key: 'a', lastAccessedTime: 900, deadline: 61_000, storeExpires: 121_000, principal: 'ann' },
      { key: 'a#sub', lastAccessedTime: 1000, deadline: 6000, storeExpires: null, principal: undefined },
      { key: 'b', lastAccessedTime: 2500, deadline: null, storeExpires: null, principal: undefined },
    ]);
    expect(source.knows('c')).toBe(true);
    expect(source.knows('gone')).toBe(false);

    const restored = new LocalCoordinator();
    await restored.leave('b', { now: 10, timeoutMs: 5, storeExpires: null, entered: false, lastAccessedTime: 10, request: 'x', principal: 'bob' });
    await restored.enter('b', 20, true, 'old-request');
    for (const entry of saved) restored.restore(entry);
    expect([...restored.savedEntries()].sort((x, y) => (x.key < y.key ? -1 : 1))).toEqual([...saved].sort((x, y) => (x.key < y.key ? -1 : 1)));
    await expect(restored.inspect('b')).resolves.toMatchObject({ active: 0, deadline: null }); // replaced, idle
    await expect(restored.keysOf('bob')).resolves.toEqual([]);
    await expect(restored.keys(null, 10)).resolves.toEqual(['a', 'b']);
    await expect(restored.keysOf('ann')).resolves.toEqual(['a']);
    await expect(restored.due(Infinity, 10).then((keys) => keys.sort())).resolves.toEqual(['a', 'a#sub']);
    await expect(restored.due(6000, 10)).resolves.toEqual(['a#sub']);
  });
});
