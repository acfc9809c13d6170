import type { SlotRecords } from './slot-records';

/**
 * The in-process expiry index: a binary min-heap of slots (`slot-records.ts`)
 * on their deadline. Each slot's record knows its position in the heap, so
 * moving a deadline or removing a slot is O(log n), and listing what is due
 * is O(due): a walk from the root that never descends below a slot that is
 * not due. The heap itself is an Int32Array of slots, 4 bytes a session.
 */
export class DeadlineHeap {
  private slots = new Int32Array(1024);
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
      if (this.length === this.slots.length) this.grow();
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
    const last = this.slots[--this.length];
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
      const slot = this.slots[index];
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
    const { slots, records } = this;
    const deadline = records.deadline(slot);
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = slots[parentIndex];
      if (records.deadline(parent) <= deadline) break;
      slots[index] = parent;
      records.setHeapIndex(parent, index);
      index = parentIndex;
    }
    slots[index] = slot;
    records.setHeapIndex(slot, index);
  }

  /** Puts `slot` at `index` or below it, moving smaller children up. */
  private down(index: number, slot: number): void {
    const { slots, records, length } = this;
    const deadline = records.deadline(slot);
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      let childDeadline = records.deadline(slots[child]);
      if (child + 1 < length) {
        const right = records.deadline(slots[child + 1]);
        if (right < childDeadline) {
          child++;
          childDeadline = right;
        }
      }
      if (childDeadline >= deadline) break;
      slots[index] = slots[child];
      records.setHeapIndex(slots[index], index);
      index = child;
    }
    slots[index] = slot;
    records.setHeapIndex(slot, index);
  }

  /** Doubles the array: a copy of 4 bytes a session (4 MB at a million). */
  private grow(): void {
    const slots = new Int32Array(this.slots.length * 2);
    slots.set(this.slots);
    this.slots = slots;
  }
}
