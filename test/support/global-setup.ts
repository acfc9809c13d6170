/**
 * Jest global setup: makes Redis and PostgreSQL available to the run, or
 * says loudly that their suites will skip.
 *
 * Redis: `REDIS_URL` when set (it must answer PING); else a private
 * redis-server from PATH on a free loopback port. PostgreSQL: a fresh
 * database on the server of `PG_URL` (default: user postgres on
 * 127.0.0.1:5432). What workers need goes into `process.env`, which jest
 * workers inherit: `REDIS_URL`, `PG_URL`, and the skip flags of services.ts.
 *
 * With `CI=true` a missing service fails the run instead of skipping.
 */
import { createTestDatabase, DEFAULT_PG_ADMIN_URL, type TestDatabase } from './pg-database';
import { findOnPath, pingRedis, startRedisServer, type RedisServer } from './redis-server';
import { SKIP_PG_ENV, SKIP_REDIS_ENV } from './services';

/** What global teardown has to stop or drop, and the environment to restore. */
export interface RunningServices {
  redisServer?: RedisServer;
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

  const redis = await setUpRedis(state);
  const pg = await setUpPg(state);
  const missing: string[] = [];
  if (!redis.ok) missing.push(`Redis: ${redis.reason}`);
  if (!pg.ok) missing.push(`PostgreSQL: ${pg.reason}`);
  if (missing.length === 0) return;

  if (process.env.CI === 'true') {
    await stopServices(state);
    throw new Error(`CI=true and test services are unavailable (suites may not skip in CI):\n  ${missing.join('\n  ')}`);
  }
  if (!redis.ok) process.stderr.write(`\n!!! SKIPPING Redis suites: ${oneLine(redis.reason)}\n`);
  if (!pg.ok) process.stderr.write(`\n!!! SKIPPING PostgreSQL suites: ${oneLine(pg.reason)}\n`);
}

/** Stops what setup started; used by global teardown and by a failing setup. */
export async function stopServices(state: RunningServices | undefined = runningServices()): Promise<void> {
  if (!state) return;
  const { redisServer, pgDatabase } = state;
  state.redisServer = undefined;
  state.pgDatabase = undefined;
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
  process.env[SKIP_REDIS_ENV] = '1';
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
