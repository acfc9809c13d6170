/**
 * Jest global setup: makes Redis and PostgreSQL available to the run, or
 * says loudly that their suites will skip.
 *
 * Redis: `REDIS_URL` when set (it must answer PING); else a private
 * redis-server from PATH on a free loopback port. Beside it, for the suites
 * that run on every Redis topology (redis-topology.ts), a private Redis
 * Cluster (six nodes: three primaries, three replicas) and a private
 * Sentinel setup (a primary, a replica, three sentinels), started at the
 * same time — or the ones `REDIS_CLUSTER_NODES` / `REDIS_SENTINEL_NODES`
 * (+ `REDIS_SENTINEL_NAME`) name. PostgreSQL: a fresh
 * database on the server of `PG_URL` (default: user postgres on
 * 127.0.0.1:5432). What workers need goes into `process.env`, which jest
 * workers inherit: `REDIS_URL`, `REDIS_CLUSTER_NODES`, `REDIS_SENTINEL_NODES`,
 * `REDIS_SENTINEL_NAME`, `PG_URL`, and the skip flags of services.ts.
 *
 * With `CI=true` a missing service fails the run instead of skipping.
 */
import { createTestDatabase, DEFAULT_PG_ADMIN_URL, type TestDatabase } from './pg-database';
import { startRedisCluster, type RedisClusterServers } from './redis-cluster-servers';
import { SENTINEL_PRIMARY_NAME, startRedisSentinels, type RedisSentinelServers } from './redis-sentinel-servers';
import { findOnPath, pingRedis, startRedisServer, type RedisServer } from './redis-server';
import { SKIP_CLUSTER_ENV, SKIP_PG_ENV, SKIP_REDIS_ENV, SKIP_SENTINEL_ENV } from './services';

/** What global teardown has to stop or drop, and the environment to restore. */
export interface RunningServices {
  redisServer?: RedisServer;
  redisCluster?: RedisClusterServers;
  redisSentinels?: RedisSentinelServers;
  pgDatabase?: TestDatabase;
  /** `PG_URL` as it was before setup replaced it with the test database's. */
  originalPgUrl?: string;
}

/** Outcome of looking for one service: ready, or why not. */
type Availability = { ok: true } | { ok: false; reason: string };

/** Key under which setup hands {@link RunningServices} to teardown (same process). */
const STATE_KEY = '__expressSessionManagementTestServices__';

/** Sets up both services; throws under `CI=true` when one is missing. */
export default async function globalSetup(): Promise<void> {
  const state: RunningServices = {};
  (globalThis as Record<string, unknown>)[STATE_KEY] = state;

  const [redis, cluster, sentinel, pg] = await Promise.all([setUpRedis(state), setUpCluster(state), setUpSentinel(state), setUpPg(state)]);
  const missing: string[] = [];
  if (!redis.ok) missing.push(`Redis: ${redis.reason}`);
  if (!cluster.ok) missing.push(`Redis Cluster: ${cluster.reason}`);
  if (!sentinel.ok) missing.push(`Redis Sentinel: ${sentinel.reason}`);
  if (!pg.ok) missing.push(`PostgreSQL: ${pg.reason}`);
  if (missing.length === 0) return;

  if (process.env.CI === 'true') {
    await stopServices(state);
    throw new Error(`CI=true and test services are unavailable (suites may not skip in CI):\n  ${missing.join('\n  ')}`);
  }
  if (!redis.ok) process.stderr.write(`\n!!! SKIPPING Redis suites: ${oneLine(redis.reason)}\n`);
  if (!cluster.ok) process.stderr.write(`\n!!! SKIPPING Redis Cluster suites: ${oneLine(cluster.reason)}\n`);
  if (!sentinel.ok) process.stderr.write(`\n!!! SKIPPING Redis Sentinel suites: ${oneLine(sentinel.reason)}\n`);
  if (!pg.ok) process.stderr.write(`\n!!! SKIPPING PostgreSQL suites: ${oneLine(pg.reason)}\n`);
}

/** Stops what setup started; used by global teardown and by a failing setup. */
export async function stopServices(state: RunningServices | undefined = runningServices()): Promise<void> {
  if (!state) return;
  const { redisServer, redisCluster, redisSentinels, pgDatabase } = state;
  state.redisServer = undefined;
  state.redisCluster = undefined;
  state.redisSentinels = undefined;
  state.pgDatabase = undefined;
  if (redisCluster) {
    await redisCluster.stop();
    delete process.env.REDIS_CLUSTER_NODES;
  }
  if (redisSentinels) {
    await redisSentinels.stop();
    delete process.env.REDIS_SENTINEL_NODES;
    delete process.env.REDIS_SENTINEL_NAME;
  }
  if (redisServer) {
    await redisServer.stop();
    delete process.env.REDIS_URL;
  }
  if (pgDatabase) {
    await pgDatabase.drop();
    restoreEnv('PG_URL', state.originalPgUrl);
  }
}

/** The services setup recorded in this process, if any. */
function runningServices(): RunningServices | undefined {
  return (globalThis as Record<string, unknown>)[STATE_KEY] as RunningServices | undefined;
}

/** 1. the caller's REDIS_URL, 2. else a redis-server from PATH, 3. else skip. */
async function setUpRedis(state: RunningServices): Promise<Availability> {
  delete process.env[SKIP_REDIS_ENV];
  const given = process.env.REDIS_URL;
  if (given) {
    try {
      await pingRedis(given);
      return { ok: true };
    } catch (err) {
      return skipRedis(`REDIS_URL=${redactUrl(given)} does not answer PING (${message(err)}) — start it or unset REDIS_URL`);
    }
  }
  const binary = findOnPath('redis-server');
  if (!binary) return skipRedis('no REDIS_URL and no redis-server on PATH — install redis-server or set REDIS_URL');
  try {
    state.redisServer = await startRedisServer(binary);
  } catch (err) {
    return skipRedis(`${binary} failed to start (${message(err)}) — fix it or set REDIS_URL`);
  }
  process.env.REDIS_URL = state.redisServer.url;
  return { ok: true };
}

/** 1. the caller's REDIS_CLUSTER_NODES, 2. else a private six-node cluster, 3. else skip. */
async function setUpCluster(state: RunningServices): Promise<Availability> {
  delete process.env[SKIP_CLUSTER_ENV];
  const given = process.env.REDIS_CLUSTER_NODES;
  if (given) return pingGiven(SKIP_CLUSTER_ENV, 'REDIS_CLUSTER_NODES', given);
  const binary = findOnPath('redis-server');
  const cli = findOnPath('redis-cli');
  if (!binary || !cli) return skip(SKIP_CLUSTER_ENV, 'no REDIS_CLUSTER_NODES and no redis-server and redis-cli on PATH — install them or set REDIS_CLUSTER_NODES');
  try {
    state.redisCluster = await startRedisCluster(binary, cli);
  } catch (err) {
    return skip(SKIP_CLUSTER_ENV, `a six-node cluster of ${binary} failed to start (${message(err)}) — fix it or set REDIS_CLUSTER_NODES`);
  }
  process.env.REDIS_CLUSTER_NODES = state.redisCluster.addresses.join(',');
  return { ok: true };
}

/** 1. the caller's REDIS_SENTINEL_NODES (+ REDIS_SENTINEL_NAME), 2. else a private primary, replica and three sentinels, 3. else skip. */
async function setUpSentinel(state: RunningServices): Promise<Availability> {
  delete process.env[SKIP_SENTINEL_ENV];
  const given = process.env.REDIS_SENTINEL_NODES;
  if (given) {
    if (!process.env.REDIS_SENTINEL_NAME) return skip(SKIP_SENTINEL_ENV, 'REDIS_SENTINEL_NODES is set but REDIS_SENTINEL_NAME (the primary\'s name) is not');
    return pingGiven(SKIP_SENTINEL_ENV, 'REDIS_SENTINEL_NODES', given);
  }
  const binary = findOnPath('redis-server');
  if (!binary) return skip(SKIP_SENTINEL_ENV, 'no REDIS_SENTINEL_NODES and no redis-server on PATH — install it or set REDIS_SENTINEL_NODES');
  try {
    state.redisSentinels = await startRedisSentinels(binary);
  } catch (err) {
    return skip(SKIP_SENTINEL_ENV, `a Sentinel setup of ${binary} failed to start (${message(err)}) — fix it or set REDIS_SENTINEL_NODES`);
  }
  process.env.REDIS_SENTINEL_NODES = state.redisSentinels.addresses.join(',');
  process.env.REDIS_SENTINEL_NAME = SENTINEL_PRIMARY_NAME;
  return { ok: true };
}

/** Whether the first of the given `host:port` list answers PING; else skip with `flag`. */
async function pingGiven(flag: string, name: string, list: string): Promise<Availability> {
  const first = list.split(',')[0];
  try {
    await pingRedis(`redis://${first}`);
    return { ok: true };
  } catch (err) {
    return skip(flag, `${name}=${list} does not answer PING (${message(err)}) — start it or unset ${name}`);
  }
}

/** Creates the run's database on the server of PG_URL (or the default), or skips. */
async function setUpPg(state: RunningServices): Promise<Availability> {
  delete process.env[SKIP_PG_ENV];
  const adminUrl = process.env.PG_URL ?? DEFAULT_PG_ADMIN_URL;
  try {
    state.pgDatabase = await createTestDatabase(adminUrl);
  } catch (err) {
    process.env[SKIP_PG_ENV] = '1';
    const how = process.env.PG_URL ? 'fix PG_URL' : 'start PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres, or set PG_URL';
    return { ok: false, reason: `cannot create a test database at ${redactUrl(adminUrl)} (${message(err)}) — ${how}` };
  }
  state.originalPgUrl = process.env.PG_URL;
  process.env.PG_URL = state.pgDatabase.url;
  return { ok: true };
}

/** Marks Redis suites as skipped and says why. */
function skipRedis(reason: string): Availability {
  return skip(SKIP_REDIS_ENV, reason);
}

/** Sets the skip `flag` of services.ts and says why. */
function skip(flag: string, reason: string): Availability {
  process.env[flag] = '1';
  return { ok: false, reason };
}

/** Sets `name` back to `value`, deleting it when it was unset. */
function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/** `url` with any password replaced by `***`, for messages. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable URL>';
  }
}

/** `text` on one line: the skip notice must stay one loud line per service. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' | ');
}

/** The message of an error, whatever was thrown (AggregateError included). */
function message(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return message(err.errors[0]);
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
