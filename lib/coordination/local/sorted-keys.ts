/**
 * Keys in order, for paging (`LocalCoordinator.keys()`), cheap to add to:
 * a large sorted run plus a small one of keys added since it was built. A
 * page merges the two as it walks them (binary search to the cursor in
 * each), so adding a key costs O(1) and a page O(log n + its keys); the
 * small run is folded into the large one once it reaches an eighth of it,
 * and removed keys are dropped then, or when they are half of it.
 */
export class SortedKeys {
  private main: string[] = [];
  private recent: string[] = [];
  private recentSorted = true;
  private removed = 0;
  /** Time to fold `recent` into `main` and drop removed keys. */
  /** Records a new key (a key removed earlier and back is listed once). */
  add(key: string): void {
    this.recent.push(key);
    this.recentSorted = false;
    if (this.recent.length > 1024 && this.recent.length * 8 > this.main.length) this.compact = true;
  }

  /** Notes that a key went; it is skipped (by `live`) until the next compaction drops it. */
  noteRemoved(): void {
    if (++this.removed > 1024 && this.removed * 2 > this.main.length) this.compact = true;
  }

  /** The first `limit` keys after `after` (from the start when `null`) for which `live` holds. */
  page(after: string | null, limit: number, live: (key: string) => boolean): string[] {
    if (this.compact) this.rebuild(live);
    if (!this.recentSorted) {
      // Mostly sorted already (new keys at the end): the sort's runs make this about linear.
      this.recent = [...new Set(this.recent)].sort();
      this.recentSorted = true;
    }
    const { main, recent } = this;
    const keys: string[] = [];
    let i = after === null ? 0 : firstAfter(main, after);
    let j = after === null ? 0 : firstAfter(recent, after);
    while (keys.length < limit && (i < main.length || j < recent.length)) {
      const next = j >= recent.length || (i < main.length && main[i] <= recent[j]) ? main[i++] : recent[j++];
      if (next !== keys[keys.length - 1] && live(next)) keys.push(next);
    }
    return keys;
  }

  private compact = false;

  /** Folds the recent run into the main one, dropping keys no longer live. */
  private rebuild(live: (key: string) => boolean): void {
    this.main = [...new Set([...this.main, ...this.recent])].filter(live).sort();
    this.recent = [];
    this.recentSorted = true;
    this.removed = 0;
    this.compact = false;
  }
}

/** Index of the first element of sorted `keys` greater than `after` (binary search). */
function firstAfter(keys: string[], after: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (keys[mid] <= after) low = mid + 1;
    else high = mid;
  }
  return low;
}
