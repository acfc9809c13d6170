/** An item of the heap: the caller's object, with its deadline and heap position. */
export interface HeapItem {
  key: string;
  /** ms since epoch. */
  deadline: number;
  /** Position in the heap array; -1 when not in the heap. Maintained by the heap. */
  heapIndex: number;
}

/**
 * The in-process expiry index: a binary min-heap on deadline whose items know
 * their position, so moving a deadline or removing an item is O(log n) and
 * listing what is due is O(due): a walk from the root that never descends
 * below an item that is not due.
 */
export class DeadlineHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  /** Adds the item, or moves it to its new deadline. */
  set(item: T, deadline: number): void {
    const previous = item.deadline;
    item.deadline = deadline;
    if (item.heapIndex < 0) {
      item.heapIndex = this.items.length;
      this.items.push(item);
      this.up(item.heapIndex);
    } else if (deadline < previous) {
      this.up(item.heapIndex);
    } else {
      this.down(item.heapIndex);
    }
  }

  /** Removes the item if it is in the heap. */
  delete(item: T): void {
    const index = item.heapIndex;
    if (index < 0) return;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (last === item) return;
    this.items[index] = last;
    last.heapIndex = index;
    this.up(index);
    this.down(last.heapIndex);
  }

  /** Up to `limit` items whose deadline is `<= now` (not in deadline order). */
  due(now: number, limit: number): T[] {
    const found: T[] = [];
    const stack: number[] = this.items.length > 0 ? [0] : [];
    while (stack.length > 0 && found.length < limit) {
      const index = stack.pop()!;
      const item = this.items[index];
      if (item.deadline > now) continue;
      found.push(item);
      const left = 2 * index + 1;
      if (left < this.items.length) stack.push(left);
      if (left + 1 < this.items.length) stack.push(left + 1);
    }
    return found;
  }

  private up(index: number): void {
    const items = this.items;
    const item = items[index];
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex];
      if (parent.deadline <= item.deadline) break;
      items[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    items[index] = item;
    item.heapIndex = index;
  }

  private down(index: number): void {
    const items = this.items;
    const item = items[index];
    const length = items.length;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      if (child + 1 < length && items[child + 1].deadline < items[child].deadline) child++;
      if (items[child].deadline >= item.deadline) break;
      items[index] = items[child];
      items[index].heapIndex = index;
      index = child;
    }
    items[index] = item;
    item.heapIndex = index;
  }
}
