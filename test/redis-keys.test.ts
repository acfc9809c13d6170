/**
 * The Redis coordinator's key layout (lib/coordination/redis/redis-keys.ts):
 * every key of one session and the indexes of its shard share one hash slot,
 * all of one id is in one shard, and the shards spread evenly over a
 * cluster's slots.
 */
import calculateSlot from 'cluster-key-slot';
import { RedisKeys } from '../lib/coordination/redis/redis-keys';
import { generateSessionId } from '../lib/tracking/session-id';

describe('RedisKeys', () => {
  const keys = new RedisKeys('esm:', 16);

  it("puts a session's keys and its shard's indexes in one hash slot", () => {
    for (let i = 0; i < 200; i++) {
      const id = generateSessionId();
      const shard = keys.shardOf(id);
      const slot = calculateSlot(keys.entry(id));
      for (const key of [keys.lock(id), keys.commit(id), keys.expiry(shard), keys.sessions(shard), `${keys.principalPrefix(shard)}ann`]) {
        expect(calculateSlot(key)).toBe(slot);
      }
    }
  });

  it('keeps every app and subsession of one id in the shard of the id', () => {
    const id = generateSessionId();
    for (const key of [`${id}:shop`, `${id}#checkout`, `${id}:bank#pay`]) expect(keys.shardOf(key)).toBe(keys.shardOf(id));
  });

  it("spreads the shards' slots evenly: the nth shard in the nth sixteenth of the slots", () => {
    for (const shard of keys.allShards()) {
      expect(Math.floor(calculateSlot(keys.expiry(shard)) / 1024)).toBe(shard);
    }
  });

  it("finds a key's shard as Redis Cluster hashes its id: ASCII, other characters, hash tags", () => {
    const ids = ['', 'abc', 'a{b}c', '{}x', 'x{', '{', 'é', 'ü{x}', '日本', '\u{1F600}x', generateSessionId()];
    for (let i = 0; i < 2000; i++) ids.push(generateSessionId().slice(0, 1 + (i % 40)) + (i % 7 === 0 ? '{t}' : i % 11 === 0 ? 'ß' : ''));
    for (const id of ids) {
      for (const key of [id, `${id}:shop`, `${id}#checkout`]) expect(keys.shardOf(key)).toBe(calculateSlot(id) % 16);
    }
  });

  it('spreads sessions over the shards', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[keys.shardOf(generateSessionId())]++;
    for (const count of counts) expect(count / 1000).toBeGreaterThan(0.8);
    for (const count of counts) expect(count / 1000).toBeLessThan(1.2);
  });

  it('names the same keys in every process (the tags depend on nothing else)', () => {
    const again = new RedisKeys('esm:', 16);
    expect(again.allShards().map((shard) => again.expiry(shard))).toEqual(keys.allShards().map((shard) => keys.expiry(shard)));
  });
});
