/**
 * SortedKeys (lib/sorted-keys.ts), the in-process coordinator's key order
 * for the admin listing: pages match a plain sorted list of the live keys
 * through adds, removals, re-adds and compactions.
 */
import { SortedKeys } from '../lib/coordination/local/sorted-keys';
import { seededRandom } from './support/seeded-random';

/** Every page of `limit` keys, following the cursor. */
function allPages(keys: SortedKeys, limit: number, live: (key: string) => boolean): string[] {
  const seen: string[] = [];
  for (let page = keys.page(null, limit, live); page.length > 0; page = keys.page(page[page.length - 1], limit, live)) {
    seen.push(...page);
  }
  return seen;
}

describe('SortedKeys', () => {
  it('lists the live keys in order, once each, as a sorted copy would', () => {
    const random = seededRandom(7);
    const keys = new SortedKeys();
    const live = new Set<string>();
    const isLive = (key: string) => live.has(key);
    for (let step = 0; step < 20_000; step++) {
      const key = `k${Math.floor(random() * 5000)}`;
      if (live.has(key) && random() < 0.4) {
        live.delete(key);
        keys.noteRemoved();
      } else if (!live.has(key)) {
        live.add(key);
        keys.add(key);
      }
      if (step % 997 === 0) {
        expect(allPages(keys, 1 + Math.floor(random() * 300), isLive)).toEqual([...live].sort());
      }
    }
    expect(allPages(keys, 100, isLive)).toEqual([...live].sort());
  });

  it('starts a page after the cursor whether or not the cursor key is still there', () => {
    const keys = new SortedKeys();
    const live = new Set(['a', 'c', 'e']);
    for (const key of live) keys.add(key);
    live.delete('c');
    keys.noteRemoved();
    expect(keys.page('c', 10, (key) => live.has(key))).toEqual(['e']);
    expect(keys.page('b', 1, (key) => live.has(key))).toEqual(['e']);
    expect(keys.page(null, 10, (key) => live.has(key))).toEqual(['a', 'e']);
  });
});
