/**
 * One multi-process test's workers and Redis keys: worker processes on the
 * run's redis-server under a prefix of their own, and, after the test
 * whatever happened, the workers killed, the keys deleted and the
 * connection closed.
 */
import { Cluster, type ClusterOptions } from './reaper-cluster';
import { createRedisClient, deleteRedisKeys, redisKeysUnder, uniquePrefix, type TestRedisClient } from './services';
import { redisLayout, zCardAll } from './redis-layout';

/** A test's cluster, its own Redis connection and the prefix of every key its workers write. */
export interface ClusterRun {
  cluster: Cluster;
  client: TestRedisClient;
  prefix: string;
  /** Keys under the prefix, and members of the coordinator's expiry indexes: `[]` and 0 once every session is gone. */
  leftovers(): Promise<{ keys: string[]; expiryMembers: number }>;
}

/**
 * Registers the teardown (after each test of the calling `describe`) and
 * returns how a test starts its cluster: `count` workers with `options`
 * (the run's `REDIS_URL`, and a prefix from `name`).
 */
export function clusterPerTest(name: string): (count: number, options?: Omit<ClusterOptions, 'redisUrl' | 'prefix'>) => Promise<ClusterRun> {
  let run: ClusterRun | undefined;

  afterEach(async () => {
    if (!run) return;
    const { cluster, client, prefix } = run;
    run = undefined;
    cluster.kill();
    await deleteRedisKeys(client, prefix);
    await client.close();
  });

  return async (count, options = {}) => {
    const prefix = uniquePrefix(name);
    const client = await createRedisClient();
    const cluster = new Cluster();
    run = {
      cluster,
      client,
      prefix,
      leftovers: async () => ({
        keys: await redisKeysUnder(client, prefix),
        expiryMembers: await zCardAll(client, redisLayout(`${prefix}esm:`).allExpiry()),
      }),
    };
    await cluster.start(count, { ...options, redisUrl: process.env.REDIS_URL!, prefix });
    return run;
  };
}
