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
 * - `P{T}s:K` hash — `accessed` (start of the last request, ms), `deadline` (idle deadline, ms; `-1`
 *   never), `store` (when the store's copy expires, ms; absent when unknown), `claimed` (`1` once
 *   claimed for destruction), `claimer` (its token: a retry after a lost answer), `killed` (`1` once
 *   killed by an administrator; also claimed), `principal` (the user it is bound to), `ver` (how
 *   many times its record was written through the colocated scripts), `by` (the id of the write
 *   that made `ver`: a write merged onto one still in flight names it), and `r:<token>` for each
 *   request using it now — for each process using it, whose requests of one session stand as one
 *   (docs/architecture.md, "One standing per process") —: when that lease runs out (ms; `leaseMs`
 *   after its enter or its last renewal). A field whose lease ran out no longer counts: its leave was lost
 *   (docs/architecture.md, "Faults"). `rn`, `rmin`: how many `r:` fields, and no lease of theirs
 *   runs out before (ms). `next` (ms, `-1` never): the deadline a request left while others still
 *   used the session, applied by the leave that makes it idle (even one without a timeout: a request
 *   left in the background) or by a claim once the others' leases ran out. Expires by itself at
 *   `store` (PEXPIREAT), so nothing outlives the session's record; once claimed or killed, 10 s
 *   later (`MARK_MARGIN_MS` in scripts.lua), so the mark keeps requests off a record the store
 *   expires a little late (its TTL counts from its own write, rounded up to seconds).
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
 * - The caps' own keys (`P{a.<app>}live`, `P{u.<user>}user`): see `redis-caps.ts`.
 * - Colocated records (`colocate`): connect-redis's `<its prefix>K` string, read and written by the
 *   same scripts (one server or Sentinel, the store on this very client: JSON, `EX` from
 *   `cookie.expires`).
 *
 * Commands: every operation is one EVALSHA of a script of `scripts.lua` (EVAL when the node does not
 * know it yet), so each is atomic, and bounded by the manager's `storeTimeout` (`setCallTimeout`):
 * - enter: HMGET, HSET accessed r:<token> rn rmin (nothing when claimed, nor, with strict expiry,
 *   when idle past its deadline); load: the same and GET of the record. HGETALL (+ HSET rn rmin)
 *   only when `rmin` says a lease may have run out.
 * - leave: HMGET, HDEL r:<token> (and `next`, `store`), HSET (rn, store, deadline when idle again),
 *   ZADD (or ZREM), PEXPIREAT when the store's expiry moved; for a new entry ZADD P{T}sessions; for
 *   a newly bound user SADD (+ SREM from the previous user's). Leaves sent together share a
 *   script (`leave-batches.ts`). write and touch: SET record EX / EXPIRE record, then leave (write:
 *   once for each request of a group of commits, `ver` read and bumped with the leaves' HMGET and
 *   HSET)
 * - claim: HMGET (+ HGETALL as enter), then only if due, unclaimed and idle: HSET claimed 1 claimer
 *   <token>, ZREM; HGET claimer when already claimed (a retry), ZREM (the claimed hash is a
 *   tombstone: requests no longer use the session); ZREM alone when the hash is gone (a stale
 *   member)
 * - lock: SET lock token NX PX ttl; renew: GET + PEXPIRE; unlock: GET + DEL (compare-and-delete:
 *   only the owner's token deletes); the commit lock the same on P{T}commit:K
 * - kill: HMGET, then only if unclaimed: HSET claimed 1 killed 1, ZREM, DEL the lock (requests
 *   queued behind it go on), PUBLISH Pkill K
 * - inspect: HMGET; read: HMGET, GET, EXISTS
 * - lease: HEXISTS r:<token>, HSET r:<token> (a long request renews its lease)
 * - due: ZRANGEBYSCORE P{T}expiry -inf now LIMIT 0 n, on every shard
 * - remove: HGET principal, (DEL record,) DEL (its reply decides the one caller that announces),
 *   ZREM from both sorted sets, SREM from the user's
 * - keys: ZRANGEBYLEX P{T}sessions, on every shard; count: ZCARD, every shard; keysOf: SMEMBERS,
 *   every shard
 * - with `replicas: n`, a claim or kill that changed the entry is followed by WAIT n on that node
 *   (one at a time per node, shared by the claims sent meanwhile, bounded by a quarter of
 *   `storeTimeout`; `replica-waits.ts`), before the destruction is announced.
 *
 * A read costs one script before its response (`load`, or `enter` sent in the same tick as the
 * store's GET) and a share of one after it (`leave`); a write one before it (`write`, with the
 * leave) when the records are colocated, shared by the writes of one session grouped in one commit
 * turn.
 */
import { systemClock, type Clock } from '../../clock';
import { Instruments, timed } from '../../instruments';
import { withinBound } from '../../storage/call-bound';
import type { AccessEntry, ColocatedRecords, Coordinator, KillSubscription, LeaveUpdate } from '../coordinator';
import { RedisConnection } from './redis-connection';
import { checkRedisCoordinatorOptions, type RedisCoordinatorOptions } from './redis-coordinator-options';
import { toAccessEntry } from './redis-entry';
import { RedisKeys, roundRobin } from './redis-keys';
import { ReplicaWaits } from './replica-waits';
import { colocatedRecords } from './redis-records';
import { LeaveBatches } from './leave-batches';
import { RedisCaps } from './redis-caps';
import { script, type ScriptName } from './redis-scripts';
import { ScriptArguments } from './script-arguments';

export type { RedisClusterClient, RedisScriptClient, RedisSentinelClient, RedisSingleClient, RedisSubscriber } from './redis-connection';
export type { RedisCoordinatorOptions } from './redis-coordinator-options';

/** How long a call may take until a manager sets its `storeTimeout` (the option's default). */
const DEFAULT_CALL_TIMEOUT_MS = 5000;

/** How long a request counts as using a session after its enter or its last lease renewal. */
export const REQUEST_LEASE_MS = 60_000;

/** Coordinator state in Redis; see the storage details above. */
export class RedisCoordinator implements Coordinator {
  private readonly connection: RedisConnection;
  private readonly layout: RedisKeys;
  /** KEYS and ARGV of the scripts that enter, leave and remove. */
  private readonly args: ScriptArguments;
  private readonly replicas: number;
  private readonly replicaWaits: ReplicaWaits;
  /** Leaves of requests ending in the same turn, sent in one script (`leave-batches.ts`). */
  private readonly leaves = new LeaveBatches((keys, args) => this.run('leave', keys, args));
  private callTimeoutMs = DEFAULT_CALL_TIMEOUT_MS;
  readonly leaseMs = REQUEST_LEASE_MS;
  /** `enter` under a token already entered refreshes its field (`enterEntry` in scripts.lua): requests of a process stand as one. */
  readonly reentrantTokens = true;
  private clock: Clock = systemClock; // leases are counted on the manager's clock (`useClock`)
  private readonly killListeners = new Set<(key: string) => void>();
  private channel: KillSubscription | undefined; // the kill channel while anyone listens
  private instruments = new Instruments();
  /** The session caps, in keys of their own (`redis-caps.ts`). */
  private readonly caps: RedisCaps;
  readonly admitSession: RedisCaps['admitSession'] = (...args) => this.caps.admitSession(...args);
  readonly releaseSession: RedisCaps['releaseSession'] = (...args) => this.caps.releaseSession(...args);
  readonly liveSessions: RedisCaps['liveSessions'] = (...args) => this.caps.liveSessions(...args);
  readonly principalSessions: RedisCaps['principalSessions'] = (...args) => this.caps.principalSessions(...args);
  readonly admitPrincipal: RedisCaps['admitPrincipal'] = (...args) => this.caps.admitPrincipal(...args);

  constructor(options: RedisCoordinatorOptions) {
    this.connection = new RedisConnection(options.client);
    this.connection.setTimeout(DEFAULT_CALL_TIMEOUT_MS);
    this.layout = new RedisKeys(options.prefix ?? 'esm:', options.shards ?? 16);
    this.args = new ScriptArguments(this.layout, this.leaseMs);
    this.replicas = options.replicas ?? 0;
    this.caps = new RedisCaps((name, keys, args) => this.run(name, keys, args), this.layout.prefix);
    this.replicaWaits = new ReplicaWaits(this.replicas, (_route, key) => {
      const boundMs = Math.max(1, Math.floor(this.callTimeoutMs / 4));
      return withinBound(this.connection.waitForReplicas(key, this.replicas, boundMs), boundMs + 1000, 'coordinator wait');
    });
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
    return toAccessEntry(await this.run('enter', [this.layout.entry(key)], this.args.enterArgs(now, strictExpiry, request)));
  }

  async inspect(key: string): Promise<AccessEntry | undefined> {
    return toAccessEntry(await this.run('inspect', [this.layout.entry(key)], [String(this.clock.now())]));
  }

  async renewLease(key: string, request: string, now: number): Promise<void> {
    await this.run('lease', [this.layout.entry(key)], [request, String(now + this.leaseMs)]);
  }

  async leave(key: string, update: LeaveUpdate): Promise<boolean> {
    const shard = this.layout.shardOf(key);
    // A cluster runs a script on one slot: the leaves of one shard go together.
    const group = this.connection.clustered ? shard : 0;
    return (await this.leaves.leave(group, this.args.leaveKeys(key, update, shard), this.args.leaveArgs(key, update, shard))) === 2;
  }

  async remove(key: string): Promise<boolean> {
    return Number(await this.run('remove', this.args.removeKeys(key), this.args.removeArgs(key))) === 1;
  }

  async claim(key: string, now: number, entered: boolean, claimer = ''): Promise<AccessEntry | undefined> {
    const layout = this.layout;
    const keys = [layout.entry(key), layout.expiry(layout.shardOf(key))];
    const claimed = toAccessEntry(await this.run('claim', keys, [String(now), entered ? '1' : '0', key, String(this.clock.now()), claimer]));
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

  async kill(key: string, note?: string): Promise<AccessEntry | undefined> {
    const layout = this.layout;
    const keys = [layout.entry(key), layout.expiry(layout.shardOf(key)), layout.lock(key)];
    const before = toAccessEntry(await this.run('kill', keys, [key, layout.killChannel, String(this.clock.now()), note ?? '']));
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

  /** The records of `store` reached in the same scripts as the entries, when they can be (`redis-records.ts`). */
  colocate(store: object): ColocatedRecords | undefined {
    const scripts = { run: this.run.bind(this), entryKey: (key: string) => this.layout.entry(key), shardOf: (key: string) => this.layout.shardOf(key), args: this.args };
    return colocatedRecords(store, this.connection, scripts);
  }

  /**
   * With `replicas`: waits (a quarter of `storeTimeout` at most; see
   * `replica-waits.ts`) until that many replicas have what this connection
   * just wrote for `key`. Fewer in time is not an error — the destruction
   * goes on, and the window it leaves is the one documented for `replicas: 0`.
   */
  private async replicate(key: string): Promise<void> {
    if (this.replicas === 0) return;
    const entry = this.layout.entry(key);
    await this.replicaWaits.wait(this.connection.routeOf(entry), entry);
  }

  /** Times every call from now on (metrics: docs/architecture.md, "Metrics"). */
  observeCalls(instruments: Instruments): void {
    this.instruments = instruments;
  }

  /** One call: a script of `scripts.lua`, within the call bound (and timed, with metrics). */
  private run(name: ScriptName, keys: string[], args: string[]): Promise<unknown> {
    return timed(this.instruments, name, () => withinBound(this.connection.run(script(name), keys, args), this.callTimeoutMs, `coordinator ${name}`));
  }
}

/** The coordinator for processes sharing Redis (one server, Sentinel, or a cluster). */
export function redisCoordinator(options: RedisCoordinatorOptions): RedisCoordinator {
  checkRedisCoordinatorOptions(options);
  return new RedisCoordinator(options);
}
