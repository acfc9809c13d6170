/**
 * The in-process expiry index: a min-heap of slots on their deadline whose
 * records know their position. Checked against its invariants after every
 * operation and against a naive model (a plain map scanned in full) on a
 * seeded random workload.
 */
import { DeadlineHeap } from '../lib/coordination/local/deadline-heap';
import { SlotRecords } from '../lib/coordination/local/slot-records';
import { seededRandom } from './support/seeded-random';

/** A heap on records of its own, with slots named by key for the checks. */
class Fixture {
  readonly records = new SlotRecords();
  readonly heap = new DeadlineHeap(this.records);
  private readonly keys: string[] = [];

  /** A fresh slot that is in no heap. */
  item(key: string): number {
    const slot = this.records.allocate(0);
    this.keys[slot] = key;
    return slot;
  }

  key(slot: number): string {
    return this.keys[slot];
  }

  /** The heap's slots in array order (its private pages, end to end): the invariants are about them. */
  heapArray(): number[] {
    const pages = (this.heap as unknown as { pages: Int32Array[] }).pages;
    return pages.flatMap((page) => Array.from(page)).slice(0, this.heap.size);
  }

  /** Throws unless every parent's deadline is <= its children's and every slot knows its index. */
  expectHeapOrder(): void {
    const { records } = this;
    this.heapArray().forEach((current, index, slots) => {
      if (records.heapIndex(current) !== index) throw new Error(`${this.key(current)} at ${index} says heapIndex ${records.heapIndex(current)}`);
      if (index === 0) return;
      const parent = slots[(index - 1) >> 1];
      if (records.deadline(parent) > records.deadline(current)) {
        throw new Error(`parent ${this.key(parent)} (${records.deadline(parent)}) above child ${this.key(current)} (${records.deadline(current)})`);
      }
    });
  }

  /** Keys of the slots, sorted, for order-free comparison. */
  keysOf(slots: number[]): string[] {
    return slots.map((slot) => this.key(slot)).sort();
  }
}

describe('DeadlineHeap', () => {
  describe('set()', () => {
    it('adds items in any order and keeps the earliest deadline at the root', () => {
      const t = new Fixture();
      const heap = t.heap;
      const deadlines = [50, 10, 90, 30, 70, 20, 80, 40, 60, 0];
      for (const d of deadlines) heap.set(t.item(`k${d}`), d);
      t.expectHeapOrder();
      expect(heap.size).toBe(deadlines.length);
      expect(t.key(t.heapArray()[0])).toBe('k0');
    });

    it('records the deadline and the position on the item', () => {
      const t = new Fixture();
      const heap = t.heap;
      const a = t.item('a');
      heap.set(a, 123);
      expect(t.records.deadline(a)).toBe(123);
      expect(t.records.heapIndex(a)).toBe(0);
    });

    it('moves an item to an earlier deadline without duplicating it', () => {
      const t = new Fixture();
      const heap = t.heap;
      const items = Array.from({ length: 20 }, (_, i) => t.item(`k${i}`));
      items.forEach((it, i) => {
        heap.set(it, 100 + i);
      });
      heap.set(items[19], 1);
      t.expectHeapOrder();
      expect(heap.size).toBe(20);
      expect(t.heapArray()[0]).toBe(items[19]);
      expect(t.keysOf(heap.due(1, Infinity))).toEqual(['k19']);
    });

    it('moves an item to a later deadline without duplicating it', () => {
      const t = new Fixture();
      const heap = t.heap;
      const items = Array.from({ length: 20 }, (_, i) => t.item(`k${i}`));
      items.forEach((it, i) => {
        heap.set(it, 100 + i);
      });
      heap.set(items[0], 1000);
      t.expectHeapOrder();
      expect(heap.size).toBe(20);
      expect(t.heapArray()[0]).toBe(items[1]);
      expect(heap.due(999, Infinity)).not.toContain(items[0]);
      expect(heap.due(1000, Infinity)).toContain(items[0]);
    });

    it('keeps an item in place when its deadline does not change', () => {
      const t = new Fixture();
      const heap = t.heap;
      const items = Array.from({ length: 7 }, (_, i) => t.item(`k${i}`));
      items.forEach((it, i) => {
        heap.set(it, i * 10);
      });
      heap.set(items[3], 30);
      t.expectHeapOrder();
      expect(heap.size).toBe(7);
    });
  });

  describe('delete()', () => {
    it('removes the root, a leaf and an inner item and keeps heap order', () => {
      const t = new Fixture();
      const heap = t.heap;
      const items = Array.from({ length: 31 }, (_, i) => t.item(`k${i}`));
      // Deadlines out of insertion order so the tree is not trivially sorted.
      items.forEach((it, i) => {
        heap.set(it, (i * 17) % 31);
      });
      const root = t.heapArray()[0];
      const leaf = t.heapArray()[heap.size - 1];
      const inner = t.heapArray()[3];
      for (const gone of [root, leaf, inner]) {
        heap.delete(gone);
        expect(t.records.heapIndex(gone)).toBe(-1);
        t.expectHeapOrder();
      }
      expect(heap.size).toBe(28);
      const left = heap.due(Infinity, Infinity);
      expect(left).not.toContain(root);
      expect(left).not.toContain(leaf);
      expect(left).not.toContain(inner);
    });

    it('restores order when the last item moved into the hole must go up', () => {
      // Inserted in level order, a valid heap stays exactly as given:
      //            0
      //       1        10
      //     2   3    11  12
      //    4 5
      // Deleting 11 moves the last item (5) under 10: it must go up.
      const t = new Fixture();
      const heap = t.heap;
      const byDeadline = new Map<number, number>();
      for (const d of [0, 1, 10, 2, 3, 11, 12, 4, 5]) {
        const it = t.item(`k${d}`);
        byDeadline.set(d, it);
        heap.set(it, d);
      }
      expect(t.heapArray().map((slot) => t.records.deadline(slot))).toEqual([0, 1, 10, 2, 3, 11, 12, 4, 5]);
      heap.delete(byDeadline.get(11)!);
      t.expectHeapOrder();
      expect(t.heapArray()[2]).toBe(byDeadline.get(5));
      expect(t.keysOf(heap.due(5, Infinity))).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
    });

    it('ignores an item that is not in the heap', () => {
      const t = new Fixture();
      const heap = t.heap;
      heap.set(t.item('a'), 1);
      heap.delete(t.item('stranger'));
      const a = t.heapArray()[0];
      heap.delete(a);
      heap.delete(a);
      expect(heap.size).toBe(0);
    });

    it('lets a deleted item be added again', () => {
      const t = new Fixture();
      const heap = t.heap;
      const a = t.item('a');
      heap.set(a, 5);
      heap.delete(a);
      heap.set(a, 7);
      expect(heap.size).toBe(1);
      expect(heap.due(7, 10)).toEqual([a]);
    });
  });

  describe('due()', () => {
    it('returns nothing from an empty heap', () => {
      expect(new Fixture().heap.due(Infinity, 10)).toEqual([]);
    });

    it('returns exactly the items whose deadline is <= now, the boundary included', () => {
      const t = new Fixture();
      const heap = t.heap;
      for (let i = 0; i < 100; i++) heap.set(t.item(`k${i}`), (i * 37) % 100);
      const due = heap.due(49, Infinity);
      const expected = Array.from({ length: 100 }, (_, i) => i)
        .filter((i) => (i * 37) % 100 <= 49)
        .map((i) => `k${i}`)
        .sort();
      expect(t.keysOf(due)).toEqual(expected);
      expect(due).toHaveLength(50);
      expect(heap.size).toBe(100); // due() only lists
    });

    it('returns at most limit items, all of them due', () => {
      const t = new Fixture();
      const heap = t.heap;
      for (let i = 0; i < 100; i++) heap.set(t.item(`k${i}`), i);
      const due = heap.due(59, 7);
      expect(due).toHaveLength(7);
      expect(new Set(due).size).toBe(7);
      for (const it of due) expect(t.records.deadline(it)).toBeLessThanOrEqual(59);
      expect(heap.due(59, 0)).toEqual([]);
    });

    it('returns nothing when nothing is due', () => {
      const t = new Fixture();
      const heap = t.heap;
      for (let i = 0; i < 10; i++) heap.set(t.item(`k${i}`), 1000 + i);
      expect(heap.due(999, 100)).toEqual([]);
    });

    it('visits only due items and their children, not the whole heap', () => {
      const t = new Fixture();
      const heap = t.heap;
      const items = Array.from({ length: 10_000 }, (_, i) => t.item(`k${i}`));
      items.forEach((it, i) => {
        heap.set(it, 1000 + i);
      });
      heap.set(items[5000], 1);
      heap.set(items[9000], 2);
      // Count deadline reads: an O(due) walk reads a handful, a scan reads 10,000.
      const deadline = jest.spyOn(t.records, 'deadline');
      expect(t.keysOf(heap.due(2, 100))).toEqual(['k5000', 'k9000']);
      expect(deadline.mock.calls.length).toBeLessThan(20);
    });
  });

  describe('across its pages (4,096 slots each)', () => {
    it('keeps heap order and lists what is due with 10,000 items moved and removed on both sides of page boundaries', () => {
      const random = seededRandom(5);
      const t = new Fixture();
      const items = Array.from({ length: 10_000 }, (_, i) => t.item(`k${i}`));
      const deadlines = new Map<number, number>();
      for (const it of items) {
        const d = Math.floor(random() * 100_000);
        t.heap.set(it, d);
        deadlines.set(it, d);
      }
      t.expectHeapOrder();
      for (const it of items.slice(4000, 4200)) {
        t.heap.delete(it);
        deadlines.delete(it);
      }
      for (const it of items.slice(8100, 8300)) {
        const d = Math.floor(random() * 100_000);
        t.heap.set(it, d);
        deadlines.set(it, d);
      }
      t.expectHeapOrder();
      expect(t.heap.size).toBe(deadlines.size);
      const expected = [...deadlines].filter(([, d]) => d <= 20_000).map(([it]) => t.key(it)).sort();
      expect(t.keysOf(t.heap.due(20_000, Infinity))).toEqual(expected);
    });
  });

  describe('against a naive model', () => {
    it('agrees with a scanned map over 20,000 random operations (seed 42)', () => {
      const random = seededRandom(42);
      const t = new Fixture();
      const heap = t.heap;
      const model = new Map<string, number>();
      const pool = Array.from({ length: 300 }, (_, i) => t.item(`k${i}`));
      const draw = (): number => pool[Math.floor(random() * pool.length)];
      const deadline = (): number => Math.floor(random() * 1000);
      for (let step = 0; step < 20_000; step++) {
        const choice = random();
        if (choice < 0.55) {
          const it = draw();
          const d = deadline();
          heap.set(it, d); // add or move
          model.set(t.key(it), d);
        } else if (choice < 0.8) {
          const it = draw();
          heap.delete(it);
          model.delete(t.key(it));
        } else {
          const now = deadline();
          const expected = [...model].filter(([, d]) => d <= now).map(([k]) => k).sort();
          const all = t.keysOf(heap.due(now, Infinity));
          if (all.join() !== expected.join()) throw new Error(`step ${step}: due(${now}) is [${all}], model says [${expected}]`);
          const limit = Math.floor(random() * 10);
          const limited = t.keysOf(heap.due(now, limit));
          const wrong = limited.filter((k) => !expected.includes(k));
          if (limited.length !== Math.min(limit, expected.length) || wrong.length > 0 || new Set(limited).size !== limited.length) {
            throw new Error(`step ${step}: due(${now}, ${limit}) is [${limited}], model says [${expected}]`);
          }
        }
        if (step % 97 === 0) t.expectHeapOrder();
        if (heap.size !== model.size) throw new Error(`step ${step}: size ${heap.size}, model ${model.size}`);
      }
      t.expectHeapOrder();
      for (const it of pool) {
        if (model.has(t.key(it))) expect(t.records.deadline(it)).toBe(model.get(t.key(it)));
        else expect(t.records.heapIndex(it)).toBe(-1);
      }
    });
  });
});
