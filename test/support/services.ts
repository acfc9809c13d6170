/**
 * The external services tests may use (Redis, PostgreSQL) and how a test file
 * reaches them.
 *
 * Global setup (`global-setup.ts`) decides, once per run, whether each
 * service is there and exports what workers need through the environment:
 * `REDIS_URL` (a redis-server it started, or the one the caller gave) and
 * `PG_URL` (a fresh database created for this run). When a service is
 * missing it sets `ESM_TEST_SKIP_REDIS` / `ESM_TEST_SKIP_PG` to `1` and the
 * suites written with {@link describeRedis} / {@link describePg} are skipped.
 */
import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { createClient } from 'redis';

/** Environment flag set to `1` by global setup when Redis suites must skip. */
export const SKIP_REDIS_ENV = 'ESM_TEST_SKIP_REDIS';

/** Environment flag set to `1` by global setup when the Redis Cluster cases must skip (redis-topology.ts). */
export const SKIP_CLUSTER_ENV = 'ESM_TEST_SKIP_REDIS_CLUSTER';

/** Environment flag set to `1` by global setup when the Redis Sentinel cases must skip (redis-topology.ts). */
export const SKIP_SENTINEL_ENV = 'ESM_TEST_SKIP_REDIS_SENTINEL';

/** Environment flag set to `1` by global setup when PostgreSQL suites must skip. */
export const SKIP_PG_ENV = 'ESM_TEST_SKIP_PG';

/** A node-redis client (redis 6, the dev dependency) on `url`, not connected. */
function newRedisClient(url: string) {
  return createClient({ url });
}

/** A connected redis client, as returned by {@link createRedisClient}. */
export type TestRedisClient = ReturnType<typeof newRedisClient>;

/** Whether a Redis server is available to this run (`REDIS_URL`). */
export function redisAvailable(): boolean {
  return Boolean(process.env.REDIS_URL) && process.env[SKIP_REDIS_ENV] !== '1';
}

/** Whether a PostgreSQL test database is available to this run (`PG_URL`). */
export function pgAvailable(): boolean {
  return Boolean(process.env.PG_URL) && process.env[SKIP_PG_ENV] !== '1';
}

/** `describe` when Redis is available, a skipped `describe` otherwise. */
export function describeRedis(name: string, fn: () => void): void {
  const describeIfAvailable = redisAvailable() ? describe : describe.skip;
  describeIfAvailable(name, fn);
}

/** `describe` when PostgreSQL is available, a skipped `describe` otherwise. */
export function describePg(name: string, fn: () => void): void {
  const describeIfAvailable = pgAvailable() ? describe : describe.skip;
  describeIfAvailable(name, fn);
}

/** A redis client connected to `REDIS_URL`; the caller must `close()` it. */
export async function createRedisClient(): Promise<TestRedisClient> {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: guard the suite with describeRedis()');
  const client = newRedisClient(url);
  // Without a listener a connection error would crash the worker; commands
  // still reject on their own, which is what tests see.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** A `pg` pool on the run's test database; the caller must `end()` it. */
export function createPgPool(): Pool {
  const connectionString = process.env.PG_URL;
  if (!connectionString) throw new Error('PG_URL is not set: guard the suite with describePg()');
  return new Pool({ connectionString, max: 4 });
}

/**
 * A key prefix (or id prefix) no other test file, jest worker or concurrent
 * run uses, e.g. `esm-test:store-contract:4711:1:9f2c1a0b:`. Keys under it
 * can be listed and deleted without touching anyone else's.
 */
export function uniquePrefix(name: string): string {
  const worker = process.env.JEST_WORKER_ID ?? '0';
  return `esm-test:${name}:${process.pid}:${worker}:${randomBytes(4).toString('hex')}:`;
}

/** The keys under `prefix` (a SCAN: never KEYS on a shared server). */
export async function redisKeysUnder(client: TestRedisClient, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) found.push(...keys);
  return found;
}

/** Deletes every key under `prefix` (never anything else: no FLUSHALL/FLUSHDB). */
export async function deleteRedisKeys(client: TestRedisClient, prefix: string): Promise<number> {
  if (!prefix) throw new Error('deleteRedisKeys needs a non-empty prefix');
  let deleted = 0;
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) {
    if (keys.length > 0) deleted += await client.del(keys);
  }
  return deleted;
}
