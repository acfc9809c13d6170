import calculateSlot from 'cluster-key-slot';

/** Hash slots in Redis Cluster. */
const SLOTS = 16384;

/**
 * The Redis coordinator's key names (the layout is documented at the top of
 * `redis-coordinator.ts`). Every key of one session, and the indexes of the
 * shard the session belongs to, share one hash tag, so every script touches
 * one hash slot: Redis Cluster runs it on one node. A session's shard comes
 * from its id, so all of one id (its apps, its subsessions) is in one shard.
 * The tags are chosen so the shards' slots lie evenly over the slot space:
 * a cluster with its slots split evenly then holds an even share of shards.
 */
export class RedisKeys {
  /** `P{tag}` of each shard. */
  private readonly shardPrefixes: string[];
  /** The channel every process hears kills on. */
  readonly killChannel: string;

  constructor(
    readonly prefix: string,
    readonly shards: number,
  ) {
    this.shardPrefixes = Array.from({ length: shards }, (_, shard) => `${prefix}{${evenTag(shard, shards)}}`);
    this.killChannel = `${prefix}kill`;
  }

  /** The shard of a session key: from its id (what precedes its first `:` or `#`). */
  shardOf(key: string): number {
    let end = key.length;
    for (let i = 0; i < key.length; i++) {
      const code = key.charCodeAt(i);
      if (code === 58 /* : */ || code === 35 /* # */) {
        end = i;
        break;
      }
    }
    return calculateSlot(end === key.length ? key : key.slice(0, end)) % this.shards;
  }

  /** The shards, 0 … shards − 1. */
  allShards(): number[] {
    return Array.from({ length: this.shards }, (_, shard) => shard);
  }

  /** The session's entry hash. */
  entry(key: string): string {
    return `${this.shardPrefixes[this.shardOf(key)]}s:${key}`;
  }

  /** The session's serial-access lock. */
  lock(key: string): string {
    return `${this.shardPrefixes[this.shardOf(key)]}lock:${key}`;
  }

  /** The session's commit lock. */
  commit(key: string): string {
    return `${this.shardPrefixes[this.shardOf(key)]}commit:${key}`;
  }

  /** A shard's expiry index (sorted set: member the session key, score its deadline). */
  expiry(shard: number): string {
    return `${this.shardPrefixes[shard]}expiry`;
  }

  /** A shard's session index (sorted set of top-level keys, score 0: the admin listing). */
  sessions(shard: number): string {
    return `${this.shardPrefixes[shard]}sessions`;
  }

  /** What precedes the user's name in a shard's principal set. */
  principalPrefix(shard: number): string {
    return `${this.shardPrefixes[shard]}principal:`;
  }
}

/**
 * A hash tag whose slot is in the `shard`-th of `shards` equal parts of the
 * slot space: the first of `<shard>.<n>` (n = 0, 1, …) that lands there.
 * The same in every process.
 */
function evenTag(shard: number, shards: number): string {
  const width = SLOTS / shards;
  for (let n = 0; ; n++) {
    const tag = `${shard}.${n}`;
    if (Math.floor(calculateSlot(tag) / width) === shard) return tag;
  }
}

/** Up to `limit` of the lists' members, taken from each in turn: every shard gets its share of a sweep's batch. */
export function roundRobin(lists: string[][], limit: number): string[] {
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
