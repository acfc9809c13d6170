/**
 * The in-process expiry index: a min-heap on deadline whose items know their
 * position. Checked against its invariants after every operation and against
 * a naive model (a plain map scanned in full) on a seeded random workload.
 */
import { DeadlineHeap, type HeapItem } from '../lib/coordination/local/deadline-heap';
import { seededRandom } from './support/seeded-random';

/** A fresh item that is in no heap. */
function item(key: string, deadline = 0): HeapItem {
  return { key, deadline, heapIndex: -1 };
}

/** The heap's backing array (private): the invariants are about it. */
function heapArray(heap: DeadlineHeap<HeapItem>): HeapItem[] {
  return (heap as unknown as { items: HeapItem[] }).items;
}

/** Throws unless every parent's deadline is <= its children's and every item knows its index. */
function expectHeapOrder(heap: DeadlineHeap<HeapItem>): void {
  const items = heapArray(heap);
  expect(heap.size).toBe(items.length);
  items.forEach((current, index) => {
    if (current.heapIndex !== index) throw new Error(`item ${current.key} at ${index} says heapIndex ${current.heapIndex}`);
    if (index === 0) return;
    const parent = items[(index - 1) >> 1];
    if (parent.deadline > current.deadline) {
      throw new Error(`parent ${parent.key} (${parent.deadline}) above child ${current.key} (${current.deadline})`);
    }
  });
}

/** Keys of the items, sorted, for order-free comparison. */
function keysOf(items: HeapItem[]): string[] {
  return items.map((i) => i.key).sort();
}

describe('DeadlineHeap', () => {
  describe('set()', () => {
    it('adds items in any order and keeps the earliest deadline at the root', () => {
      const heap = new DeadlineHeap<HeapItem>();
      const deadlines = [50, 10, 90, 30, 70, 20, 80, 40, 60, 0];
      deadlines.forEach((d) => {
        heap.set(item(`k${d}`), d);
      });
      expectHeapOrder(heap);
      expect(heap.size).toBe(deadlines.length);
      expect(heapArray(heap)[0].key).toBe('k0');
    });

    it('records the deadline and the position on the item', () => {
      const heap = new DeadlineHeap<HeapItem>();
      const a = item('a');
      heap.set(a, 123);
      expect(a.deadline).toBe(123);
      expect(a.heapIndex).toBe(0);
    });

    it('moves an item to an earlier deadline without duplicating it', () => {
      const heap = new DeadlineHeap<HeapItem>();
      const items = Array.from({ length: 20 }, (_, i) => item(`k${i}`));
      items.forEach((it, i) => {
        heap.set(it, 100 + i);
      });
      heap.set(items[19], 1);
      expectHeapOrder(heap);
      expect(heap.size).toBe(20);
      expect(heapArray(heap)[0]).toBe(items[19]);
      expect(keysOf(heap.due(1, Infinity))).toEqual(['k19']);
    });

    it('moves an item to a later deadline without duplicating it', () => {
      const heap = new DeadlineHeap<HeapItem>();
      const items = Array.from({ length: 20 }, (_, i) => item(`k${i}`));
      items.forEach((it, i) => {
        heap.set(it, 100 + i);
      });
      heap.set(items[0], 1000);
      expectHeapOrder(heap);
      expect(heap.size).toBe(20);
      expect(heapArray(heap)[0]).toBe(items[1]);
      expect(heap.due(999, Infinity)).not.toContain(items[0]);
      expect(heap.due(1000, Infinity)).toContain(items[0]);
    });

    it('keeps an item in place when its deadline does not change', () => {
      const heap = new DeadlineHeap<HeapItem>();
      const items = Array.from({ length: 7 }, (_, i) => item(`k${i}`));
      items.forEach((it, i) => {
        heap.set(it, i * 10);
      });
      heap.set(items[3], 30);
      expectHeapOrder(heap);
      expect(heap.size).toBe(7);
    });
  });

  describe('delete()', () => {
    it('removes the root, a leaf and an inner item and keeps heap order', () => {
      const heap = new DeadlineHeap<HeapItem>();
      const items = Array.from({ length: 31 }, (_, i) => item(`k${i}`));
      // Deadlines out of insertion order so the tree is not trivially sorted.
      items.forEach((it, i) => {
        heap.set(it, (i * 17) % 31);
      });
      const root = heapArray(heap)[0];
      const leaf = heapArray(heap)[heap.size - 1];
      const inner = heapArray(heap)[3];
      for (const gone of [root, leaf, inner]) {
        heap.delete(gone);
        expect(gone.heapIndex).toBe(-1);
        expectHeapOrder(heap);
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
      const heap = new DeadlineHeap<HeapItem>();
      const byDeadline = new Map<number, HeapItem>();
      for (const d of [0, 1, 10, 2, 3, 11, 12, 4, 5]) {
        const it = item(`k${d}`);
        byDeadline.set(d, it);
        heap.set(it, d);
      }
      expect(heapArray(heap).map((i) => i.deadline)).toEqual([0, 1, 10, 2, 3, 11, 12, 4, 5]);
      heap.delete(byDeadline.get(11)!);
      expectHeapOrder(heap);
      expect(heapArray(heap)[2]).toBe(byDeadline.get(5));
      expect(keysOf(heap.due(5, Infinity))).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
    });

    it('ignores an item that is not in the heap', () => {
      const heap = new DeadlineHeap<HeapItem>();
      heap.set(item('a'), 1);
      heap.delete(item('stranger'));
      const a = heapArray(heap)[0];
      heap.delete(a);
      heap.delete(a);
      expect(heap.size).toBe(0);
    });

    it('lets a deleted item be added again', () => {
      const heap = new DeadlineHeap<HeapItem>();
      const a = item('a');
      heap.set(a, 5);
      heap.delete(a);
      heap.set(a, 7);
      expect(heap.size).toBe(1);
      expect(heap.due(7, 10)).toEqual([a]);
    });
  });

  describe('due()', () => {
    it('returns nothing from an empty heap', () => {
      expect(new DeadlineHeap<HeapItem>().due(Infinity, 10)).toEqual([]);
    });

    it('returns exactly the items whose deadline is <= now, the boundary included', () => {
      const heap = new DeadlineHeap<HeapItem>();
      for (let i = 0; i < 100; i++) heap.set(item(`k${i}`), (i * 37) % 100);
      const due = heap.due(49, Infinity);
      const expected = Array.from({ length: 100 }, (_, i) => i)
        .filter((i) => (i * 37) % 100 <= 49)
        .map((i) => `k${i}`)
        .sort();
      expect(keysOf(due)).toEqual(expected);
      expect(due).toHaveLength(50);
      expect(heap.size).toBe(100); // due() only lists
    });

    it('returns at most limit items, all of them due', () => {
      const heap = new DeadlineHeap<HeapItem>();
      for (let i = 0; i < 100; i++) heap.set(item(`k${i}`), i);
      const due = heap.due(59, 7);
      expect(due).toHaveLength(7);
      expect(new Set(due).size).toBe(7);
      for (const it of due) expect(it.deadline).toBeLessThanOrEqual(59);
      expect(heap.due(59, 0)).toEqual([]);
    });

    it('returns nothing when nothing is due', () => {
      const heap = new DeadlineHeap<HeapItem>();
      for (let i = 0; i < 10; i++) heap.set(item(`k${i}`), 1000 + i);
      expect(heap.due(999, 100)).toEqual([]);
    });

    it('visits only due items and their children, not the whole heap', () => {
      const heap = new DeadlineHeap<HeapItem>();
      const items = Array.from({ length: 10_000 }, (_, i) => item(`k${i}`));
      items.forEach((it, i) => {
        heap.set(it, 1000 + i);
      });
      heap.set(items[5000], 1);
      heap.set(items[9000], 2);
      // Count deadline reads: an O(due) walk reads a handful, a scan reads 10,000.
      let reads = 0;
      for (const it of items) {
        const value = it.deadline;
        Object.defineProperty(it, 'deadline', {
          configurable: true,
          get: () => {
            reads++;
            return value;
          },
        });
      }
      expect(keysOf(heap.due(2, 100))).toEqual(['k5000', 'k9000']);
      expect(reads).toBeLessThan(20);
    });
  });

  describe('against a naive model', () => {
    it('agrees with a scanned map over 20,000 random operations (seed 42)', () => {
      const random = seededRandom(42);
      const heap = new DeadlineHeap<HeapItem>();
      const model = new Map<string, number>();
      const pool = Array.from({ length: 300 }, (_, i) => item(`k${i}`));
      const draw = (): HeapItem => pool[Math.floor(random() * pool.length)];
      const deadline = (): number => Math.floor(random() * 1000);
      for (let step = 0; step < 20_000; step++) {
        const choice = random();
        if (choice < 0.55) {
          const it = draw();
          const d = deadline();
          heap.set(it, d); // add or move
          model.set(it.key, d);
        } else if (choice < 0.8) {
          const it = draw();
          heap.delete(it);
          model.delete(it.key);
        } else {
          const now = deadline();
          const expected = [...model].filter(([, d]) => d <= now).map(([k]) => k).sort();
          const all = keysOf(heap.due(now, Infinity));
          if (all.join() !== expected.join()) throw new Error(`step ${step}: due(${now}) is [${all}], model says [${expected}]`);
          const limit = Math.floor(random() * 10);
          const limited = keysOf(heap.due(now, limit));
          const wrong = limited.filter((k) => !expected.includes(k));
          if (limited.length !== Math.min(limit, expected.length) || wrong.length > 0 || new Set(limited).size !== limited.length) {
            throw new Error(`step ${step}: due(${now}, ${limit}) is [${limited}], model says [${expected}]`);
          }
        }
        if (step % 97 === 0) expectHeapOrder(heap);
        if (heap.size !== model.size) throw new Error(`step ${step}: size ${heap.size}, model ${model.size}`);
      }
      expectHeapOrder(heap);
      for (const it of pool) {
        if (model.has(it.key)) expect(it.deadline).toBe(model.get(it.key));
        else expect(it.heapIndex).toBe(-1);
      }
    });
  });
});
