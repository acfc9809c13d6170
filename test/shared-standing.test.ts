/**
 * One standing per process (lib/coordination/shared-standing.ts): the
 * requests of one session in a process enter `redisCoordinator` under one
 * token and only the last of them leaves. Checked on the entry itself (its
 * `r:<token>` fields, its deadline in the expiry index), through a second,
 * plain coordinator standing for another process; on one server and the
 * cluster, the records colocated on the one server.
 */
import { RedisStore } from 'connect-redis';
import type { Coordinator, LeaveUpdate } from '../lib/coordination/coordinator';
import { redisCoordinator, type RedisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import { withSharedStanding } from '../lib/coordination/shared-standing';
import type { StoredRecord } from '../lib/storage/store-adapter';
import { FakeClock } from './support/fake-clock';
import { redisLayout } from './support/redis-layout';
import { closeTopologyClient, connectTopology, deleteKeys, describeTopologies, type TopologyClient } from './support/redis-topology';
import { uniquePrefix } from './support/services';

const TIMEOUT_MS = 60_000;

describeTopologies(
  'one standing per process',
  (topology) => {
    let client: TopologyClient;
    let prefix: string;
    let clock: FakeClock;

    beforeAll(async () => {
      client = await connectTopology(topology);
    });

    afterAll(async () => {
      await closeTopologyClient(client);
    });

    beforeEach(() => {
      prefix = uniquePrefix('shared-standing');
      clock = new FakeClock();
    });

    afterEach(async () => {
      await deleteKeys(client, prefix);
    });

    const layout = () => redisLayout(`${prefix}esm:`);

    /** A plain coordinator (another process) and, on the same Redis, this process's, its requests standing as one. */
    function processes(wrap: (coordinator: RedisCoordinator) => Coordinator = (c) => c): { other: RedisCoordinator; mine: Coordinator & RedisCoordinator } {
      const [other, inner] = [0, 1].map(() => {
        const coordinator = redisCoordinator({ client, prefix: `${prefix}esm:` });
        coordinator.useClock(clock);
        return coordinator;
      });
      return { other, mine: withSharedStanding(wrap(inner)) as Coordinator & RedisCoordinator };
    }

    function update(request: string, timeoutMs: number | undefined, extra: Partial<LeaveUpdate> = {}): LeaveUpdate {
      const now = clock.now();
      return { now, timeoutMs, storeExpires: timeoutMs === undefined ? null : now + 2 * TIMEOUT_MS, entered: true, lastAccessedTime: now, request, ...extra };
    }

    /** The `r:<token>` fields of the entry of `key`: who the coordinator counts as using it. */
    async function standing(key: string): Promise<string[]> {
      return (await client.hKeys(layout().entry(key))).filter((field) => field.startsWith('r:')).sort();
    }

    async function deadlineOf(key: string): Promise<number | null> {
      return client.zScore(layout().expiry(key), key);
    }

    it('enters the requests of one session under the first one’s token, and leaves when the last one leaves', async () => {
      const { other, mine } = processes();
      await other.leave('s', update('creator', TIMEOUT_MS, { entered: false }));
      const created = await deadlineOf('s');
      const t0 = clock.now();
      await expect(mine.enter('s', t0 + 1000, false, 'r1')).resolves.toMatchObject({ lastAccessedTime: t0, active: 0 });
      // The later ones enter under r1's token: the access time moves, the count does not.
      await expect(mine.enter('s', t0 + 2000, false, 'r2')).resolves.toMatchObject({ lastAccessedTime: t0 + 1000, active: 1 });
      await expect(mine.enter('s', t0 + 3000, false, 'r3')).resolves.toMatchObject({ lastAccessedTime: t0 + 2000, active: 1 });
      expect(await standing('s')).toEqual(['r:r1']);
      await expect(other.inspect('s')).resolves.toMatchObject({ lastAccessedTime: t0 + 3000, active: 1 });
      // The first one leaves (knowing the timeout), then one that could not load the session: nothing is sent.
      clock.advance(4000);
      await expect(mine.leave('s', update('r1', TIMEOUT_MS))).resolves.toBe(false);
      await expect(mine.leave('s', update('r3', undefined))).resolves.toBe(false);
      await expect(mine.leave('s', update('r1', TIMEOUT_MS))).resolves.toBe(false); // twice: once
      expect(await standing('s')).toEqual(['r:r1']);
      expect(await deadlineOf('s')).toBe(created);
      // The last one leaves without a timeout: the standing leaves with the first one's.
      clock.advance(1000);
      await mine.leave('s', update('r2', undefined));
      expect(await standing('s')).toEqual([]);
      expect(await deadlineOf('s')).toBe(clock.now() + TIMEOUT_MS);
      // The next request begins a standing of its own.
      await mine.enter('s', clock.now(), false, 'r4');
      expect(await standing('s')).toEqual(['r:r4']);
    });

    it('lets a request joining the standing see a kill at once, and the last one leaving destroy the session', async () => {
      const { other, mine } = processes();
      await other.leave('k', update('creator', TIMEOUT_MS, { entered: false }));
      await mine.enter('k', clock.now(), false, 'r1');
      await expect(other.kill('k')).resolves.toMatchObject({ active: 1, claimed: false });
      // Its kill message may still be on its way: the entry itself says so.
      await expect(mine.enter('k', clock.now(), false, 'r2')).resolves.toMatchObject({ claimed: true, killed: true });
      await expect(mine.leave('k', update('r1', TIMEOUT_MS))).resolves.toBe(true);
    });

    it('makes a leave that finds only a request whose enter has not answered wait for that answer', async () => {
      const { other, mine } = processes();
      await other.leave('w', update('creator', TIMEOUT_MS, { entered: false }));
      await mine.enter('w', clock.now(), false, 'a');
      // b's enter is on its way when a leaves: a's leave waits for it, then leaves nothing (b stands).
      const [, aLeft] = await Promise.all([mine.enter('w', clock.now(), false, 'b'), mine.leave('w', update('a', TIMEOUT_MS))]);
      expect(aLeft).toBe(false);
      expect(await standing('w')).toEqual(['r:a']);
      await mine.leave('w', update('b', TIMEOUT_MS));
      expect(await standing('w')).toEqual([]);
      // Killed meanwhile: c's enter is not counted, so d's leave, which waited for it, is the last one, and destroys it.
      await mine.enter('w', clock.now(), false, 'd');
      await other.kill('w');
      const [cEntry, dLeft] = await Promise.all([mine.enter('w', clock.now(), false, 'c'), mine.leave('w', update('d', TIMEOUT_MS))]);
      expect(cEntry).toMatchObject({ claimed: true, killed: true });
      expect(dLeft).toBe(true);
      expect(await standing('w')).toEqual([]);
    });

    it('stops counting a request whose leave was lost once its lease runs out', async () => {
      const { other, mine } = processes();
      await other.leave('l', update('creator', TIMEOUT_MS, { entered: false }));
      await mine.enter('l', clock.now(), false, 'lost');
      await mine.enter('l', clock.now(), false, 'long');
      clock.advance(mine.leaseMs / 2);
      await mine.renewLease('l', 'long', clock.now());
      clock.advance(mine.leaseMs / 2 + 1);
      await expect(other.inspect('l')).resolves.toMatchObject({ active: 1 }); // the standing's lease was renewed
      await mine.leave('l', update('long', TIMEOUT_MS));
      expect(await standing('l')).toEqual([]);
      expect(await deadlineOf('l')).toBe(clock.now() + TIMEOUT_MS);
    });

    it('sends the standing’s leave again when the request that decided it retries after a failure', async () => {
      let failNext = false;
      const { other, mine } = processes(
        (inner) =>
          new Proxy(inner, {
            get(target, property, receiver) {
              if (property === 'leave' && failNext) {
                failNext = false;
                return () => Promise.reject(new Error('connection lost'));
              }
              return Reflect.get(target, property, receiver);
            },
          }),
      );
      await other.leave('f', update('creator', TIMEOUT_MS, { entered: false }));
      await mine.enter('f', clock.now(), false, 'r1');
      await mine.enter('f', clock.now(), false, 'r2');
      await mine.leave('f', update('r1', TIMEOUT_MS));
      failNext = true;
      await expect(mine.leave('f', update('r2', TIMEOUT_MS))).rejects.toThrow('connection lost');
      expect(await standing('f')).toEqual(['r:r1']);
      await mine.leave('f', update('r2', TIMEOUT_MS)); // the caller's retry
      expect(await standing('f')).toEqual([]);
    });

    if (topology !== 'cluster') {
      it('refuses a write merged onto a write still in flight when another write made the version it expects', async () => {
        const { other } = processes();
        const store = new RedisStore({ client, prefix: `${prefix}sess:` });
        const records = other.colocate(store)!;
        const record = (n: number) => ({ cookie: { originalMaxAge: null }, n }) as unknown as StoredRecord;
        await records.write('v', record(0), 600, undefined, [update('creator', TIMEOUT_MS, { entered: false })], 'w0');
        // This process sent w1 (version 1 → 2) and merged the next group onto it; another process's write landed first.
        await expect(records.write('v', record(1), 600, 1, [update('r0', TIMEOUT_MS)], 'elsewhere')).resolves.toMatchObject({ written: true, version: 2 });
        await expect(records.write('v', record(1), 600, 1, [update('r1', TIMEOUT_MS)], 'w1')).resolves.toEqual({ written: false });
        // The next group expects version 2 — the number matches, the write does not.
        await expect(records.write('v', record(2), 600, 2, [update('r2', TIMEOUT_MS)], 'w2', 'w1')).resolves.toEqual({ written: false });
        await expect(records.read('v')).resolves.toMatchObject({ record: record(1), version: 2 });
        await expect(records.write('v', record(2), 600, 2, [update('r2', TIMEOUT_MS)], 'w2', 'elsewhere')).resolves.toMatchObject({ written: true, version: 3 });
      });


      it('writes colocated records of requests still standing without leaving, and leaves with the last write', async () => {
        const { other, mine } = processes();
        const store = new RedisStore({ client, prefix: `${prefix}sess:` });
        const [records, plain] = [mine.colocate(store)!, other.colocate(store)!];
        const record = (n: number) => ({ cookie: { originalMaxAge: null }, n }) as unknown as StoredRecord;
        await plain.write('w', record(0), 600, undefined, [update('creator', TIMEOUT_MS, { entered: false })]);
        const first = await records.load('w', clock.now(), false, 'r1');
        const second = await records.load('w', clock.now(), false, 'r2');
        expect([first.entry?.version, second.entry?.version]).toEqual([1, 1]);
        await expect(records.write('w', record(1), 600, 1, [update('r1', TIMEOUT_MS)])).resolves.toEqual({ written: true, version: 2, lastOfKilled: [false] });
        expect(await standing('w')).toEqual(['r:r1']);
        await expect(plain.read('w')).resolves.toMatchObject({ record: record(1), version: 2 });
        await expect(records.write('w', record(2), 600, 2, [update('r2', TIMEOUT_MS)])).resolves.toEqual({ written: true, version: 3, lastOfKilled: [false] });
        expect(await standing('w')).toEqual([]);
        expect(await deadlineOf('w')).toBe(clock.now() + TIMEOUT_MS);
      });
    }
  },
  ['single', 'cluster'],
);
