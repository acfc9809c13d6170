/**
 * The coordinator for several processes that share Redis: one server, a
 * primary watched by Sentinel, or a Redis Cluster.
 *
 * Storage details (`P` = `prefix`, default `esm:`; `K` = session key, which
 * is `<id>` for the default app and `<id>:<app>` for others; `{T}` = the hash
 * tag of the session's shard — `shards` of them, default 16, the shard from
 * the session's id, the tags chosen to spread evenly over a cluster's slots;
 * see `redis-keys.ts`). Every key of one session and the indexes of its
 * shard share `{T}`, so each script touches one hash slot.
 *
 * - `P{T}s:K` hash — `accessed` (start of the last request, ms), `deadline`
 *   (idle deadline, ms; `-1` never), `store` (when the store's copy expires,
 *   ms; absent when unknown), `claimed` (`1` once claimed for destruction),
 *   `killed` (`1` once killed by an administrator; also claimed), `principal`
 *   (the user it is bound to), `ver` (how many times its record was written
 *   through the colocated scripts), and `r:<token>` for each request using it
 *   now: when that request's lease runs out (ms; `leaseMs` after its enter or
 *   its last renewal). A field whose lease ran out no longer counts: its leave
 *   was lost (docs/architecture.md, "Faults"). Expires by itself at `store` (PEXPIREAT), so
 *   nothing outlives the session's record; once claimed or killed, 10 s
 *   later (`MARK_MARGIN_MS` in scripts.lua), so the mark keeps requests off a
 *   record the store expires a little late (its TTL counts from its own
 *   write, rounded up to seconds).
 * - `P{T}lock:K` string — serial access across processes: the holder's
 *   token, with a TTL renewed while held.
 * - `P{T}commit:K` string — held while one process merges a request's changes
 *   onto the session's record (read, merge, write) when the records are not
 *   colocated; the holder's token, with a TTL of twice `storeTimeout`.
 * - `P{T}expiry` sorted set — a shard's expiry index: member `K`, score =
 *   deadline. Never-expiring sessions are not in it.
 * - `P{T}sessions` sorted set — a shard's top-level session keys, score 0, so
 *   the admin listing pages through the shards in key order (ZRANGEBYLEX
 *   after a cursor, merged).
 * - `P{T}principal:<user>` set — the keys of a shard's sessions bound to a
 *   user; expires with the longest-lived of them.
 * - `Pkill` pub/sub channel — the key of every session killed, so that the
 *   process running a request of it aborts the request's `signal`. A
 *   single-server client listens on a connection of its own
 *   (`client.duplicate()`); a cluster or sentinel client on its own pub/sub
 *   connection (a cluster spreads PUBLISH to every node).
 * - Colocated records (`colocate`): connect-redis's `<its prefix>K` string,
 *   read and written by the same scripts (one server or Sentinel, the store
 *   on this very client: JSON, `EX` from `cookie.expires`).
 *
 * Commands: every operation is one EVALSHA of a script of `scripts.lua`
 * (EVAL when the node does not know it yet), so each is atomic, and bounded
 * by the manager's `storeTimeout` (`setCallTimeout`):
 * - enter: HMGET, HGETALL, HSET accessed + r:<token> (nothing when claimed,
 *   nor, with strict expiry, when idle past its deadline); load: the same
 *   and GET of the record
 * - leave: HMGET, HDEL r:<token>, HGETALL (+ HDEL of leases run out), HSET (store, deadline when idle
 *   again), ZADD (or ZREM), PEXPIREAT when the store's expiry moved; for a
 *   new entry ZADD P{T}sessions; for a newly bound user SADD (+ SREM from the
 *   previous user's); write and touch: SET record EX / EXPIRE record, then
 *   leave, and HINCRBY ver
 * - claim: HMGET, HGETALL, then only if due, unclaimed and idle: HSET claimed
 *   1, ZREM (the claimed hash is a tombstone: requests no longer use the
 *   session); ZREM alone when the hash is gone (a stale member)
 * - lock: SET lock token NX PX ttl; renew: GET + PEXPIRE; unlock: GET + DEL
 *   (compare-and-delete: only the owner's token deletes); the commit lock
 *   the same on P{T}commit:K
 * - kill: HMGET, HGETALL, then only if unclaimed: HSET claimed 1 killed 1,
 *   ZREM, DEL the lock (requests queued behind it go on), PUBLISH Pkill K
 * - inspect: HMGET, HGETALL; read: HMGET, GET, EXISTS
 * - lease: HEXISTS r:<token>, HSET r:<token> (a long request renews its lease)
 * - due: ZRANGEBYSCORE P{T}expiry -inf now LIMIT 0 n, on every shard
 * - remove: HGET principal, (DEL record,) DEL (its reply decides the one
 *   caller that announces), ZREM from both sorted sets, SREM from the user's
 * - keys: ZRANGEBYLEX P{T}sessions, on every shard; count: ZCARD, every
 *   shard; keysOf: SMEMBERS, every shard
 * - with `replicas: n`, a claim or kill that changed the entry is followed by
 *   WAIT n on that node, before the destruction is announced.
 *
 * A read costs one script before its response (`load`, or `enter` sent in the
 * same tick as the store's GET) and one after it (`leave`); a write one
 * before it (`write`, with the leave) when the records are colocated.
 */
import createDebug from 'debug';
import { systemClock, type Clock } from '../../clock';
import { withinBound } from '../../storage/call-bound';
import { isSubsessionKey } from '../../storage/session-key';
import { ConfigurationError } from '../../errors';
import type { AccessEntry, ColocatedRecords, Coordinator, KillSubscription, LeaveUpdate } from '../coordinator';
import { RedisConnection, type RedisScriptClient } from './redis-connection';
import { toAccessEntry } from './redis-entry';
import { RedisKeys } from './redis-keys';
import { RedisRecords } from './redis-records';
import { script, type ScriptName } from './redis-scripts';

const debug = createDebug('express-session-management:redis');

export type { RedisClusterClient, RedisScriptClient, RedisSentinelClient, RedisSingleClient, RedisSubscriber } from './redis-connection';

/** Options of {@link redisCoordinator}. */
export interface RedisCoordinatorOptions {
  /**
   * A connected node-redis client (5 or 6): `createClient`, `createCluster`
   * or `createSentinel`. Yours: the coordinator never closes it.
   */
  client: RedisScriptClient;
  /** Prefix of every key the coordinator writes. @default 'esm:' */
  prefix?: string;
  /**
   * How many shards the indexes are split into (each a hash tag, so a
   * cluster spreads them over its nodes). Fixed for a deployment: every
   * process must use the same, and changing it orphans the indexes. 1–1024.
   * @default 16
   */
  shards?: number;
  /**
   * Replicas that must have a claim or a kill (`WAIT`, bounded by
   * `storeTimeout`) before its `sessionDestroyed` is announced. Without it a
   * primary that fails right after a claim can hand the same session to a
   * second reaper through a promoted replica that never saw the claim.
   * @default 0
   */
  replicas?: number;
}

/** How long a call may take until a manager sets its `storeTimeout` (the option's default). */
const DEFAULT_CALL_TIMEOUT_MS = 5000;

/** How long a request counts as using a session after its enter or its last lease renewal. */
export const REQUEST_LEASE_MS = 60_000;

/** Coordinator state in Redis; see the storage details above. */
export class RedisCoordinator implements Coordinator {
  private readonly connection: RedisConnection;
  private readonly layout: RedisKeys;
  private readonly replicas: number;
  private callTimeoutMs = DEFAULT_CALL_TIMEOUT_MS;
  readonly leaseMs = REQUEST_LEASE_MS;
  /** Leases are counted on the manager's clock (`useClock`). */
  private clock: Clock = systemClock;
  private readonly killListeners = new Set<(key: string) => void>();
  /** The kill channel while anyone listens. */
  private channel: KillSubscription | undefined;

  constructor(options: RedisCoordinatorOptions) {
    this.connection = new RedisConnection(options.client);
    this.connection.setTimeout(DEFAULT_CALL_TIMEOUT_MS);
    this.layout = new RedisKeys(options.prefix ?? 'esm:', options.shards ?? 16);
    this.replicas = options.replicas ?? 0;
  }

  /**
   * Bounds every call (the manager's `storeTimeout`): a call with no answer
   * within `ms` rejects with `StoreUnavailableError`, and its command leaves
   * the client's offline queue, so a Redis outage never makes a request hang
   * nor piles commands up to be sent late.
   */
  setCallTimeout(ms: number): void {
    this.callTimeoutMs = ms;
    this.connection.setTimeout(ms);
  }

  useClock(clock: Clock): void {
    this.clock = clock;
  }

  async enter(key: string, now: number, strictExpiry: boolean, request: string): Promise<AccessEntry | undefined> {
    return toAccessEntry(await this.run('enter', [this.layout.entry(key)], this.enterArgs(now, strictExpiry, request)));
  }

  async inspect(key: string): Promise<AccessEntry | undefined> {
    return toAccessEntry(await this.run('inspect', [this.layout.entry(key)], [String(this.clock.now())]));
  }

  async renewLease(key: string, request: string, now: number): Promise<void> {
    await this.run('lease', [this.layout.entry(key)], [request, String(now + this.leaseMs)]);
  }

  async leave(key: string, update: LeaveUpdate): Promise<boolean> {
    return Number(await this.run('leave', this.leaveKeys(key, update), this.leaveArgs(key, update))) === 2;
  }

  async remove(key: string): Promise<boolean> {
    return Number(await this.run('remove', this.removeKeys(key), this.removeArgs(key))) === 1;
  }

  async claim(key: string, now: number, entered: boolean): Promise<AccessEntry | undefined> {
    const layout = this.layout;
    const keys = [layout.entry(key), layout.expiry(layout.shardOf(key))];
    const claimed = toAccessEntry(await this.run('claim', keys, [String(now), entered ? '1' : '0', key, String(this.clock.now())]));
    if (claimed) await this.replicate(key);
    return claimed;
  }

  async due(now: number, limit: number): Promise<string[]> {
    const layout = this.layout;
    const found = (await Promise.all(
      layout.allShards().map((shard) => this.run('due', [layout.expiry(shard)], [String(now), String(limit)])),
    )) as string[][];
    return roundRobin(found, limit);
  }

  async acquireLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.run('lock', [this.layout.lock(key)], [token, String(ttlMs)])) === 'OK';
  }

  async renewLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.run('renew', [this.layout.lock(key)], [token, String(ttlMs)])) === 1;
  }

  async releaseLock(key: string, token: string): Promise<void> {
    await this.run('unlock', [this.layout.lock(key)], [token]);
  }

  async lockForCommit(key: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.run('lock', [this.layout.commit(key)], [token, String(ttlMs)])) === 'OK';
  }

  async unlockAfterCommit(key: string, token: string): Promise<void> {
    await this.run('unlock', [this.layout.commit(key)], [token]);
  }

  async kill(key: string): Promise<AccessEntry | undefined> {
    const layout = this.layout;
    const keys = [layout.entry(key), layout.expiry(layout.shardOf(key)), layout.lock(key)];
    const before = toAccessEntry(await this.run('kill', keys, [key, layout.killChannel, String(this.clock.now())]));
    if (before && !before.claimed) await this.replicate(key);
    return before;
  }

  onKill(listener: (key: string) => void): KillSubscription {
    const own = (key: string) => listener(key);
    this.killListeners.add(own);
    const channel = (this.channel ??= this.connection.subscribe(this.layout.killChannel, (key) => {
      for (const heard of this.killListeners) heard(key);
    }));
    let closed = false;
    return {
      ready: channel.ready,
      close: async () => {
        if (closed) return;
        closed = true;
        this.killListeners.delete(own);
        if (this.killListeners.size > 0 || this.channel !== channel) return;
        this.channel = undefined;
        await channel.close();
      },
    };
  }

  /** Top-level keys after `after`: the first `limit` of every shard's, merged in key order. */
  async keys(after: string | null, limit: number): Promise<string[]> {
    const layout = this.layout;
    const from = after === null ? '-' : `(${after}`;
    const pages = (await Promise.all(
      layout.allShards().map((shard) => this.run('keys', [layout.sessions(shard)], [from, String(limit)])),
    )) as string[][];
    return pages.flat().sort().slice(0, limit);
  }

  async count(): Promise<number> {
    const layout = this.layout;
    const counts = await Promise.all(layout.allShards().map((shard) => this.run('count', [layout.sessions(shard)], [])));
    return counts.reduce<number>((sum, n) => sum + Number(n), 0);
  }

  async keysOf(principal: string): Promise<string[]> {
    const layout = this.layout;
    const sets = (await Promise.all(
      layout.allShards().map((shard) => this.run('members', [layout.principalPrefix(shard) + principal], [])),
    )) as string[][];
    return sets.flat().sort();
  }

  /**
   * The records of `store` reached in the same scripts as the entries, when
   * it is connect-redis on this coordinator's own client (one server or
   * Sentinel; a cluster keeps them in another slot), keeping JSON records
   * with the TTL of their `cookie.expires` (its defaults): reads then cost
   * one round trip and two commands, writes one round trip.
   */
  colocate(store: object): ColocatedRecords | undefined {
    const candidate = store as { client?: unknown; prefix?: unknown; serializer?: unknown; ttl?: unknown; disableTTL?: unknown; disableTouch?: unknown };
    if (this.connection.clustered || candidate.client !== this.connection.client) return undefined;
    if (typeof candidate.prefix !== 'string' || candidate.serializer !== JSON) return undefined;
    if (typeof candidate.ttl === 'function' || candidate.disableTTL || candidate.disableTouch) return undefined;
    const prefix = candidate.prefix;
    return new RedisRecords({
      run: (name, keys, args) => this.run(name, keys, args),
      entryKey: (key) => this.layout.entry(key),
      enterArgs: (now, strictExpiry, request) => this.enterArgs(now, strictExpiry, request),
      recordKey: (key) => prefix + key,
      leaveKeys: (key, update) => this.leaveKeys(key, update),
      leaveArgs: (key, update) => this.leaveArgs(key, update),
      removeKeys: (key) => this.removeKeys(key),
      removeArgs: (key) => this.removeArgs(key),
    });
  }

  /** ARGV of `enter` (and `load`): now, strict, the request's token, when its lease runs out. */
  private enterArgs(now: number, strictExpiry: boolean, request: string): string[] {
    return [String(now), strictExpiry ? '1' : '0', request, String(now + this.leaseMs)];
  }

  /** KEYS of `leave` (and of the scripts that leave too): entry, expiry index, session index, the user's set. */
  private leaveKeys(key: string, update: LeaveUpdate): string[] {
    const layout = this.layout;
    const shard = layout.shardOf(key);
    return [layout.entry(key), layout.expiry(shard), layout.sessions(shard), layout.principalPrefix(shard) + (update.principal ?? '')];
  }

  /** ARGV of `leave`, as scripts.lua lists them. */
  private leaveArgs(key: string, update: LeaveUpdate): string[] {
    const timeout = update.timeoutMs === undefined ? '' : update.timeoutMs === null ? '-1' : String(update.timeoutMs);
    return [
      String(update.now),
      timeout,
      update.storeExpires === null ? '' : String(update.storeExpires),
      update.entered ? '1' : '0',
      String(update.lastAccessedTime),
      key,
      update.principal ?? '',
      this.layout.principalPrefix(this.layout.shardOf(key)),
      isSubsessionKey(key) ? '0' : '1',
      update.request,
    ];
  }

  /** KEYS of `remove`: entry, expiry index, session index. */
  private removeKeys(key: string): string[] {
    const layout = this.layout;
    const shard = layout.shardOf(key);
    return [layout.entry(key), layout.expiry(shard), layout.sessions(shard)];
  }

  /** ARGV of `remove`: the member, the shard's principal prefix. */
  private removeArgs(key: string): string[] {
    return [key, this.layout.principalPrefix(this.layout.shardOf(key))];
  }

  /**
   * With `replicas`: waits (bounded by `storeTimeout`) until that many replicas
   * have what this connection just wrote for `key`. Fewer in time is not an
   * error — the destruction goes on, and the window it leaves is the one
   * documented for `replicas: 0`.
   */
  private async replicate(key: string): Promise<void> {
    if (this.replicas === 0) return;
    const acknowledged = await withinBound(
      this.connection.waitForReplicas(this.layout.entry(key), this.replicas, this.callTimeoutMs),
      this.callTimeoutMs + 1000,
      'coordinator wait',
    ).catch((error: unknown) => {
      debug('WAIT for %s failed: %O', key, error);
      return 0;
    });
    if (acknowledged < this.replicas) debug('%d of %d replicas had the claim of %s in time', acknowledged, this.replicas, key);
  }

  /** One call: a script of `scripts.lua`, within the call bound. */
  private run(name: ScriptName, keys: string[], args: string[]): Promise<unknown> {
    return withinBound(this.connection.run(script(name), keys, args), this.callTimeoutMs, `coordinator ${name}`);
  }
}

/** Up to `limit` of the lists' members, taken from each in turn: every shard gets its share of a sweep's batch. */
function roundRobin(lists: string[][], limit: number): string[] {
  const taken: string[] = [];
  for (let i = 0; taken.length < limit; i++) {
    let any = false;
    for (const list of lists) {
      if (i >= list.length) continue;
      any = true;
      taken.push(list[i]);
      if (taken.length === limit) break;
    }
    if (!any) break;
  }
  return taken;
}

/** The coordinator for processes sharing Redis (one server, Sentinel, or a cluster). */
export function redisCoordinator(options: RedisCoordinatorOptions): RedisCoordinator {
  const client = options?.client as unknown as Record<string, unknown> | undefined;
  if (!client || typeof client.evalSha !== 'function' || typeof client.eval !== 'function') {
    throw new TypeError('redisCoordinator({ client }): client must be a connected node-redis client (createClient, createCluster or createSentinel)');
  }
  const violations: string[] = [];
  const { shards, replicas } = options;
  if (shards !== undefined && (!Number.isInteger(shards) || shards < 1 || shards > 1024)) violations.push('redisCoordinator: shards must be a whole number from 1 to 1024');
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 0)) violations.push('redisCoordinator: replicas must be a whole number, 0 or more');
  if (violations.length > 0) throw new ConfigurationError(violations);
  return new RedisCoordinator(options);
}
