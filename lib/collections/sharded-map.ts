/**
 * A map split into {@link SHARDS} sub-`Map`s, each key in the one its hash
 * picks (docs/architecture.md, "Large maps"). V8 grows a `Map` by
 * rehashing every entry into a table twice the size, in one synchronous
 * step: past 524,288 entries that is ~100 ms of a held event loop, whoever
 * inserts the next key (a request creating a session, a snapshot being
 * read). Split in 256, no table ever holds more than about n / 256 entries,
 * so growing one costs n / 256 entries' worth: well under a millisecond at a
 * million sessions.
 *
 * Semantics are a `Map`'s, but for the order of iteration: entries come
 * shard by shard, each shard in insertion order. A walk that yields between
 * entries (a snapshot) sees an entry added meanwhile when it lands in a shard
 * not walked yet, never one deleted before it was reached, and never one
 * twice.
 */
export class ShardedMap<K extends string | number, V> {
  private readonly shards: Map<K, V>[] = Array.from({ length: SHARDS }, () => new Map<K, V>());
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: K): V | undefined {
    return this.shards[shardOf(key)].get(key);
  }

  has(key: K): boolean {
    return this.shards[shardOf(key)].has(key);
  }

  set(key: K, value: V): this {
    const shard = this.shards[shardOf(key)];
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
    return this;
  }

  /** Deletes the key's entry; false when there was none. */
  delete(key: K): boolean {
    if (!this.shards[shardOf(key)].delete(key)) return false;
    this.count--;
    return true;
  }

  clear(): void {
    for (const shard of this.shards) shard.clear();
    this.count = 0;
  }

  /** Every entry, shard by shard; live, as a `Map`'s iterator (see above). */
  *entries(): IterableIterator<[K, V]> {
    for (const shard of this.shards) yield* shard.entries();
  }

  *keys(): IterableIterator<K> {
    for (const shard of this.shards) yield* shard.keys();
  }

  *values(): IterableIterator<V> {
    for (const shard of this.shards) yield* shard.values();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}

const SHARD_BITS = 8;
/** How many sub-maps: 256, ~4,000 entries each at a million. */
export const SHARDS = 1 << SHARD_BITS;
const SHARD_MASK = SHARDS - 1;

/**
 * The shard of a key. A number (a slot: dense, from 0 up) by its low bits; a
 * string by an FNV-1a hash of every character, since ids made by a `genid`
 * option need not be random anywhere in particular (a common prefix, a
 * counter at the end).
 */
export function shardOf(key: string | number): number {
  if (typeof key === 'number') return key & SHARD_MASK;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash ^ (hash >>> SHARD_BITS) ^ (hash >>> 16) ^ (hash >>> 24)) & SHARD_MASK;
}
