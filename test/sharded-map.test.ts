/**
 * ShardedMap (lib/collections/sharded-map.ts), the map of the in-process
 * store's records and the coordinator's entries, and SlotKeys
 * (lib/coordination/local/slot-keys.ts): they behave as a `Map` and an array
 * do where their callers rely on it — size, get/has/set/delete, iteration
 * that sees every entry once, including while entries are deleted or added.
 */
import { SHARDS, ShardedMap, shardOf } from '../lib/collections/sharded-map';
import { SlotKeys } from '../lib/coordination/local/slot-keys';
import { seededRandom } from './support/seeded-random';

describe('ShardedMap', () => {
  it('agrees with a Map on size, get, has and delete through random operations', () => {
    const random = seededRandom(11);
    const sharded = new ShardedMap<string, number>();
    const plain = new Map<string, number>();
    for (let step = 0; step < 30_000; step++) {
      const key = `id${Math.floor(random() * 4000)}`;
      const roll = random();
      if (roll < 0.5) {
        expect(sharded.set(key, step)).toBe(sharded);
        plain.set(key, step);
      } else if (roll < 0.8) {
        expect(sharded.delete(key)).toBe(plain.delete(key));
      } else {
        expect(sharded.get(key)).toBe(plain.get(key));
        expect(sharded.has(key)).toBe(plain.has(key));
      }
      expect(sharded.size).toBe(plain.size);
    }
    expect(new Map(sharded.entries())).toEqual(plain);
    expect(new Set(sharded.keys())).toEqual(new Set(plain.keys()));
    expect([...sharded.values()].sort()).toEqual([...plain.values()].sort());
  });

  it('keeps the size when a key is set again, and counts a key of another type apart', () => {
    const map = new ShardedMap<number, string>();
    map.set(3, 'a');
    map.set(3, 'b');
    map.set(3 + SHARDS, 'c'); // same shard, another key
    expect(map.size).toBe(2);
    expect(map.get(3)).toBe('b');
    expect(map.delete(4)).toBe(false);
    expect(map.size).toBe(2);
  });

  it('lists every entry once, keys in insertion order within a shard', () => {
    const map = new ShardedMap<string, number>();
    const keys = Array.from({ length: 5000 }, (_, i) => `k${i}`);
    for (const [i, key] of keys.entries()) map.set(key, i);
    const listed = [...map].map(([key]) => key);
    expect(listed).toHaveLength(keys.length);
    expect(new Set(listed)).toEqual(new Set(keys));
    const sameShard = keys.filter((key) => shardOf(key) === shardOf('k0'));
    expect(listed.filter((key) => shardOf(key) === shardOf('k0'))).toEqual(sameShard);
  });

  it('iterates live: entries deleted before they are reached are not listed, and none twice', () => {
    const map = new ShardedMap<string, number>();
    for (let i = 0; i < 3000; i++) map.set(`k${i}`, i);
    const seen = new Set<string>();
    let added = 0;
    for (const [key] of map) {
      expect(seen.has(key)).toBe(false);
      seen.add(key);
      map.delete(key); // as MemoryStore.prune() does
      if (seen.size % 10 === 0) {
        const victim = `k${(Number(key.slice(1)) + 1500) % 3000}`;
        map.delete(victim);
        map.set(`new${added++}`, -1);
      }
    }
    const left = [...map.keys()];
    expect(left.length).toBe(map.size);
    expect(left.every((key) => key.startsWith('new'))).toBe(true); // added to a shard already walked
    for (const key of seen) expect(map.has(key)).toBe(false);
    expect(seen.size).toBeLessThan(3000 + added); // the victims deleted ahead of the walk were never listed
  });

  it('clear() empties every shard', () => {
    const map = new ShardedMap<string, boolean>();
    for (let i = 0; i < 1000; i++) map.set(`k${i}`, true);
    map.clear();
    expect(map.size).toBe(0);
    expect([...map]).toEqual([]);
    expect(map.get('k1')).toBeUndefined();
  });

  it('spreads session ids, keys with a common prefix and numbers evenly over the shards', () => {
    const random = seededRandom(3);
    const ids = Array.from({ length: SHARDS * 200 }, () => Math.floor(random() * 2 ** 48).toString(36));
    const prefixed = Array.from({ length: SHARDS * 200 }, (_, i) => `sess_000000${i}`);
    const slots = Array.from({ length: SHARDS * 200 }, (_, i) => i);
    for (const keys of [ids, prefixed, slots]) {
      const counts = new Array<number>(SHARDS).fill(0);
      for (const key of keys) counts[shardOf(key)]++;
      expect(Math.max(...counts)).toBeLessThan(200 * 1.5);
      expect(Math.min(...counts)).toBeGreaterThan(200 * 0.5);
    }
  });
});

describe('SlotKeys', () => {
  it('keeps a key per slot across pages, undefined where none was set or it was cleared', () => {
    const keys = new SlotKeys();
    expect(keys.get(0)).toBeUndefined();
    keys.set(5000, 'far');
    keys.set(0, 'first');
    keys.set(1023, 'end of page');
    keys.set(1024, 'next page');
    expect([keys.get(0), keys.get(1023), keys.get(1024), keys.get(5000)]).toEqual(['first', 'end of page', 'next page', 'far']);
    expect(keys.get(1)).toBeUndefined();
    expect(keys.get(4999)).toBeUndefined();
    expect(keys.get(100_000)).toBeUndefined();
    keys.set(1024, undefined);
    expect(keys.get(1024)).toBeUndefined();
  });
});
