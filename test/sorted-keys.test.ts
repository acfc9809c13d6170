/**
 * SortedKeys (lib/coordination/local/sorted-keys.ts), the in-process
 * coordinator's key order for the admin listing: pages match a plain sorted
 * list of the keys through adds, deletes and re-adds, at any size.
 */
import { SortedKeys } from '../lib/coordination/local/sorted-keys';
import { seededRandom } from './support/seeded-random';

/** Every page of `limit` keys, following the cursor. */
function allPages(keys: SortedKeys, limit: number): string[] {
  const seen: string[] = [];
  for (let page = keys.page(null, limit); page.length > 0; page = keys.page(page[page.length - 1], limit)) {
    seen.push(...page);
  }
  return seen;
}

/** Keys shaped like session ids, in no particular order. */
function randomKeys(count: number, random: () => number): string[] {
  return Array.from({ length: count }, (_, i) => `${Math.floor(random() * 2 ** 32).toString(36)}-${i}`);
}

describe('SortedKeys', () => {
  describe('page()', () => {
    it('lists the keys in order, once each, as a sorted copy would, through random adds and deletes', () => {
      const random = seededRandom(7);
      const keys = new SortedKeys();
      const live = new Set<string>();
      for (let step = 0; step < 20_000; step++) {
        const key = `k${Math.floor(random() * 5000)}`;
        if (live.has(key) && random() < 0.4) {
          live.delete(key);
          expect(keys.delete(key)).toBe(true);
        } else if (!live.has(key)) {
          live.add(key);
          keys.add(key);
        }
        if (step % 997 === 0) {
          expect(allPages(keys, 1 + Math.floor(random() * 300))).toEqual([...live].sort());
          expect(keys.size).toBe(live.size);
        }
      }
      expect(allPages(keys, 100)).toEqual([...live].sort());
    });

    it('starts a page after the cursor whether or not the cursor key is there', () => {
      const keys = new SortedKeys();
      for (const key of ['a', 'c', 'e']) keys.add(key);
      keys.delete('c');
      expect(keys.page('c', 10)).toEqual(['e']);
      expect(keys.page('b', 1)).toEqual(['e']);
      expect(keys.page('a', 10)).toEqual(['e']);
      expect(keys.page('0', 10)).toEqual(['a', 'e']); // before every key
      expect(keys.page('e', 10)).toEqual([]); // the last key
      expect(keys.page('z', 10)).toEqual([]); // past every key
      expect(keys.page(null, 10)).toEqual(['a', 'e']);
    });

    it('answers an empty page on an empty index, from the start or any cursor', () => {
      const keys = new SortedKeys();
      expect(keys.page(null, 10)).toEqual([]);
      expect(keys.page('a', 10)).toEqual([]);
      expect(keys.size).toBe(0);
      keys.add('a');
      keys.delete('a');
      expect(keys.page(null, 10)).toEqual([]);
      expect(keys.size).toBe(0);
    });

    it('answers no keys for a limit of 0', () => {
      const keys = new SortedKeys();
      keys.add('a');
      expect(keys.page(null, 0)).toEqual([]);
    });

    it('pages through 100,000 keys in order, and still after half of them were deleted', () => {
      const random = seededRandom(11);
      const keys = new SortedKeys();
      const all = randomKeys(100_000, random);
      for (const key of all) keys.add(key);
      const sorted = [...all].sort();
      expect(keys.size).toBe(100_000);
      expect(allPages(keys, 1000)).toEqual(sorted);
      // A page from the middle, the cursor being a key that is there.
      expect(keys.page(sorted[49_999], 3)).toEqual(sorted.slice(50_000, 50_003));

      const kept = sorted.filter((_, i) => i % 2 === 0);
      for (let i = 1; i < sorted.length; i += 2) expect(keys.delete(sorted[i])).toBe(true);
      expect(keys.size).toBe(50_000);
      expect(allPages(keys, 777)).toEqual(kept);
      // A cursor that was deleted: the page starts at the next key still there.
      expect(keys.page(sorted[50_001], 2)).toEqual([sorted[50_002], sorted[50_004]]);
    });
  });

  describe('add()', () => {
    it('lists a key added twice once', () => {
      const keys = new SortedKeys();
      keys.add('b');
      keys.add('a');
      keys.add('b');
      expect(keys.page(null, 10)).toEqual(['a', 'b']);
      expect(keys.size).toBe(2);
    });

    it('lists a deleted key again once it is added back, once, in its place', () => {
      const keys = new SortedKeys();
      for (const key of ['a', 'b', 'c']) keys.add(key);
      keys.delete('b');
      expect(keys.page(null, 10)).toEqual(['a', 'c']);
      keys.add('b');
      expect(keys.page(null, 10)).toEqual(['a', 'b', 'c']);
      expect(keys.page('a', 1)).toEqual(['b']);
      expect(keys.size).toBe(3);
    });
  });

  describe('delete()', () => {
    it('deletes a key there and answers false for one that is not', () => {
      const keys = new SortedKeys();
      keys.add('a');
      expect(keys.delete('b')).toBe(false);
      expect(keys.delete('a')).toBe(true);
      expect(keys.delete('a')).toBe(false);
      expect(keys.size).toBe(0);
    });
  });
});
