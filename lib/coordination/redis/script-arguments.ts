import { isSubsessionKey } from '../../storage/session-key';
import type { LeaveUpdate } from '../coordinator';
import type { RedisKeys } from './redis-keys';

/**
 * The KEYS and ARGV of the scripts that enter, leave and remove, in the
 * order scripts.lua lists them: the coordinator's own calls and its
 * colocated records' (which enter and leave in the same scripts) build them
 * here alike.
 */
export class ScriptArguments {
  constructor(
    private readonly layout: RedisKeys,
    /** How long a request's lease lasts from its enter (ms). */
    private readonly leaseMs: number,
  ) {}

  /** ARGV of `enter` (and `load`): now, strict, the request's token, when its lease runs out. */
  enterArgs(now: number, strictExpiry: boolean, request: string): string[] {
    return [String(now), strictExpiry ? '1' : '0', request, String(now + this.leaseMs)];
  }

  /**
   * KEYS of `leave` (and of the scripts that leave too): entry, expiry index, session index, the
   * user's set. `shard`: the key's (`RedisKeys.shardOf`), when the caller has it already.
   */
  leaveKeys(key: string, update: LeaveUpdate, shard = this.layout.shardOf(key)): string[] {
    const layout = this.layout;
    return [layout.entry(key, shard), layout.expiry(shard), layout.sessions(shard), layout.principalPrefix(shard) + (update.principal ?? '')];
  }

  /** ARGV of `leave`. */
  leaveArgs(key: string, update: LeaveUpdate, shard = this.layout.shardOf(key)): string[] {
    const timeout = update.timeoutMs === undefined ? '' : update.timeoutMs === null ? '-1' : String(update.timeoutMs);
    return [
      String(update.now),
      timeout,
      update.storeExpires === null ? '' : String(update.storeExpires),
      update.entered ? '1' : '0',
      String(update.lastAccessedTime),
      key,
      update.principal ?? '',
      this.layout.principalPrefix(shard),
      isSubsessionKey(key) ? '0' : '1',
      update.request,
    ];
  }

  /** KEYS of `remove`: entry, expiry index, session index. */
  removeKeys(key: string): string[] {
    const layout = this.layout;
    const shard = layout.shardOf(key);
    return [layout.entry(key), layout.expiry(shard), layout.sessions(shard)];
  }

  /** ARGV of `remove`: the member, the shard's principal prefix. */
  removeArgs(key: string): string[] {
    return [key, this.layout.principalPrefix(this.layout.shardOf(key))];
  }
}
