/**
 * Redis faults in one process (issue 10; docs/architecture.md, "Faults"): the app's
 * sessions live in connect-redis + `redisCoordinator` on a private
 * redis-server of this file's own, with `storeTimeout` 1 s and a node-redis
 * client as most users configure it (the defaults). Each outage — the server
 * paused, a black hole in the network, connections cut, the server stopped
 * and started again on its data — must turn every request that needs a
 * session into a 503 within `storeTimeout` + 0.5 s, leave stateless routes
 * and requests without a session id alone, crash nothing, and, once over,
 * leave the sessions served again, the reaper running, and the sessions that
 * fell due meanwhile destroyed once each. A long black hole under load
 * leaves nothing behind; 50 ms of latency only makes things slower; a
 * connection reset in the middle of a commit never turns into a false 200.
 */
import { OUTAGES, describeFaults, startFaultRig, type FaultRig, type Outage } from './support/fault-rig';
import { ANSWER_WITHIN_MS, DUE_TTL_S, GIVE_UP_MS, JUMP_MS, LONG_TTL_S, RECOVER_WITHIN_MS, SETTLE_MS, STORE_TIMEOUT_S, timely } from './support/fault-times';
import { startRedisFaultNode, type FaultNode } from './support/fault-node';
import { pendingCommands } from './support/app-redis-client';
import { eventually } from './support/test-app';
import { call, delay, keepAliveAgent, type Answer } from './support/timed-call';
import { realProcess, watchUnhandledRejections, type RejectionWatch } from './support/unhandled-rejections';
import { uniquePrefix } from './support/services';
import { ShiftedClock } from './support/fake-clock';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient } from 'redis';
import { REQUEST_LEASE_MS } from '../lib/coordination/redis/redis-coordinator';
import { redisLayout } from './support/redis-layout';

/** How long the write that meets an outage in its commit spends in its handler, ms (the outage begins meanwhile). */
const COMMIT_AFTER_MS = 600;

/** Active timers of this process (jest's own included: compare before and after). */
function activeTimers(): number {
  return realProcess()
    .getActiveResourcesInfo()
    .filter((kind) => kind === 'Timeout').length;
}

/** `POST /session` on `node`: the new session's id. */
async function createSession(node: FaultNode, n: number, ttl?: number): Promise<string> {
  const answer = await call(node.port, 'POST', ttl === undefined ? `/session?n=${n}` : `/session?n=${n}&ttl=${ttl}`);
  expect(answer.status).toBe(200);
  return (answer.body as { id: string }).id;
}

describeFaults('Redis faults, in one process (connect-redis + redisCoordinator, storeTimeout 1 s)', () => {
  let rig: FaultRig;
  let rejections: RejectionWatch;

  beforeAll(async () => {
    rejections = watchUnhandledRejections();
    rig = await startFaultRig();
  });

  afterAll(async () => {
    await rig?.stop();
    rejections.stop();
    expect(rejections.reasons).toEqual([]);
  });

  describe.each(OUTAGES.map((outage) => [outage.name, outage] as const))('%s', (_name, outage: Outage) => {
    let node: FaultNode;
    const clock = new ShiftedClock();
    /** Sessions that live on. */
    let kept: string[] = [];
    /** Sessions that fall due during the outage. */
    let due: string[] = [];
    /** A write sent before the outage whose handler ends, and commit starts, during it. */
    let committing: Promise<Answer>;
    /** Whether the outage is on now (begun and not yet ended). */
    let on = false;

    beforeAll(async () => {
      node = await startRedisFaultNode(rig.urlFor(outage.via), uniquePrefix('faults'), {
        manager: { storeTimeout: STORE_TIMEOUT_S, invalidationTimeout: LONG_TTL_S, reaperInterval: 1, clock },
      });
      kept = await Promise.all([1, 2, 3].map((n) => createSession(node, n)));
      due = await Promise.all([4, 5, 6].map((n) => createSession(node, n, DUE_TTL_S)));
      const writer = await createSession(node, 0);
      committing = call(node.port, 'POST', `/hold?ms=${COMMIT_AFTER_MS}&v=9`, { id: writer, timeoutMs: COMMIT_AFTER_MS + GIVE_UP_MS });
      await outage.begin(rig);
      on = true;
    });

    afterAll(async () => {
      if (on) await outage.end(rig);
      await node?.close();
    });

    it('answers 503 within storeTimeout + 0.5 s to reads and writes of existing sessions', async () => {
      const answers = await Promise.all([
        ...kept.map((id) => call(node.port, 'GET', '/session', { id, timeoutMs: GIVE_UP_MS })),
        ...kept.map((id, i) => call(node.port, 'POST', `/write?v=${i}`, { id, timeoutMs: GIVE_UP_MS })),
        ...due.map((id) => call(node.port, 'GET', '/session', { id, timeoutMs: GIVE_UP_MS })),
      ]);
      expect(answers.map(timely)).toEqual(answers.map(() => ({ status: 503, answered: 'in time' })));
      expect(answers[0].body).toEqual({ name: 'StoreUnavailableError', code: 'ERR_STORE_UNAVAILABLE' });
    });

    it('answers 503 within storeTimeout + 0.5 s of the commit to a write whose commit meets the outage', async () => {
      const answer = await committing;
      expect(timely({ ...answer, ms: answer.ms - COMMIT_AFTER_MS })).toEqual({ status: 503, answered: 'in time' });
    });

    it('answers 200 on stateless routes and to requests that carry no session id', async () => {
      const answers = await Promise.all([
        call(node.port, 'GET', '/stateless', { id: kept[0], timeoutMs: GIVE_UP_MS }),
        call(node.port, 'GET', '/stateless', { timeoutMs: GIVE_UP_MS }),
        call(node.port, 'GET', '/session', { timeoutMs: GIVE_UP_MS }),
      ]);
      expect(answers.map((a) => [a.status, a.body])).toEqual([
        [200, { session: null }],
        [200, { session: null }],
        [200, { live: false, id: null, n: null, v: null }],
      ]);
    });

    it('serves the sessions from before again once Redis is back, resumes the reaper, and destroys the sessions that fell due once each', async () => {
      // 1. The short sessions fall due during the outage (they were requested before, and failed).
      clock.advance(JUMP_MS);
      await outage.end(rig);
      on = false;
      const endedAt = clock.now();
      const runsAtEnd = node.manager.stats().reaper.runs;
      // 2. The sessions from before are served again, with their data, and take writes.
      await eventually(async () => {
        const answers = await Promise.all(kept.map((id) => call(node.port, 'GET', '/session', { id, timeoutMs: GIVE_UP_MS })));
        expect(answers.map((a) => [a.status, (a.body as { n?: number }).n])).toEqual([
          [200, 1],
          [200, 2],
          [200, 3],
        ]);
      }, RECOVER_WITHIN_MS);
      const write = await call(node.port, 'POST', '/write?v=42', { id: kept[0], timeoutMs: GIVE_UP_MS });
      expect([write.status, write.body]).toEqual([200, { id: kept[0], v: 42 }]);
      // 3. The background reaper sweeps again and destroys the sessions that fell due, once each.
      await eventually(() => {
        expect(node.destroyed.filter((d) => due.includes(d.id)).length).toBeGreaterThanOrEqual(due.length);
      }, RECOVER_WITHIN_MS);
      await delay(SETTLE_MS);
      const destroyedDue = node.destroyed.filter((d) => due.includes(d.id));
      expect(destroyedDue.sort((a, b) => byId(a, b))).toEqual(
        [...due].sort(compare).map((id) => ({ id, reason: 'expired' })),
      );
      expect(node.destroyed.filter((d) => kept.includes(d.id))).toEqual([]);
      expect(node.manager.stats().reaper).toMatchObject({ active: true });
      expect(node.manager.stats().reaper.runs).toBeGreaterThan(runsAtEnd);
      expect(node.manager.stats().reaper.lastRunAt).toBeGreaterThanOrEqual(endedAt);
      await expect(node.manager.reap()).resolves.toMatchObject({ expired: 0 });
    });
  });

  describe('a 5 s black hole under 1,000 requests', () => {
    let node: FaultNode;

    beforeAll(async () => {
      node = await startRedisFaultNode(rig.proxy.url, uniquePrefix('faults-pileup'), {
        manager: { storeTimeout: STORE_TIMEOUT_S, invalidationTimeout: LONG_TTL_S, reaperInterval: 1 },
      });
    });

    afterAll(async () => {
      rig.proxy.restore();
      await node?.close();
    });

    it('answers every request 503 within storeTimeout + 0.5 s, and leaves no queued command, timer or pending work behind', async () => {
      const ids = await Promise.all(Array.from({ length: 10 }, (_, n) => createSession(node, n)));
      // 1. What a quiet node holds: the baseline.
      await eventually(() => expect(pendingCommands(node.client!)).toBe(0));
      const timersBefore = activeTimers();
      // 2. 1,000 requests, half reads and half writes of the ten sessions, 200 a second for 5 s. The
      // client and the server share this process: a stall of its event loop delays answers too.
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      rig.proxy.blackhole();
      const agent = keepAliveAgent(512);
      const sent: Promise<Answer>[] = [];
      let peakPending = 0;
      for (let i = 0; i < 1_000; i++) {
        const id = ids[i % ids.length];
        sent.push(
          i % 2 === 0
            ? call(node.port, 'GET', '/session', { id, agent, timeoutMs: GIVE_UP_MS })
            : call(node.port, 'POST', `/write?v=${i}`, { id, agent, timeoutMs: GIVE_UP_MS }),
        );
        if (i % 10 === 9) {
          peakPending = Math.max(peakPending, pendingCommands(node.client!));
          await delay(50);
        }
      }
      const answers = await Promise.all(sent);
      lag.disable();
      agent.destroy();
      const statuses = countBy(answers.map((a) => a.status));
      expect(statuses).toEqual({ 503: 1_000 });
      expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(ANSWER_WITHIN_MS + lag.max / 1e6);
      // 3. The black hole ends: what node-redis held is answered, and nothing stays.
      rig.proxy.restore();
      await eventually(() => expect(pendingCommands(node.client!)).toBe(0), RECOVER_WITHIN_MS);
      await eventually(() => expect(activeTimers()).toBeLessThanOrEqual(timersBefore), RECOVER_WITHIN_MS);
      const after = await call(node.port, 'GET', '/session', { id: ids[0], timeoutMs: GIVE_UP_MS });
      expect(after.status).toBe(200);
      // 4. No request of the library's is still pending: close() resolves promptly.
      const closeMs = await node.close();
      expect(closeMs).toBeLessThan(ANSWER_WITHIN_MS);
      expect(peakPending).toBeGreaterThan(0); // the black hole did hold commands
    }, 40_000);
  });

  describe('50 ms of latency on every reply', () => {
    let node: FaultNode;

    beforeAll(async () => {
      rig.proxy.latency(50, 'reply');
      node = await startRedisFaultNode(rig.proxy.url, uniquePrefix('faults-latency'), {
        manager: { storeTimeout: STORE_TIMEOUT_S, invalidationTimeout: LONG_TTL_S, reaperInterval: 1, serialAccess: { maxWaitTime: 5 } },
      });
    });

    afterAll(async () => {
      rig.proxy.latency(0);
      await node?.close();
    });

    it('reads, writes, invalidates, reaps and serialises requests as without it', async () => {
      const id = await createSession(node, 7);
      const write = await call(node.port, 'POST', '/write?v=8', { id });
      expect([write.status, write.body]).toEqual([200, { id, v: 8 }]);
      const read = await call(node.port, 'GET', '/session', { id });
      expect([read.status, read.body]).toEqual([200, { live: true, id, n: 7, v: 8 }]);
      // Serial access: concurrent appends of one session keep every item.
      const appends = await Promise.all(Array.from({ length: 8 }, (_, i) => call(node.port, 'POST', `/append?i=${i}`, { id })));
      expect(appends.map((a) => a.status)).toEqual(Array(8).fill(200));
      const list = (await call(node.port, 'GET', '/session', { id })).body as { live: boolean };
      expect(list.live).toBe(true);
      const last = appends.map((a) => (a.body as { list: number[] }).list).sort((a, b) => b.length - a.length)[0];
      expect([...last].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      // Invalidate.
      expect((await call(node.port, 'POST', '/invalidate', { id })).status).toBe(204);
      expect((await call(node.port, 'GET', '/session', { id })).body).toMatchObject({ live: false });
      expect(node.destroyed).toEqual([{ id, reason: 'invalidated' }]);
      // The reaper.
      const short = await createSession(node, 9, 1);
      await eventually(() => expect(node.destroyed).toContainEqual({ id: short, reason: 'expired' }), 6_000);
      await expect(node.manager.reap()).resolves.toMatchObject({ expired: 0 });
      expect(node.destroyed.filter((d) => d.id === short)).toHaveLength(1);
    }, 20_000);
  });

  /**
   * With the client configured as recommended: with the defaults, node-redis
   * 5.12.1 itself can wedge on such a reset (a command it had scheduled is
   * written to the dead socket, every reply after the reconnection goes to
   * the wrong command, the handshake never completes and the client stays
   * not ready for good); `disableOfflineQueue` avoids it. Serial access is
   * off: what is checked here is the commit, not the lock (a reset that
   * loses an unlock leaves the session locked until the lock's TTL, 10 s).
   */
  describe('a connection reset in the middle of a commit', () => {
    let node: FaultNode;
    let direct: ReturnType<typeof createClient>;
    let prefix = '';
    const clock = new ShiftedClock();

    beforeAll(async () => {
      prefix = uniquePrefix('faults-reset');
      // A few ms each way widen the commit's round trips, so that resets land inside them.
      rig.proxy.latency(4, 'both');
      node = await startRedisFaultNode(rig.proxy.url, prefix, {
        client: 'recommended',
        manager: { storeTimeout: STORE_TIMEOUT_S, invalidationTimeout: LONG_TTL_S, reaperInterval: 1, clock, serialAccess: false },
      });
      direct = createClient({ url: rig.redis.url });
      direct.on('error', () => undefined);
      await direct.connect();
    });

    afterAll(async () => {
      rig.proxy.latency(0);
      await node?.close();
      direct?.destroy();
    });

    /** The attribute `v` of the session's record, read straight from the server. */
    async function storedV(id: string): Promise<number | undefined> {
      const text = await direct.get(`${prefix}sess:${id}`);
      if (text === null) return undefined;
      return (JSON.parse(text) as { attributes?: { v?: number } }).attributes?.v;
    }

    /** The sessions written with a reset at a random moment, one write each. */
    const resetSessions: string[] = [];

    it('answers 200 only for a write that is in Redis, and 503 otherwise, over 30 writes with resets at random moments', async () => {
      // Resets fall anywhere within twice the time a write takes here (median of five), so some land
      // inside a write's round trips and some after it.
      const probe = await createSession(node, 0, DUE_TTL_S);
      const took: number[] = [];
      for (let v = 1; v <= 5; v++) took.push((await call(node.port, 'POST', `/write?v=${v}`, { id: probe })).ms);
      const spreadMs = 2 * took.sort((a, b) => a - b)[2];
      const outcomes: string[] = [];
      // A session of its own for each write: a reset may leave a session's commit lock behind, and
      // the next commit of that session would wait for it (503s for its TTL, 2 × storeTimeout).
      for (let v = 1; v <= 30; v++) {
        // The client notices the last reset a moment later: let it, then let it reconnect.
        await delay(50);
        await eventually(() => expect(node.client!.isReady).toBe(true), RECOVER_WITHIN_MS);
        const id = await createSession(node, v, DUE_TTL_S);
        resetSessions.push(id);
        const writing = call(node.port, 'POST', `/write?v=${v}`, { id, timeoutMs: GIVE_UP_MS });
        await delay(Math.random() * spreadMs);
        rig.proxy.reset();
        const answer = await writing;
        if (answer.status === 200) {
          // Acknowledged: it is in Redis, now.
          expect({ v, stored: await storedV(id) }).toEqual({ v, stored: v });
        } else {
          expect({ v, ...timely(answer) }).toEqual({ v, status: 503, answered: 'in time' });
        }
        outcomes.push(String(answer.status));
      }
      // The resets landed inside requests and after them (else this proves little).
      expect(outcomes).toContain('503');
      expect(outcomes).toContain('200');
    }, 60_000);

    it('still destroys those sessions once their idle timeout and a lease have run out (nothing a reset cut short keeps them in use)', async () => {
      expect(resetSessions).toHaveLength(30);
      await eventually(() => expect(node.client!.isReady).toBe(true), RECOVER_WITHIN_MS);
      // A request whose leave a reset lost counts as using its session until its lease runs out.
      clock.advance(JUMP_MS + REQUEST_LEASE_MS);
      const destroyed = (): string[] => resetSessions.filter((id) => node.destroyed.some((d) => d.id === id && d.reason === 'expired'));
      await eventually(() => expect(destroyed()).toHaveLength(resetSessions.length), RECOVER_WITHIN_MS).catch(() => undefined);
      expect({ destroyed: destroyed().length }).toEqual({ destroyed: resetSessions.length });
    }, 20_000);
  });

  /**
   * The reaper's claim runs in Redis but its answer is lost (the connection
   * then breaks): the session is claimed, out of the expiry index, and no
   * process has announced it. The claim was made under a token of the
   * sweep's destroyer, which keeps the key; the next sweep claims it again
   * under that token, learns that it won, and destroys and announces it —
   * once (docs/architecture.md, "Lost answers").
   */
  describe("a claim whose answer is lost", () => {
    let node: FaultNode;
    let direct: ReturnType<typeof createClient>;
    let prefix = '';
    const clock = new ShiftedClock();

    beforeAll(async () => {
      prefix = uniquePrefix('faults-claim');
      node = await startRedisFaultNode(rig.proxy.url, prefix, {
        manager: { storeTimeout: STORE_TIMEOUT_S, invalidationTimeout: LONG_TTL_S, reaperInterval: 3600, clock },
      });
      direct = createClient({ url: rig.redis.url });
      direct.on('error', () => undefined);
      await direct.connect();
    });

    afterAll(async () => {
      rig.proxy.restore();
      await node?.close();
      direct?.destroy();
    });

    it('is claimed again by the next sweep, which destroys the session and announces it once', async () => {
      // A first sweep loads the claim's script into Redis (else the claim's first try would be a
      // NOSCRIPT error, whose answer is what gets lost, and the claim would not run).
      const warm = await createSession(node, 6, DUE_TTL_S);
      clock.advance(JUMP_MS);
      await expect(node.manager.reap()).resolves.toMatchObject({ expired: 1 });
      expect(node.destroyed).toEqual([{ id: warm, reason: 'expired' }]);
      node.destroyed.length = 0;
      const id = await createSession(node, 7, DUE_TTL_S);
      const kept = await createSession(node, 8);
      const entry = redisLayout(`${prefix}esm:`).entry(id);
      clock.advance(JUMP_MS);
      // 1. The claim (the first request naming the session) runs; its answer never comes.
      rig.proxy.loseRepliesFrom(id);
      await expect(node.manager.reap()).resolves.toMatchObject({ expired: 0 });
      expect(await direct.hGet(entry, 'claimed')).toBe('1');
      expect(node.destroyed).toEqual([]);
      // 2. The connection breaks; the client reconnects; the next sweep finishes the destruction.
      rig.proxy.restore();
      await delay(50); // the client notices the reset a moment later
      await eventually(() => expect(node.client!.isReady).toBe(true), RECOVER_WITHIN_MS);
      await expect(node.manager.reap()).resolves.toMatchObject({ expired: 1 });
      expect(node.destroyed).toEqual([{ id, reason: 'expired' }]);
      expect(await direct.exists([entry, `${prefix}sess:${id}`])).toBe(0);
      // 3. Nothing is left to retry, and the other session lives on.
      await expect(node.manager.reap()).resolves.toMatchObject({ expired: 0 });
      expect(node.destroyed).toEqual([{ id, reason: 'expired' }]);
      const answer = await call(node.port, 'GET', '/session', { id: kept, timeoutMs: GIVE_UP_MS });
      expect([answer.status, (answer.body as { n?: number }).n]).toEqual([200, 8]);
    }, 20_000);
  });
});

/** How many times each value occurs. */
function countBy(values: number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** Orders by `id`, as `compare` orders strings. */
function byId(a: { id: string }, b: { id: string }): number {
  return compare(a.id, b.id);
}

/** Orders strings by code unit, as `Array.prototype.sort()` does by default. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
