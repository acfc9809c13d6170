/**
 * A private, throw-away Redis Cluster: six redis-servers from PATH on free
 * loopback ports (`--cluster-enabled yes`), joined by `redis-cli --cluster
 * create … --cluster-replicas 1 --cluster-yes` into three primaries with a
 * replica each. Global setup starts one for the run; the failover suite
 * starts its own (it kills primaries). The machine's own Redis is never
 * touched.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import { startRedisServer, type RedisServer } from './redis-server';

const run = promisify(execFile);

/** How long the cluster may take to form (all slots served, every replica in sync). */
const FORM_TIMEOUT_MS = 30_000;

/** A running cluster started by {@link startRedisCluster}. */
export interface RedisClusterServers {
  /** The six servers, in the order given to `redis-cli --cluster create` (primaries first). */
  nodes: RedisServer[];
  /** `host:port` of every node, for `REDIS_CLUSTER_NODES` and `createCluster({ rootNodes })`. */
  addresses: string[];
  /** Each node's role now, from its own `ROLE` (a killed node is left out). */
  roles(): Promise<{ node: RedisServer; role: 'master' | 'slave' }[]>;
  /** Resolves once every slot is served and every replica is in sync (after a failover too), within `timeoutMs`. */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every node and removes their directories. */
  stop(): Promise<void>;
}

/** Options of {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /**
   * `cluster-node-timeout`: how long a primary may be unreachable before
   * its replica takes over. @default 5000 (the run's shared cluster: a loaded
   * machine must not fail a primary over by accident)
   */
  nodeTimeoutMs?: number;
}

/** Starts six nodes, creates the cluster, and resolves once it is healthy. */
export async function startRedisCluster(binary: string, cli: string, options: RedisClusterOptions = {}): Promise<RedisClusterServers> {
  const args = ['--cluster-enabled', 'yes', '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 5000), '--cluster-config-file', 'nodes.conf'];
  const started = await Promise.allSettled(Array.from({ length: 6 }, () => startRedisServer(binary, { args })));
  const nodes = started.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    const failed = started.find((outcome) => outcome.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run(cli, ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'], { timeout: FORM_TIMEOUT_MS });
    const cluster: RedisClusterServers = {
      nodes,
      addresses,
      roles: () => roles(nodes),
      waitUntilHealthy: (timeoutMs = FORM_TIMEOUT_MS) => waitUntilHealthy(nodes, timeoutMs),
      stop,
    };
    await cluster.waitUntilHealthy();
    return cluster;
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Each node's answer to `command`, or `undefined` for a node that does not answer. */
async function askEach(nodes: RedisServer[], command: string[]): Promise<(string | undefined)[]> {
  return Promise.all(
    nodes.map(async (node) => {
      const client = createClient({ url: node.url, socket: { connectTimeout: 2000, reconnectStrategy: false } });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const answer = await client.sendCommand(command);
        return Array.isArray(answer) ? String(answer[0]) : String(answer);
      } catch {
        return undefined;
      } finally {
        if (client.isOpen) client.destroy();
      }
    }),
  );
}

async function roles(nodes: RedisServer[]): Promise<{ node: RedisServer; role: 'master' | 'slave' }[]> {
  // A loaded machine may leave a node slow to answer: ask again (up to 10 s) until a primary answers.
  for (let attempt = 0; ; attempt++) {
    const answers = await askEach(nodes, ['ROLE']);
    const found = nodes.flatMap((node, i) => (answers[i] === 'master' || answers[i] === 'slave' ? [{ node, role: answers[i] as 'master' | 'slave' }] : []));
    if (found.some((node) => node.role === 'master') || attempt >= 50) return found;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Polls every node that answers until each says `cluster_state:ok`, the
 * primaries together serve all 16384 slots, and each replica's link to its
 * primary is up.
 */
async function waitUntilHealthy(nodes: RedisServer[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const [infos, replication] = await Promise.all([askEach(nodes, ['CLUSTER', 'INFO']), askEach(nodes, ['INFO', 'replication'])]);
    const answering = infos.filter((info): info is string => info !== undefined);
    const ok = answering.length > 0 && answering.every((info) => /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info));
    const replicasUp = replication.every((info) => info === undefined || !/role:slave/.test(info) || /master_link_status:up/.test(info));
    if (ok && replicasUp) return;
    last = `${answering.length} nodes answering, state ok: ${ok}, replicas in sync: ${replicasUp}`;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the Redis Cluster is not healthy after ${timeoutMs} ms (${last})`);
}
