/**
 * Keys spread over a Redis Cluster (docs/architecture.md, "Redis Cluster and
 * Sentinel"): 100,000 sessions stored through connect-redis and
 * `redisCoordinator` on the run's cluster put about the same number of keys
 * on each of its three primaries — between 0.67× and 1.5× of the mean —
 * and not all on one node, as wrapping the whole prefix in `{}` would.
 */
import { RedisStore } from 'connect-redis';
import { redisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import { generateSessionId } from '../lib/tracking/session-id';
import { makeRecord } from './support/store-promises';
import { closeTopologyClient, connectTopology, deleteKeys, describeTopologies, type TopologyClient } from './support/redis-topology';
import { uniquePrefix } from './support/services';
import type { createCluster } from 'redis';

const SESSIONS = 100_000;
/** Sessions stored at once. */
const PARALLEL = 2000;

/** How many keys under `prefix` each primary holds (a SCAN of each). */
async function keysPerPrimary(client: TopologyClient, prefix: string): Promise<number[]> {
  const cluster = client as unknown as ReturnType<typeof createCluster>;
  return Promise.all(
    cluster.masters.map(async (master) => {
      const node = await cluster.nodeClient(master);
      let count = 0;
      let cursor = '0';
      do {
        const [next, keys] = (await node.sendCommand(['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '5000'])) as [string, string[]];
        count += keys.length;
        cursor = String(next);
      } while (cursor !== '0');
      return count;
    }),
  );
}

describeTopologies(
  'keys of 100,000 sessions',
  (topology) => {
    let client: TopologyClient;
    let prefix: string;

    beforeAll(async () => {
      client = await connectTopology(topology);
      prefix = uniquePrefix('spread');
    });

    // Deleting the 300,000 keys the test wrote takes tens of seconds on a loaded machine.
    afterAll(async () => {
      await deleteKeys(client, prefix);
      await closeTopologyClient(client);
    }, 180_000);

    it('lie between 0.67x and 1.5x of the mean on each primary', async () => {
      const store = new RedisStore({ client, prefix: `${prefix}sess:` });
      const coordinator = redisCoordinator({ client, prefix: `${prefix}esm:` });
      const now = Date.now();
      const expires = now + 10 * 60_000;
      const record = makeRecord(expires, now, {});
      const storeOne = async (): Promise<void> => {
        const id = generateSessionId();
        await Promise.all([
          store.set(id, record as never),
          coordinator.leave(id, { now, timeoutMs: 1_800_000, storeExpires: expires, entered: false, lastAccessedTime: now, request: '' }),
        ]);
      };
      for (let i = 0; i < SESSIONS; i += PARALLEL) await Promise.all(Array.from({ length: PARALLEL }, storeOne));

      const counts = await keysPerPrimary(client, prefix);
      expect(counts).toHaveLength(3);
      // Each session: its record and its entry; plus each shard's two indexes.
      const total = counts.reduce((sum, n) => sum + n, 0);
      expect(total).toBe(2 * SESSIONS + 2 * 16);
      const mean = total / counts.length;
      for (const count of counts) {
        expect(count).toBeGreaterThanOrEqual(0.67 * mean);
        expect(count).toBeLessThanOrEqual(1.5 * mean);
      }
      process.stdout.write(`keys per primary of ${SESSIONS} sessions: ${counts.join(', ')} (mean ${Math.round(mean)})\n`);
    }, 120_000);
  },
  ['cluster'],
);
