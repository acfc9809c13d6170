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
 *   (`1` once claimed for destruction), `killed` (`1` once killed by an
 *   administrator; also claimed), `principal` (the user it is bound to).
 *   Expires by itself at `store` (PEXPIREAT), so nothing outlives the
 *   session's record; once claimed or killed, 10 s later (`MARK_MARGIN_MS` in
 *   scripts.lua), so the mark keeps requests off a record the store expires
 *   a little late (its TTL counts from its own write, rounded up to seconds).
 * - `PlockK` string (e.g. `esm:lock:<id>`) — serial access across processes:
 *   the holder's token, with a TTL renewed while held.
 * - `PcommitK` string (e.g. `esm:commit:<id>`) — held while one process
 *   merges a request's changes onto the session's record (read, merge,
 *   write), so merges never interleave; the holder's token, with a TTL of
 *   twice `storeTimeout`.
 * - `Pexpiry` sorted set — the expiry index: member `K`, score = deadline. Never
 *   -expiring sessions are not in it.
 * - `Psessions` sorted set — every top-level session key, score 0, so the
 *   admin listing pages through it in key order (ZRANGEBYLEX after a cursor).
 * - `Pprincipal:<user>` set — the keys of the sessions bound to a user;
 *   expires with the longest-lived of them.
 * - `Pkill` pub/sub channel — the key of every session killed, so that the
 *   process running a request of it aborts the request's `signal`. Each
 *   process listens on one connection of its own (`client.duplicate()`),
 *   opened by the first manager and closed by the last `close()`.
 *
 * Commands: every operation is one EVALSHA of a script of `scripts.lua`
 * (loaded with SCRIPT LOAD on first use, re-loaded on NOSCRIPT), so each is
 * atomic, and bounded by the manager's `storeTimeout` (`setCallTimeout`):
 * - enter: HMGET, HSET accessed + active (nothing when claimed, nor, with
 *   strict expiry, when idle past its deadline)
 * - leave: HMGET, HSET active (+ store, + deadline when idle again), ZADD (or
 *   ZREM), PEXPIREAT when the store's expiry moved; for a new entry ZADD
 *   Psessions; for a newly bound user SADD (+ SREM from the previous user's)
 * - claim: HMGET, then only if due, unclaimed and idle: HSET claimed 1, ZREM
 *   (the claimed hash is a tombstone: requests no longer use the session);
 *   ZREM alone when the hash is gone (it expired by itself: a stale member)
 * - lock: SET PlockK token NX PX ttl; renew: GET + PEXPIRE; unlock: GET + DEL
 *   (compare-and-delete: only the owner's token deletes); the commit lock
 *   the same on PcommitK
 * - kill: HMGET, then only if unclaimed: HSET claimed 1 killed 1, ZREM, DEL
 *   PlockK (requests queued behind it go on), PUBLISH Pkill K
 * - inspect: HMGET
 * - due: ZRANGEBYSCORE Pexpiry -inf now LIMIT 0 n
 * - remove: HGET principal, DEL (its reply decides the one caller that
 *   announces), ZREM from both sorted sets, SREM from the user's set
 * - keys: ZRANGEBYLEX Psessions (after + LIMIT 0 n; count: ZCARD Psessions;
 *   keysOf: SMEMBERS
 *
 * A request costs two scripts: `enter` (sent in the same tick as the store's
 * GET, so node-redis pipelines them into one round trip) and `leave`.
 */
import type { AccessEntry, ColocatedRecords, Coordinator, KillSubscription, LeaveUpdate } from '../coordinator';
import { RedisRecords } from './redis-records';
import { toAccessEntry } from './redis-entry';
import createDebug from 'debug';
import { withinBound } from '../../storage/call-bound';
import { isSubsessionKey } from '../../storage/session-key';
import { script, type Script, type ScriptName } from './redis-scripts';

const debug = createDebug('express-session-management:redis');

/** The part of a node-redis v5 client the coordinator uses. */
export interface RedisScriptClient {
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  scriptLoad(script: string): Promise<unknown>;
  /** A new connection with the same options, for the kill channel (pub/sub needs its own). */
  duplicate(): RedisSubscriber;
  /**
   * The same client with default options for every command (node-redis 5.x):
   * the coordinator sets a `timeout`, so a command still waiting to be sent
   * when its bound passes (the client is reconnecting) leaves the client's
   * queue instead of being sent late.
   */
  withCommandOptions?(options: { timeout?: number }): RedisScriptClient;
  /** The client's options; their `commandOptions` are kept when the coordinator adds its timeout. */
  readonly options?: { commandOptions?: object };
}

/** The part of a node-redis v5 client that listens to the kill channel. */
export interface RedisSubscriber {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  unref(): void;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

/** Options of {@link redisCoordinator}. */
export interface RedisCoordinatorOptions {
  /** A connected node-redis v5 client (yours: the coordinator never quits it). */
  client: RedisScriptClient;
  /** Prefix of every key the coordinator writes. @default 'esm:' */
  prefix?: string;
}

/** How long a call may take until a manager sets its `storeTimeout` (the option's default). */
const DEFAULT_CALL_TIMEOUT_MS = 5000;

/** Coordinator state in Redis; see the storage details above. */
export class RedisCoordinator implements Coordinator {
  private readonly client: RedisScriptClient;
  /** `client`, with a per-command timeout where node-redis supports one. */
  private commands: RedisScriptClient;
  private callTimeoutMs = DEFAULT_CALL_TIMEOUT_MS;
  private readonly prefix: string;
  private readonly indexKey: string;
  private readonly killChannel: string;
  private readonly sessionsKey: string;
  private readonly principalPrefix: string;
  private readonly killListeners = new Set<(key: string) => void>();
  /** The kill channel's connection while anyone listens. */
  private channel: { connection: RedisSubscriber; ready: Promise<void> } | undefined;

  constructor(options: RedisCoordinatorOptions) {
    this.client = options.client;
    this.commands = options.client;
    this.setCallTimeout(DEFAULT_CALL_TIMEOUT_MS);
    this.prefix = options.prefix ?? 'esm:';
    this.indexKey = `${this.prefix}expiry`;
    this.killChannel = `${this.prefix}kill`;
    this.sessionsKey = `${this.prefix}sessions`;
    this.principalPrefix = `${this.prefix}principal:`;
  }

  /**
   * Bounds every call (the manager's `storeTimeout`): a call with no answer
   * within `ms` rejects with `StoreUnavailableError`, and its command leaves
   * the client's offline queue, so a Redis outage never makes a request hang
   * nor piles commands up to be sent late.
   */
  setCallTimeout(ms: number): void {
    this.callTimeoutMs = ms;
    const { client } = this;
    this.commands =
      typeof client.withCommandOptions === 'function'
        ? client.withCommandOptions({ ...client.options?.commandOptions, timeout: ms })
        : client;
  }

  async enter(key: string, now: number, strictExpiry: boolean, request: string): Promise<AccessEntry | undefined> {
    return toAccessEntry(await this.run('enter', [this.entryKey(key)], [String(now), strictExpiry ? '1' : '0', request]));
  }

  /**
   * The records of `store` reached in the same scripts as the entries, when
   * it is connect-redis on this coordinator's own client, keeping JSON records
   * with the TTL of their `cookie.expires` (its defaults): reads then cost
   * one round trip and two commands, writes one round trip.
   */
  colocate(store: object): ColocatedRecords | undefined {
    const candidate = store as { client?: unknown; prefix?: unknown; serializer?: unknown; ttl?: unknown; disableTTL?: unknown; disableTouch?: unknown };
    if (candidate.client !== this.client || typeof candidate.prefix !== 'string' || candidate.serializer !== JSON) return undefined;
    if (typeof candidate.ttl === 'function' || candidate.disableTTL || candidate.disableTouch) return undefined;
    const prefix = candidate.prefix;
    return new RedisRecords({
      run: (name, keys, args) => this.run(name, keys, args),
      entryKey: (key) => this.entryKey(key),
      recordKey: (key) => prefix + key,
      leaveKeys: (key, update) => this.leaveKeys(key, update),
      leaveArgs: (key, update) => this.leaveArgs(key, update),
      removeKeys: (key) => [this.entryKey(key), this.indexKey, this.sessionsKey],
      removeArgs: (key) => [key, this.principalPrefix],
    });
  }

  async acquireLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.run('lock', [this.lockKey(key)], [token, String(ttlMs)])) === 'OK';
  }

  async renewLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.run('renew', [this.lockKey(key)], [token, String(ttlMs)])) === 1;
  }

  async releaseLock(key: string, token: string): Promise<void> {
    await this.run('unlock', [this.lockKey(key)], [token]);
  }

  async lockForCommit(key: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.run('lock', [this.commitLockKey(key)], [token, String(ttlMs)])) === 'OK';
  }

  async unlockAfterCommit(key: string, token: string): Promise<void> {
    await this.run('unlock', [this.commitLockKey(key)], [token]);
  }

  private lockKey(key: string): string {
    return `${this.prefix}lock:${key}`;
  }

  private commitLockKey(key: string): string {
    return `${this.prefix}commit:${key}`;
  }

  async inspect(key: string): Promise<AccessEntry | undefined> {
    return toAccessEntry(await this.run('inspect', [this.entryKey(key)], []));
  }

  async claim(key: string, now: number, entered: boolean): Promise<AccessEntry | undefined> {
    const keys = [this.entryKey(key), this.indexKey];
    return toAccessEntry(await this.run('claim', keys, [String(now), entered ? '1' : '0', key]));
  }

  async kill(key: string): Promise<AccessEntry | undefined> {
    const keys = [this.entryKey(key), this.indexKey, this.lockKey(key)];
    return toAccessEntry(await this.run('kill', keys, [key, this.killChannel]));
  }

  onKill(listener: (key: string) => void): KillSubscription {
    const own = (key: string) => listener(key);
    this.killListeners.add(own);
    const channel = (this.channel ??= this.openKillChannel());
    let closed = false;
    return {
      ready: channel.ready,
      close: async () => {
        if (closed) return;
        closed = true;
        this.killListeners.delete(own);
        if (this.killListeners.size > 0 || this.channel !== channel) return;
        this.channel = undefined;
        await channel.connection.close().catch(() => channel.connection.destroy());
      },
    };
  }

  /**
   * Opens the kill channel's own connection (pub/sub needs one) and
   * subscribes. It never keeps the process alive by itself, and if Redis is
   * down it keeps trying in the background (node-redis reconnects and
   * subscribes again by itself) until the last listener closes it.
   */
  private openKillChannel(): { connection: RedisSubscriber; ready: Promise<void> } {
    const connection = this.client.duplicate();
    connection.on('error', (error) => debug('kill channel: %O', error));
    connection.unref();
    const ready = (async () => {
      await connection.connect();
      await connection.subscribe(this.killChannel, (key) => {
        for (const listener of this.killListeners) listener(key);
      });
    })();
    ready.catch((error: unknown) => debug('kill channel: cannot subscribe: %O', error));
    return { connection, ready };
  }

  async due(now: number, limit: number): Promise<string[]> {
    return (await this.run('due', [this.indexKey], [String(now), String(limit)])) as string[];
  }

  async leave(key: string, update: LeaveUpdate): Promise<boolean> {
    return Number(await this.run('leave', this.leaveKeys(key, update), this.leaveArgs(key, update))) === 2;
  }

  /** KEYS of `leave` (and of the scripts that leave too): entry, expiry index, session index, the user's set. */
  private leaveKeys(key: string, update: LeaveUpdate): string[] {
    return [this.entryKey(key), this.indexKey, this.sessionsKey, this.principalPrefix + (update.principal ?? '')];
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
      this.principalPrefix,
      isSubsessionKey(key) ? '0' : '1',
      update.request,
    ];
  }

  async remove(key: string): Promise<boolean> {
    const keys = [this.entryKey(key), this.indexKey, this.sessionsKey];
    return Number(await this.run('remove', keys, [key, this.principalPrefix])) === 1;
  }

  async keys(after: string | null, limit: number): Promise<string[]> {
    const from = after === null ? '-' : `(${after}`;
    return (await this.run('keys', [this.sessionsKey], [from, String(limit)])) as string[];
  }

  async count(): Promise<number> {
    return Number(await this.run('count', [this.sessionsKey], []));
  }

  async keysOf(principal: string): Promise<string[]> {
    return ((await this.run('members', [this.principalPrefix + principal], [])) as string[]).sort();
  }

  private entryKey(key: string): string {
    return `${this.prefix}s:${key}`;
  }

  /** One call: EVALSHA of a script (loaded when Redis does not know it yet), within the call bound. */
  private run(name: ScriptName, keys: string[], args: string[]): Promise<unknown> {
    return withinBound(this.evalScript(script(name), keys, args), this.callTimeoutMs, `coordinator ${name}`);
  }

  private async evalScript(script: Script, keys: string[], args: string[]): Promise<unknown> {
    const { commands } = this;
    try {
      return await commands.evalSha(script.sha, { keys, arguments: args });
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
      await commands.scriptLoad(script.source);
      return await commands.evalSha(script.sha, { keys, arguments: args });
    }
  }
}


/** The coordinator for a cluster of processes sharing one Redis. */
export function redisCoordinator(options: RedisCoordinatorOptions): RedisCoordinator {
  if (!options || typeof options.client?.evalSha !== 'function' || typeof options.client.duplicate !== 'function') {
    throw new TypeError('redisCoordinator({ client }): client must be a connected node-redis v5 client');
  }
  return new RedisCoordinator(options);
}
