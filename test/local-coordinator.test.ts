/**
 * The in-process coordinator (lib/coordination/local/local-coordinator.ts)
 * under the HTTP stack: requests finding a session expired at the same moment
 * never serve it and destroy it exactly once — over a store that answers on
 * a later turn, as any remote store does. Express 4 and 5. What each of its calls
 * promises is in the coordinator contract (coordinator-contract.test.ts).
 */
import type { Express } from 'express';
import request from 'supertest';
import { createSessionManager, MemoryStore, type SessionDestroyedEvent } from '../lib/index';
import { cookieFrom } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { FakeClock } from './support/fake-clock';
import { probeApp, type ProbeState } from './support/probe-app';

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
