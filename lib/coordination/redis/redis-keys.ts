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
  /** Each shard's expiry index, session index and principal prefix (made once: every request names them). */
  private readonly expiries: string[];
  private readonly indexes: string[];
  private readonly principalPrefixes: string[];
  /** The channel every process hears kills on. */
  readonly killChannel: string;

  constructor(
    readonly prefix: string,
    readonly shards: number,
  ) {
    this.shardPrefixes = Array.from({ length: shards }, (_, shard) => `${prefix}{${evenTag(shard, shards)}}`);
    this.expiries = this.shardPrefixes.map((tagged) => `${tagged}expiry`);
    this.indexes = this.shardPrefixes.map((tagged) => `${tagged}sessions`);
    this.principalPrefixes = this.shardPrefixes.map((tagged) => `${tagged}principal:`);
    this.killChannel = `${prefix}kill`;
  }

  /** The shard of a session key: from its id (what precedes its first `:` or `#`), the hash slot of the id modulo `shards`. */
  shardOf(key: string): number {
    // The slot (CRC16 of the bytes) read off the characters while they are ASCII and no hash
    // tag (`{`) can matter; anything else the way Redis Cluster reads it (cluster-key-slot).
    let crc = 0;
    for (let i = 0; i < key.length; i++) {
      const code = key.charCodeAt(i);
      if (code === 58 /* : */ || code === 35 /* # */) break;
      if (code >= 128 || code === 123 /* { */) return this.slowShardOf(key);
      crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ code) & 0xff];
    }
    return (crc & 16383) % this.shards;
  }

  private slowShardOf(key: string): number {
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

  /** The session's entry hash (`shard`: the key's, when the caller knows it). */
  entry(key: string, shard = this.shardOf(key)): string {
    return `${this.shardPrefixes[shard]}s:${key}`;
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
    return this.expiries[shard];
  }

  /** A shard's session index (sorted set of top-level keys, score 0: the admin listing). */
  sessions(shard: number): string {
    return this.indexes[shard];
  }

  /** What precedes the user's name in a shard's principal set. */
  principalPrefix(shard: number): string {
    return this.principalPrefixes[shard];
  }
}

/** CRC16 (XMODEM, polynomial 0x1021: Redis Cluster's) of each byte value. */
const CRC16 = Uint16Array.from({ length: 256 }, (_, byte) => {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  return crc;
});

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
