/**
 * The process test/persistence-kill.test.ts kills while it writes a
 * snapshot; run with `node --import tsx`, `ESM_PERSIST_PATH` the snapshot.
 *
 * 1. A manager with `persist` creates `ESM_PERSIST_SESSIONS` sessions through
 *    its middleware (attribute `cart`), is closed (the first snapshot), and
 *    the worker sends `{ type: 'saved', cookies }`.
 * 2. A second manager reads that snapshot back, gets many large sessions
 *    more (straight into its store and coordinator, so that writing them
 *    takes long), and the worker sends `{ type: 'writing' }` and closes it:
 *    the second snapshot, which the parent kills it in the middle of. Should
 *    the write end first, it sends `{ type: 'written' }`.
 */
import express from 'express';
import request from 'supertest';
import { createSessionManager, type LocalCoordinator, type MemoryStore } from '../../lib';
import { runWorker } from './worker-process';

const LARGE_SESSIONS = 50_000;
const LARGE_ATTRIBUTE = 'x'.repeat(2048);

runWorker('persist', async () => {
  const path = process.env.ESM_PERSIST_PATH!;
  const count = Number(process.env.ESM_PERSIST_SESSIONS ?? 5);
  // 1.
  const first = createSessionManager({ persist: { path } });
  const app = express();
  app.use(first.middleware());
  app.post('/write', (req, res) => {
    req.httpSession.setAttribute('cart', [String(req.query.item)]);
    res.sendStatus(204);
  });
  const cookies: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await request(app).post(`/write?item=item${i}`).expect(204);
    cookies.push((res.headers['set-cookie'] as unknown as string[])[0].split(';')[0]);
  }
  await first.close();
  process.send!({ type: 'saved', cookies });
  // 2.
  const second = createSessionManager({ persist: { path } });
  await second.ready;
  const store = second.store as MemoryStore;
  const coordinator = second.coordinator as LocalCoordinator;
  const now = Date.now();
  for (let i = 0; i < LARGE_SESSIONS; i++) {
    const key = `large${String(i).padStart(38, '0')}`;
    store.put(key, { cookie: { originalMaxAge: null, expires: new Date(now + 3_600_000), httpOnly: true, path: '/' }, big: LARGE_ATTRIBUTE } as never);
    await coordinator.leave(key, { now, timeoutMs: 1_800_000, storeExpires: null, entered: false, lastAccessedTime: now, request: 'r' });
  }
  process.send!({ type: 'writing' });
  await second.close();
  process.send!({ type: 'written' });
  await new Promise(() => undefined); // waits to be killed
});
