/**
 * A private, throw-away Sentinel setup: a primary, a replica of it and
 * three sentinels watching them (quorum 2), all redis-servers from PATH on
 * free loopback ports. Global setup starts one for the run; the failover
 * suite starts its own (it kills the primary). The machine's own Redis is
 * never touched.
 */
import { createClient } from 'redis';
import { startRedisServer, type RedisServer } from './redis-server';

/** The name the sentinels know the primary by. */
export const SENTINEL_PRIMARY_NAME = 'esm-test-primary';

/** How long the setup may take to be watched (every sentinel knows the replica and the other two). */
const WATCH_TIMEOUT_MS = 30_000;

/** A running setup started by {@link startRedisSentinels}. */
export interface RedisSentinelServers {
  /** The primary at start. */
  primary: RedisServer;
  /** Its replica at start. */
  replica: RedisServer;
  sentinels: RedisServer[];
  /** `host:port` of each sentinel, for `REDIS_SENTINEL_NODES` and `createSentinel({ sentinelRootNodes })`. */
  addresses: string[];
  /** The port of the primary the sentinels name now. */
  primaryPort(): Promise<number>;
  /** Stops every server and removes their directories. */
  stop(): Promise<void>;
}

/** Options of {@link startRedisSentinels}. */
export interface RedisSentinelOptions {
  /** `down-after-milliseconds`: how long the primary may be silent before it is failed over. @default 5000 */
  downAfterMs?: number;
}

/** Starts the primary, its replica and three sentinels, and resolves once the sentinels watch both. */
export async function startRedisSentinels(binary: string, options: RedisSentinelOptions = {}): Promise<RedisSentinelServers> {
  const servers: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    const primary = await startRedisServer(binary);
    servers.push(primary);
    const replica = await startRedisServer(binary, { args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    servers.push(replica);
    const downAfterMs = options.downAfterMs ?? 5000;
    const config = [
      `sentinel monitor ${SENTINEL_PRIMARY_NAME} 127.0.0.1 ${primary.port} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_PRIMARY_NAME} ${downAfterMs}`,
      `sentinel failover-timeout ${SENTINEL_PRIMARY_NAME} ${Math.max(3000, 2 * downAfterMs)}`,
      `sentinel parallel-syncs ${SENTINEL_PRIMARY_NAME} 1`,
      '',
    ].join('\n');
    const sentinels = await Promise.all(Array.from({ length: 3 }, () => startRedisServer(binary, { config, args: ['--sentinel'] })));
    servers.push(...sentinels);
    const setup: RedisSentinelServers = {
      primary,
      replica,
      sentinels,
      addresses: sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`),
      primaryPort: () => primaryPort(sentinels),
      stop,
    };
    await waitUntilWatched(sentinels, replica);
    return setup;
  } catch (error) {
    await stop();
    throw error;
  }
}

/** `SENTINEL MASTER <name>` of one sentinel as a field → value map, or `undefined` when it does not answer. */
async function primaryAsSeenBy(sentinel: RedisServer): Promise<Map<string, string> | undefined> {
  const client = createClient({ url: sentinel.url, socket: { connectTimeout: 500, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return fieldMap(await client.sendCommand(['SENTINEL', 'MASTER', SENTINEL_PRIMARY_NAME]));
  } catch {
    return undefined;
  } finally {
    if (client.isOpen) client.destroy();
  }
}

/** A reply of field/value pairs as a map: node-redis 5 answers a flat array, node-redis 6 a map or a plain object. */
function fieldMap(answer: unknown): Map<string, string> {
  const entries: Iterable<[unknown, unknown]> =
    answer instanceof Map ? answer : Array.isArray(answer) ? pairs(answer) : Object.entries(answer as Record<string, unknown>);
  return new Map(Array.from(entries, ([field, value]) => [String(field), String(value)]));
}

function* pairs(flat: unknown[]): Iterable<[unknown, unknown]> {
  for (let i = 0; i + 1 < flat.length; i += 2) yield [flat[i], flat[i + 1]];
}

async function primaryPort(sentinels: RedisServer[]): Promise<number> {
  for (const sentinel of sentinels) {
    const fields = await primaryAsSeenBy(sentinel);
    if (fields?.get('port')) return Number(fields.get('port'));
  }
  throw new Error('no sentinel names a primary');
}

/** Whether `replica` has its link to the primary up (in sync). */
async function inSync(replica: RedisServer): Promise<boolean> {
  const client = createClient({ url: replica.url, socket: { connectTimeout: 500, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return /master_link_status:up/.test(String(await client.sendCommand(['INFO', 'replication'])));
  } catch {
    return false;
  } finally {
    if (client.isOpen) client.destroy();
  }
}

/** Polls until the replica is in sync and every sentinel sees the primary up, its replica, and the two other sentinels. */
async function waitUntilWatched(sentinels: RedisServer[], replica: RedisServer): Promise<void> {
  const deadline = Date.now() + WATCH_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    const views = await Promise.all(sentinels.map(primaryAsSeenBy));
    const watched = views.every(
      (fields) => fields?.get('flags') === 'master' && fields.get('num-slaves') === '1' && fields.get('num-other-sentinels') === '2',
    );
    if (watched && (await inSync(replica))) return;
    last = views.map((fields) => (fields ? `${fields.get('flags')}/${fields.get('num-slaves')}/${fields.get('num-other-sentinels')}` : 'silent')).join(', ');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the sentinels do not watch the primary and its replica after ${WATCH_TIMEOUT_MS} ms (flags/replicas/other sentinels: ${last})`);
}
