/**
 * The Redis coordinator's key names, for tests that look at what it stores
 * (the layout documented at the top of lib/coordination/redis/redis-coordinator.ts):
 * a session's keys and its shard's indexes share one hash tag.
 */
import { RedisKeys } from '../../lib/coordination/redis/redis-keys';
import type { TestRedisClient } from './services';

/** Key names under `prefix` (the coordinator's `prefix` option), with the default 16 shards. */
export interface RedisLayout {
  /** A session's entry hash. */
  entry(key: string): string;
  /** Its serial-access lock. */
  lock(key: string): string;
  /** The expiry index of its shard. */
  expiry(key: string): string;
  /** The session index of its shard. */
  sessions(key: string): string;
  /** The set of `user`'s sessions in the shard of `key`. */
  principal(key: string, user: string): string;
  /** Every shard's expiry index. */
  allExpiry(): string[];
  /** Every shard's session index. */
  allSessions(): string[];
}

export function redisLayout(prefix: string, shards = 16): RedisLayout {
  const keys = new RedisKeys(prefix, shards);
  return {
    entry: (key) => keys.entry(key),
    lock: (key) => keys.lock(key),
    expiry: (key) => keys.expiry(keys.shardOf(key)),
    sessions: (key) => keys.sessions(keys.shardOf(key)),
    principal: (key, user) => keys.principalPrefix(keys.shardOf(key)) + user,
    allExpiry: () => keys.allShards().map((shard) => keys.expiry(shard)),
    allSessions: () => keys.allShards().map((shard) => keys.sessions(shard)),
  };
}

/** How many members the sorted sets hold together (every shard's index). */
export async function zCardAll(client: TestRedisClient, sets: string[]): Promise<number> {
  const counts = await Promise.all(sets.map((set) => client.zCard(set)));
  return counts.reduce((sum, n) => sum + n, 0);
}
