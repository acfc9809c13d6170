/**
 * The Redis topologies the Redis suites run on: one server (`single`), a
 * Redis Cluster (`cluster`, three primaries with a replica each) and a
 * primary watched by Sentinel (`sentinel`) — the servers global setup
 * started (global-setup.ts), or a file's own (the failover suite). The
 * application's node-redis client of each kind (`createClient`,
 * `createCluster`, `createSentinel`), and what tests need beside the
 * commands of one key: every key under a prefix (a cluster's keys are on
 * three primaries), deleting them one key at a time (a cluster refuses a
 * DEL across slots).
 */
import { createClient, createCluster, createSentinel } from 'redis';
import { SKIP_CLUSTER_ENV, SKIP_REDIS_ENV, SKIP_SENTINEL_ENV, type TestRedisClient } from './services';

/** A kind of Redis deployment. */
export type Topology = 'single' | 'cluster' | 'sentinel';

/** Every topology, in the order suites run them. */
export const TOPOLOGIES: readonly Topology[] = ['single', 'cluster', 'sentinel'];

/** The environment variable telling a worker process which topology to connect to. */
export const TOPOLOGY_ENV = 'ESM_REDIS_TOPOLOGY';

/**
 * The application's client of a topology, typed as the single-server client
 * for tests: the commands of one key (GET, HGETALL, ZCARD, PTTL, …) are the
 * same on the three kinds; anything else goes through the functions below.
 */
export type TopologyClient = TestRedisClient;

/** Whether global setup made `topology` available to this run. */
export function topologyAvailable(topology: Topology, env: NodeJS.ProcessEnv = process.env): boolean {
  if (topology === 'single') return Boolean(env.REDIS_URL) && env[SKIP_REDIS_ENV] !== '1';
  if (topology === 'cluster') return Boolean(env.REDIS_CLUSTER_NODES) && env[SKIP_CLUSTER_ENV] !== '1';
  return Boolean(env.REDIS_SENTINEL_NODES && env.REDIS_SENTINEL_NAME) && env[SKIP_SENTINEL_ENV] !== '1';
}

/**
 * One `describe` per topology, named `<name> (<topology>)`; a topology the
 * run lacks is skipped (global setup said why, and fails the run under CI).
 */
export function describeTopologies(name: string, fn: (topology: Topology) => void, topologies: readonly Topology[] = TOPOLOGIES): void {
  for (const topology of topologies) {
    const describeIfAvailable = topologyAvailable(topology) ? describe : describe.skip;
    describeIfAvailable(`${name} (${topology})`, () => fn(topology));
  }
}

/** `host:port` → a node address for node-redis. */
function node(address: string): { host: string; port: number } {
  const [host, port] = address.split(':');
  return { host, port: Number(port) };
}

/** Options every node-redis client of the tests gets on top of the defaults. */
export interface TopologyClientOptions {
  /** `disableOfflineQueue` and the like: the options of one connection (each node's, on a cluster or sentinel). */
  connection?: Parameters<typeof createClient>[0];
}

/**
 * A connected application client of `topology`, from `env` (global setup's
 * `REDIS_URL`, `REDIS_CLUSTER_NODES`, `REDIS_SENTINEL_NODES` +
 * `REDIS_SENTINEL_NAME`, or a suite's own servers). Errors are the caller's
 * to observe: commands reject on their own.
 */
export async function connectTopology(topology: Topology, env: NodeJS.ProcessEnv = process.env, options: TopologyClientOptions = {}): Promise<TopologyClient> {
  const connection = options.connection ?? {};
  if (topology === 'single') {
    if (!env.REDIS_URL) throw new Error('REDIS_URL is not set: guard the suite with describeTopologies()');
    const client = createClient({ ...connection, url: env.REDIS_URL });
    client.on('error', () => undefined);
    await client.connect();
    return client as TopologyClient;
  }
  if (topology === 'cluster') {
    if (!env.REDIS_CLUSTER_NODES) throw new Error('REDIS_CLUSTER_NODES is not set: guard the suite with describeTopologies()');
    const cluster = createCluster({
      rootNodes: env.REDIS_CLUSTER_NODES.split(',').map((address) => ({ url: `redis://${address}` })),
      defaults: connection,
    });
    cluster.on('error', () => undefined);
    await cluster.connect();
    return cluster as unknown as TopologyClient;
  }
  if (!env.REDIS_SENTINEL_NODES || !env.REDIS_SENTINEL_NAME) throw new Error('REDIS_SENTINEL_NODES is not set: guard the suite with describeTopologies()');
  const sentinel = createSentinel({
    name: env.REDIS_SENTINEL_NAME,
    sentinelRootNodes: env.REDIS_SENTINEL_NODES.split(',').map(node),
    nodeClientOptions: connection as never,
  });
  sentinel.on('error', () => undefined);
  await sentinel.connect();
  return sentinel as unknown as TopologyClient;
}

/** The connected client of the topology named by `ESM_REDIS_TOPOLOGY` (default `single`): what worker processes use. */
export function connectFromEnv(env: NodeJS.ProcessEnv = process.env, options: TopologyClientOptions = {}): Promise<TopologyClient> {
  const topology = (env[TOPOLOGY_ENV] ?? 'single') as Topology;
  if (!TOPOLOGIES.includes(topology)) throw new Error(`${TOPOLOGY_ENV}=${topology} is not one of ${TOPOLOGIES.join(', ')}`);
  return connectTopology(topology, env, options);
}

/** What a worker process needs in its environment to connect to `topology` (beside what it inherits). */
export function topologyEnv(topology: Topology): Record<string, string> {
  return { [TOPOLOGY_ENV]: topology };
}

/** Which kind `client` is. */
function kindOf(client: unknown): Topology {
  return 'masters' in (client as object) ? 'cluster' : 'getMasterNode' in (client as object) ? 'sentinel' : 'single';
}

/** One SCAN over a connection: every key matching `pattern`. */
async function scanWith(send: (args: string[]) => Promise<unknown>, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = (await send(['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000'])) as [string, string[]];
    keys.push(...batch.map(String));
    cursor = String(next);
  } while (cursor !== '0');
  return keys;
}

/** Every key matching `pattern` (a SCAN of every primary on a cluster), sorted. */
export async function scanKeys(client: TopologyClient, pattern: string): Promise<string[]> {
  const kind = kindOf(client);
  if (kind === 'single') return (await scanWith((args) => client.sendCommand(args), pattern)).sort();
  if (kind === 'sentinel') {
    const sentinel = client as unknown as { sendCommand(isReadonly: boolean | undefined, args: string[]): Promise<unknown> };
    return (await scanWith((args) => sentinel.sendCommand(false, args), pattern)).sort();
  }
  const cluster = client as unknown as ReturnType<typeof createCluster>;
  const perPrimary = await Promise.all(
    cluster.masters.map(async (master) => {
      const nodeClient = await cluster.nodeClient(master);
      return scanWith((args) => nodeClient.sendCommand(args), pattern);
    }),
  );
  return perPrimary.flat().sort();
}

/** Keys deleted at once (one DEL each: keys of a cluster lie in many slots). */
const DELETE_BATCH = 2000;

/** Deletes every key under `prefix`, one key per DEL (never FLUSHALL/FLUSHDB); resolves how many. */
export async function deleteKeys(client: TopologyClient, prefix: string): Promise<number> {
  if (!prefix) throw new Error('deleteKeys needs a non-empty prefix');
  const keys = await scanKeys(client, `${prefix}*`);
  let deleted = 0;
  for (let i = 0; i < keys.length; i += DELETE_BATCH) {
    const counts = await Promise.all(keys.slice(i, i + DELETE_BATCH).map((key) => client.del(key)));
    deleted += counts.reduce((sum, n) => sum + Number(n), 0);
  }
  return deleted;
}

/** Closes a client of any kind, destroying it when closing fails (its server gone). */
export async function closeTopologyClient(client: TopologyClient): Promise<void> {
  try {
    await client.close();
  } catch {
    await Promise.resolve(client.destroy()).catch(() => undefined);
  }
}
