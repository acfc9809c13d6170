/**
 * The in-process coordinator (lib/local-coordinator.ts): what `enter()`
 * records, and that requests finding a session expired at the same moment
 * never serve it and destroy it exactly once — over a store that answers on
 * a later turn, as any remote store does. Express 4 and 5.
 */
import type { Express } from 'express';
import request from 'supertest';
import { createSessionManager, MemoryStore, type SessionDestroyedEvent } from '../lib/index';
import { LocalCoordinator } from '../lib/coordination/local/local-coordinator';
import { cookieFrom } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { FakeClock } from './support/fake-clock';
import { probeApp, type ProbeState } from './support/probe-app';

/** Creates an entry for `key` as the request that created the session would, with a 60 s timeout. */
async function createEntry(coordinator: LocalCoordinator, key: string, now: number): Promise<void> {
  await coordinator.leave(key, { now, timeoutMs: 60_000, storeExpires: null, entered: false, lastAccessedTime: now, request: 'creator' });
}

describe('LocalCoordinator.kill', () => {
  const leaveOf = (now: number, request: string) => ({ now, timeoutMs: 60_000, storeExpires: null, entered: true, lastAccessedTime: now, request });

  it('marks the entry killed and claimed, out of the expiry index, and tells the listeners', async () => {
    const coordinator = new LocalCoordinator();
    const heard: string[] = [];
    const subscription = coordinator.onKill((key) => heard.push(key));
    await subscription.ready;
    await createEntry(coordinator, 'k', 1000);
    await expect(coordinator.kill('k')).resolves.toMatchObject({ active: 0, claimed: false, killed: false });
    expect(await coordinator.inspect('k')).toMatchObject({ claimed: true, killed: true });
    await expect(coordinator.due(Infinity, 10)).resolves.toEqual([]);
    expect(heard).toEqual(['k']);
    // Killed twice: the second answer shows the mark; nobody is told again.
    await expect(coordinator.kill('k')).resolves.toMatchObject({ claimed: true, killed: true });
    expect(heard).toEqual(['k']);
    await subscription.close();
    await createEntry(coordinator, 'j', 1000);
    await coordinator.kill('j');
    expect(heard).toEqual(['k']);
    await expect(coordinator.kill('unknown')).resolves.toBeUndefined();
  });

  it('answers true to the last of the requests using a killed session as it leaves, and only to it', async () => {
    const coordinator = new LocalCoordinator();
    await createEntry(coordinator, 'k', 1000);
    await coordinator.enter('k', 2000, true, 'r1');
    await coordinator.enter('k', 2000, true, 'r2');
    await expect(coordinator.kill('k')).resolves.toMatchObject({ active: 2 });
    await expect(coordinator.enter('k', 2500, true, 'r3')).resolves.toMatchObject({ claimed: true }); // not counted
    await expect(coordinator.leave('k', leaveOf(3000, 'r3'))).resolves.toBe(false);
    await expect(coordinator.leave('k', leaveOf(3000, 'r1'))).resolves.toBe(false);
    await expect(coordinator.leave('k', leaveOf(3000, 'r2'))).resolves.toBe(true);
    await expect(coordinator.leave('k', leaveOf(3000, 'r2'))).resolves.toBe(false);
  });
});

describe('LocalCoordinator.keys and keysOf', () => {
  it('pages through top-level keys in order and indexes users, forgetting removed sessions', async () => {
    const coordinator = new LocalCoordinator();
    for (const key of ['c', 'a', 'b#sub', 'b', 'd:shop']) await createEntry(coordinator, key, 1000);
    await expect(coordinator.keys(null, 2)).resolves.toEqual(['a', 'b']);
    await expect(coordinator.keys('b', 10)).resolves.toEqual(['c', 'd:shop']);
    await expect(coordinator.count()).resolves.toBe(4);
    await coordinator.remove('c');
    await createEntry(coordinator, 'bb', 1000);
    await coordinator.remove('a');
    await createEntry(coordinator, 'a', 1000); // gone and back before the next listing: listed once
    await expect(coordinator.keys(null, 10)).resolves.toEqual(['a', 'b', 'bb', 'd:shop']);
    await expect(coordinator.keys('b', 10)).resolves.toEqual(['bb', 'd:shop']);
    await expect(coordinator.count()).resolves.toBe(4);
    const bind = (key: string, principal: string) =>
      coordinator.leave(key, { now: 2000, timeoutMs: 60_000, storeExpires: null, entered: false, lastAccessedTime: 2000, principal, request: 'binder' });
    await bind('a', 'ann');
    await bind('d:shop', 'ann');
    await bind('bb', 'bob');
    await expect(coordinator.keysOf('ann')).resolves.toEqual(['a', 'd:shop']);
    await bind('a', 'bob'); // bound again elsewhere: moves
    await expect(coordinator.keysOf('ann')).resolves.toEqual(['d:shop']);
    await coordinator.remove('d:shop');
    await expect(coordinator.keysOf('ann')).resolves.toEqual([]);
    await expect(coordinator.keysOf('bob')).resolves.toEqual(['a', 'bb']);
  });
});

describe('LocalCoordinator.enter', () => {
  it('answers the entry as it was and counts the request as active', async () => {
    const coordinator = new LocalCoordinator();
    await createEntry(coordinator, 'k', 1000);
    const before = await coordinator.enter('k', 2000, true, 'r1');
    expect(before).toEqual({ lastAccessedTime: 1000, deadline: 61_000, storeExpires: null, active: 0, claimed: false, killed: false, version: 0 });
    expect(await coordinator.inspect('k')).toMatchObject({ lastAccessedTime: 2000, active: 1 });
  });

  it('does not count a strict enter of a session idle past its deadline', async () => {
    const coordinator = new LocalCoordinator();
    await createEntry(coordinator, 'k', 1000);
    await coordinator.enter('k', 61_000, true, 'r1');
    await coordinator.enter('k', 61_000, true, 'r2');
    expect(await coordinator.inspect('k')).toMatchObject({ lastAccessedTime: 1000, active: 0 });
    const claims = await Promise.all([coordinator.claim('k', 61_000, true), coordinator.claim('k', 61_000, true)]);
    expect(claims.filter((claim) => claim !== undefined)).toHaveLength(1);
  });

  it('counts a non-strict enter of a session past its deadline, so nothing claims it while in use', async () => {
    const coordinator = new LocalCoordinator();
    await createEntry(coordinator, 'k', 1000);
    await coordinator.enter('k', 61_000, false, 'r1');
    expect(await coordinator.inspect('k')).toMatchObject({ active: 1 });
    expect(await coordinator.claim('k', 61_000, false)).toBeUndefined();
  });

  it('counts a strict enter of a session past its deadline while another request uses it', async () => {
    const coordinator = new LocalCoordinator();
    await createEntry(coordinator, 'k', 1000);
    await coordinator.enter('k', 30_000, true, 'r1');
    await coordinator.enter('k', 90_000, true, 'r2');
    expect(await coordinator.inspect('k')).toMatchObject({ active: 2 });
  });

  it('forgets a request that leaves, once: a second leave, or one that never entered, changes nothing', async () => {
    const coordinator = new LocalCoordinator();
    await createEntry(coordinator, 'k', 1000);
    await coordinator.enter('k', 2000, true, 'r1');
    await coordinator.enter('k', 2000, true, 'r2');
    const leave = (request: string) =>
      coordinator.leave('k', { now: 3000, timeoutMs: 60_000, storeExpires: null, entered: true, lastAccessedTime: 2000, request });
    await leave('never-entered');
    expect(await coordinator.inspect('k')).toMatchObject({ active: 2, deadline: 61_000 });
    await leave('r1');
    await leave('r1');
    expect(await coordinator.inspect('k')).toMatchObject({ active: 1, deadline: 61_000 });
    await leave('r2');
    expect(await coordinator.inspect('k')).toMatchObject({ active: 0, deadline: 63_000 });
  });
});

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
