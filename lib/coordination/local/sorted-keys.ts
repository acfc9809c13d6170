import * as sortedBtree from 'sorted-btree';

/**
 * sorted-btree is CommonJS with `exports.default`: required (our CJS build,
 * ts-jest) the namespace's `default` is the class, but imported by Node's
 * ESM loader (our ESM build) it is the whole `exports` object.
 */
const BTree: typeof sortedBtree.default =
  (sortedBtree.default as unknown as { default?: typeof sortedBtree.default }).default ?? sortedBtree.default;

/** Plain string order (UTF-16 code units), as `Array.prototype.sort()` and Redis `ZRANGEBYLEX` of ASCII ids. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Keys in order, for paging (`LocalCoordinator.keys()`): a B+ tree
 * (sorted-btree) whose leaves are walked in order, so adding or deleting a
 * key costs O(log n) and a page O(log n + its keys). Nothing ever sorts the
 * whole set again, so no call holds the event loop longer as n grows
 * (docs/architecture.md, "Faults": long work yields).
 */
export class SortedKeys {
  /**
   * Nodes of up to 256 keys, sorted-btree's largest: about 13 bytes a key
   * against 20 with its default of 32 (less per-node overhead); a node's
   * insert or delete moves at most 256 pointers.
   */
  private readonly tree = new BTree<string, undefined>(undefined, compareStrings, 256);

  /** Adds a key (a key already there stays listed once). */
  add(key: string): void {
    this.tree.set(key, undefined, false);
  }

  /** Deletes a key; false when it was not there. */
  delete(key: string): boolean {
    return this.tree.delete(key);
  }

  /** The number of keys. */
  get size(): number {
    return this.tree.size;
  }

  /** The first `limit` keys greater than `after` (from the start when `null`), in order. */
  page(after: string | null, limit: number): string[] {
    const keys: string[] = [];
    if (limit <= 0) return keys;
    // keys(from) starts at the first key >= from: the cursor itself, if still there, is skipped.
    for (const key of this.tree.keys(after ?? undefined)) {
      if (key === after) continue;
      keys.push(key);
      if (keys.length === limit) break;
    }
    return keys;
  }
}
