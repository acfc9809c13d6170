import { ConfigurationError } from '../../errors';
import type { RedisScriptClient } from './redis-connection';

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

/**
 * Checks the options of `redisCoordinator()` up front: a client that is not
 * a node-redis client is a `TypeError`; shards or replicas out of range a
 * `ConfigurationError` naming each.
 */
export function checkRedisCoordinatorOptions(options: RedisCoordinatorOptions): void {
  const client = options?.client as unknown as Record<string, unknown> | undefined;
  if (!client || typeof client.evalSha !== 'function' || typeof client.eval !== 'function') {
    throw new TypeError('redisCoordinator({ client }): client must be a connected node-redis client (createClient, createCluster or createSentinel)');
  }
  const violations: string[] = [];
  const { shards, replicas } = options;
  if (shards !== undefined && (!Number.isInteger(shards) || shards < 1 || shards > 1024)) violations.push('redisCoordinator: shards must be a whole number from 1 to 1024');
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 0)) violations.push('redisCoordinator: replicas must be a whole number, 0 or more');
  if (violations.length > 0) throw new ConfigurationError(violations);
}
