import type { SlotRecords } from './slot-records';

/**
 * The in-process expiry index: a binary min-heap of slots (`slot-records.ts`)
 * on their deadline. Each slot's record knows its position in the heap, so
 * moving a deadline or removing a slot is O(log n), and listing what is due
 * is O(due): a walk from the root that never descends below a slot that is
 * not due. The heap itself is an array of slots, 4 bytes a session, in
 * pages of 4,096 (Int32Arrays) added as it grows and never copied: one
 * array doubled at a million entries is an 8 MB allocation and a 4 MB copy
 * in one step (docs/architecture.md, "Large maps").
 */
export class DeadlineHeap {
  private readonly pages: Int32Array[] = [];
  private length = 0;

  constructor(private readonly records: SlotRecords) {}

  get size(): number {
    return this.length;
  }

  /** Adds the slot, or moves it to its new deadline. */
  set(slot: number, deadline: number): void {
    const records = this.records;
    const previous = records.deadline(slot);
    records.setDeadline(slot, deadline);
    const index = records.heapIndex(slot);
    if (index < 0) {
      if (this.length === this.pages.length << PAGE_BITS) this.pages.push(new Int32Array(PAGE_SIZE));
      this.up(this.length++, slot);
    } else if (deadline < previous) {
      this.up(index, slot);
    } else {
      this.down(index, slot);
    }
  }

  /** Removes the slot if it is in the heap. */
  delete(slot: number): void {
    const index = this.records.heapIndex(slot);
    if (index < 0) return;
    this.records.setHeapIndex(slot, -1);
    const last = this.at(--this.length);
    if (last === slot) return;
    this.up(index, last);
    this.down(this.records.heapIndex(last), last);
  }

  /** Up to `limit` slots whose deadline is `<= now` (not in deadline order). */
  due(now: number, limit: number): number[] {
    const found: number[] = [];
    const stack: number[] = this.length > 0 ? [0] : [];
    while (stack.length > 0 && found.length < limit) {
      const index = stack.pop()!;
      const slot = this.at(index);
      if (this.records.deadline(slot) > now) continue;
      found.push(slot);
      const left = 2 * index + 1;
      if (left < this.length) stack.push(left);
      if (left + 1 < this.length) stack.push(left + 1);
    }
    return found;
  }

  /** Puts `slot` at `index` or above it, moving larger parents down. */
  private up(index: number, slot: number): void {
    const { pages, records } = this;
    const deadline = records.deadline(slot);
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = pages[parentIndex >> PAGE_BITS][parentIndex & PAGE_MASK];
      if (records.deadline(parent) <= deadline) break;
      pages[index >> PAGE_BITS][index & PAGE_MASK] = parent;
      records.setHeapIndex(parent, index);
      index = parentIndex;
    }
    pages[index >> PAGE_BITS][index & PAGE_MASK] = slot;
    records.setHeapIndex(slot, index);
  }

  /** Puts `slot` at `index` or below it, moving smaller children up. */
  private down(index: number, slot: number): void {
    const { pages, records, length } = this;
    const deadline = records.deadline(slot);
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      let childSlot = pages[child >> PAGE_BITS][child & PAGE_MASK];
      let childDeadline = records.deadline(childSlot);
      if (child + 1 < length) {
        const rightSlot = pages[(child + 1) >> PAGE_BITS][(child + 1) & PAGE_MASK];
        const right = records.deadline(rightSlot);
        if (right < childDeadline) {
          child++;
          childSlot = rightSlot;
          childDeadline = right;
        }
      }
      if (childDeadline >= deadline) break;
      pages[index >> PAGE_BITS][index & PAGE_MASK] = childSlot;
      records.setHeapIndex(childSlot, index);
      index = child;
    }
    pages[index >> PAGE_BITS][index & PAGE_MASK] = slot;
    records.setHeapIndex(slot, index);
  }

  /** The slot at a position of the heap. */
  private at(index: number): number {
    return this.pages[index >> PAGE_BITS][index & PAGE_MASK];
  }
}

const PAGE_BITS = 12;
const PAGE_SIZE = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SIZE - 1;
