/**
 * The coordinator for several processes that share one Redis (a primary, or
 * a standalone server; not Redis Cluster, whose hash slots would split the
 * index from the entries).
 *
 * Storage details (`P` = `prefix`, default `esm:`; `K` = session key, which
 * is `<id>` for the default app and `<id>:<app>` for others):
 *
 * - `PsK` hash (e.g. `esm:s:<id>`) — `accessed` (start of the last request, ms), `deadline`
 *   (idle deadline, ms; `-1` never), `store` (when the store's copy expires,
 *   ms; absent when unknown), `active` (requests using it now), `claimed`
 *   (`1` once claimed for destruction). Expires by
 *   itself at `store` (PEXPIREAT), so nothing outlives the session's record.
 * - `PlockK` string (e.g. `esm:lock:<id>`) — serial access across processes:
 *   the holder's token, with a TTL renewed while held.
 * - `Pexpiry` sorted set — the expiry index: member `K`, score = deadline. Never
 *   -expiring sessions are not in it.
 *
 * Commands: every operation is one EVALSHA of a script below (loaded with
 * SCRIPT LOAD on first use, re-loaded on NOSCRIPT), so each is atomic:
 * - enter: HMGET, HSET accessed + active (nothing when claimed, nor, with
 *   strict expiry, when idle past its deadline)
 * - leave: HMGET, HSET active (+ store, + deadline when idle again), ZADD (or
 *   ZREM), PEXPIREAT when the store's expiry moved
 * - claim: HMGET, then only if due, unclaimed and idle: HSET claimed 1, ZREM
 *   (the claimed hash is a tombstone: requests no longer use the session);
 *   ZREM alone when the hash is gone (it expired by itself: a stale member)
 * - lock: SET PlockK token NX PX ttl; renew: GET + PEXPIRE; unlock: GET + DEL
 *   (compare-and-delete: only the owner's token deletes)
 * - inspect: HMGET
 * - due: ZRANGEBYSCORE Pexpiry -inf now LIMIT 0 n
 * - remove: DEL (its reply decides the one caller that announces), ZREM
 *
 * A request costs two scripts: `enter` (sent in the same tick as the store's
 * GET, so node-redis pipelines them into one round trip) and `leave`.
 */
import { createHash } from 'node:crypto';
import type { AccessEntry, Coordinator, LeaveUpdate } from './coordinator';
import { StoreUnavailableError } from './errors';

/** The part of a node-redis v5 client the coordinator uses. */
export interface RedisScriptClient {
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  scriptLoad(script: string): Promise<unknown>;
}

/** Options of {@link redisCoordinator}. */
export interface RedisCoordinatorOptions {
  /** A connected node-redis v5 client (yours: the coordinator never quits it). */
  client: RedisScriptClient;
  /** Prefix of every key the coordinator writes. @default 'esm:' */
  prefix?: string;
}

const ENTER = `
local before = redis.call('HMGET', KEYS[1], 'accessed', 'deadline', 'store', 'active', 'claimed')
if not before[1] then return false end
if before[5] == '1' then return before end
local active = tonumber(before[4] or '0')
if ARGV[2] == '1' and active == 0 then
  local deadline = tonumber(before[2] or '-1')
  if deadline >= 0 and deadline <= tonumber(ARGV[1]) then return before end
end
redis.call('HSET', KEYS[1], 'accessed', ARGV[1], 'active', active + 1)
return before`;

const LEAVE = `
local now, timeout, store, entered, accessed, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local e = redis.call('HMGET', KEYS[1], 'accessed', 'claimed', 'active', 'store')
if not e[1] then
  if entered == '1' then return 0 end
  e = { accessed, false, '1', false }
  redis.call('HSET', KEYS[1], 'accessed', accessed, 'deadline', -1)
elseif e[2] == '1' then return 0
elseif entered == '0' then
  redis.call('HSET', KEYS[1], 'accessed', accessed)
end
local active = math.max(0, tonumber(e[3] or '0') - 1)
local fields = { 'active', active }
if store == '' then
  if e[4] then redis.call('HDEL', KEYS[1], 'store') end
elseif store ~= e[4] then
  table.insert(fields, 'store'); table.insert(fields, store)
end
if active == 0 and timeout ~= '' then
  if timeout == '-1' then
    table.insert(fields, 'deadline'); table.insert(fields, -1)
    redis.call('ZREM', KEYS[2], member)
  else
    local deadline = tonumber(now) + tonumber(timeout)
    table.insert(fields, 'deadline'); table.insert(fields, deadline)
    redis.call('ZADD', KEYS[2], deadline, member)
  end
end
redis.call('HSET', KEYS[1], unpack(fields))
if store ~= '' and store ~= e[4] then redis.call('PEXPIREAT', KEYS[1], store) end
return 1`;

const CLAIM = `
local e = redis.call('HMGET', KEYS[1], 'accessed', 'deadline', 'store', 'active', 'claimed')
if not e[1] then
  -- The hash expired by itself (no reaper ran within the grace): drop its stale index member.
  redis.call('ZREM', KEYS[2], ARGV[3])
  return false
end
if e[5] == '1' then return false end
if ARGV[1] ~= 'Infinity' then
  local deadline = tonumber(e[2])
  if deadline == nil or deadline < 0 or deadline > tonumber(ARGV[1]) then return false end
end
local allowed = 0
if ARGV[2] == '1' then allowed = 1 end
if tonumber(e[4] or '0') > allowed then return false end
redis.call('HSET', KEYS[1], 'claimed', 1)
redis.call('ZREM', KEYS[2], ARGV[3])
return e`;

const INSPECT = `
local e = redis.call('HMGET', KEYS[1], 'accessed', 'deadline', 'store', 'active', 'claimed')
if not e[1] then return false end
return e`;

const LOCK = `return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])`;

const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])`;

const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const DUE = `return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])`;

const REMOVE = `
local removed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return removed`;

/** A Lua script with its SHA1, loaded into Redis on first use. */
class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

const SCRIPTS = {
  enter: new Script(ENTER),
  leave: new Script(LEAVE),
  claim: new Script(CLAIM),
  inspect: new Script(INSPECT),
  lock: new Script(LOCK),
  renew: new Script(RENEW),
  unlock: new Script(UNLOCK),
  due: new Script(DUE),
  remove: new Script(REMOVE),
};

/** Coordinator state in Redis; see the storage details above. */
export class RedisCoordinator implements Coordinator {
  private readonly client: RedisScriptClient;
  private readonly prefix: string;
  private readonly indexKey: string;

  constructor(options: RedisCoordinatorOptions) {
    this.client = options.client;
    this.prefix = options.prefix ?? 'esm:';
    this.indexKey = `${this.prefix}expiry`;
  }

  async enter(key: string, now: number, strictExpiry = false): Promise<AccessEntry | undefined> {
    const args = [String(now), strictExpiry ? '1' : '0'];
    return toAccessEntry(await this.run('enter', SCRIPTS.enter, [this.entryKey(key)], args));
  }

  async acquireLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.run('lock', SCRIPTS.lock, [this.lockKey(key)], [token, String(ttlMs)])) === 'OK';
  }

  async renewLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.run('renew', SCRIPTS.renew, [this.lockKey(key)], [token, String(ttlMs)])) === 1;
  }

  async releaseLock(key: string, token: string): Promise<void> {
    await this.run('unlock', SCRIPTS.unlock, [this.lockKey(key)], [token]);
  }

  private lockKey(key: string): string {
    return `${this.prefix}lock:${key}`;
  }

  async inspect(key: string): Promise<AccessEntry | undefined> {
    return toAccessEntry(await this.run('inspect', SCRIPTS.inspect, [this.entryKey(key)], []));
  }

  async claim(key: string, now: number, entered: boolean): Promise<AccessEntry | undefined> {
    const keys = [this.entryKey(key), this.indexKey];
    return toAccessEntry(await this.run('claim', SCRIPTS.claim, keys, [String(now), entered ? '1' : '0', key]));
  }

  async due(now: number, limit: number): Promise<string[]> {
    return (await this.run('due', SCRIPTS.due, [this.indexKey], [String(now), String(limit)])) as string[];
  }

  async leave(key: string, update: LeaveUpdate): Promise<void> {
    const timeout = update.timeoutMs === undefined ? '' : update.timeoutMs === null ? '-1' : String(update.timeoutMs);
    await this.run('leave', SCRIPTS.leave, [this.entryKey(key), this.indexKey], [
      String(update.now),
      timeout,
      update.storeExpires === null ? '' : String(update.storeExpires),
      update.entered ? '1' : '0',
      String(update.lastAccessedTime),
      key,
    ]);
  }

  async remove(key: string): Promise<boolean> {
    return Number(await this.run('remove', SCRIPTS.remove, [this.entryKey(key), this.indexKey], [key])) === 1;
  }

  private entryKey(key: string): string {
    return `${this.prefix}s:${key}`;
  }

  /** EVALSHA, loading the script when Redis does not know it yet. */
  private async run(operation: string, script: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      try {
        return await this.client.evalSha(script.sha, { keys, arguments: args });
      } catch (error) {
        if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
        await this.client.scriptLoad(script.source);
        return await this.client.evalSha(script.sha, { keys, arguments: args });
      }
    } catch (error) {
      throw new StoreUnavailableError(`coordinator ${operation}`, error);
    }
  }
}

/** An entry from a script's HMGET reply (accessed, deadline, store, active, claimed), or `undefined`. */
function toAccessEntry(reply: unknown): AccessEntry | undefined {
  if (!Array.isArray(reply)) return undefined;
  const [accessed, deadline, store, active, claimed] = reply as (string | null)[];
  return {
    lastAccessedTime: Number(accessed),
    deadline: deadline === null || Number(deadline) < 0 ? null : Number(deadline),
    storeExpires: store === null ? null : Number(store),
    active: Number(active ?? 0),
    claimed: claimed === '1',
  };
}

/** The coordinator for a cluster of processes sharing one Redis. */
export function redisCoordinator(options: RedisCoordinatorOptions): RedisCoordinator {
  if (!options || typeof options.client?.evalSha !== 'function') {
    throw new TypeError('redisCoordinator({ client }): client must be a connected node-redis v5 client');
  }
  return new RedisCoordinator(options);
}
