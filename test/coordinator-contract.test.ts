/**
 * The coordinator contract (test/support/coordinator-contract.ts) on both
 * coordinators: the in-process one, and the Redis one against the test
 * redis-server with two connections standing for two processes.
 */
import { LocalCoordinator } from '../lib/coordination/local/local-coordinator';
import { redisCoordinator } from '../lib/coordination/redis/redis-coordinator';
import { coordinatorContract } from './support/coordinator-contract';
import { createRedisClient, deleteRedisKeys, describeRedis, uniquePrefix, type TestRedisClient } from './support/services';

coordinatorContract('LocalCoordinator', {
  abilities: ['an expiry index', 'kill signals', 'a session index', 'session caps'],
  create: () => {
    const coordinator = new LocalCoordinator();
    return [coordinator, coordinator];
  },
});

let clients: TestRedisClient[] = [];
let prefix = '';

coordinatorContract('redisCoordinator', {
  abilities: ['an expiry index', 'session locks', 'commit locks', 'kill signals', 'a session index', 'request leases', 'session caps'],
  describe: (name, fn) =>
    describeRedis(name, () => {
      beforeAll(async () => {
        clients = [await createRedisClient(), await createRedisClient()];
      });
      afterAll(async () => {
        await Promise.all(clients.map((client) => client.close()));
      });
      fn();
    }),
  create: () => {
    prefix = uniquePrefix('coordinator-contract');
    return [redisCoordinator({ client: clients[0], prefix }), redisCoordinator({ client: clients[1], prefix })];
  },
  cleanUp: async () => {
    await deleteRedisKeys(clients[0], prefix);
  },
});
