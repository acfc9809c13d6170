/**
 * The numbers of the in-process coordinator's entries, one fixed 32-byte
 * record per entry ("slot") in pages of typed arrays (docs/architecture.md,
 * "Coordinators"): no object, no boxed number per entry, and the fields of
 * one entry side by side in memory, so an update touches one cache line.
 *
 * ```
 * bytes  0–7   lastAccessedTime (ms, float64)
 * bytes  8–15  deadline         (ms, float64; Infinity = never)
 * bytes 16–23  storeExpires     (ms, float64; NaN = null)
 * bytes 24–27  heapIndex        (int32; -1 = not in the expiry heap; next free slot when free)
 * bytes 28–31  flags            (int32: CLAIMED | KILLED)
 * ```
 *
 * Pages have a fixed size and are never copied, so growing costs one small
 * allocation, never a copy of every record (no pause as n grows). A freed
 * slot goes on a free list threaded through its own heapIndex field and is
 * reused first.
 */

/** Flag: claimed for destruction. */
export const CLAIMED = 1;
/** Flag: killed by an administrator (then also claimed). */
export const KILLED = 2;

const PAGE_BITS = 10;
const PAGE_SLOTS = 1 << PAGE_BITS;
const SLOT_MASK = PAGE_SLOTS - 1;
/** float64 words per record (32 bytes). */
const WORDS = 4;
const LAST_ACCESSED = 0;
const DEADLINE = 1;
const STORE_EXPIRES = 2;
/** In int32 units: the last 8 bytes of a record. */
const HEAP_INDEX = 6;
const FLAGS = 7;

export class SlotRecords {
  /** Two views of each page: the float64 fields and the int32 fields. */
  private readonly floats: Float64Array[] = [];
  private readonly ints: Int32Array[] = [];
  /** Slots ever handed out (the high-water mark). */
  private used = 0;
  /** The first free slot, -1 when none. */
  private free = -1;

  /** A slot for a new entry: `lastAccessedTime`, no deadline, no store expiry, not in the heap, no flags. */
  allocate(lastAccessedTime: number): number {
    let slot = this.free;
    if (slot >= 0) {
      this.free = this.heapIndex(slot);
    } else {
      slot = this.used++;
      if ((slot & SLOT_MASK) === 0) this.addPage();
    }
    const floats = this.floats[slot >> PAGE_BITS];
    const at = (slot & SLOT_MASK) * WORDS;
    floats[at + LAST_ACCESSED] = lastAccessedTime;
    floats[at + DEADLINE] = Infinity;
    floats[at + STORE_EXPIRES] = NaN;
    const ints = this.ints[slot >> PAGE_BITS];
    ints[at * 2 + HEAP_INDEX] = -1;
    ints[at * 2 + FLAGS] = 0;
    return slot;
  }

  /** Gives a slot back (it must be out of the heap). */
  release(slot: number): void {
    this.setHeapIndex(slot, this.free);
    this.free = slot;
  }

  lastAccessedTime(slot: number): number {
    return this.floats[slot >> PAGE_BITS][(slot & SLOT_MASK) * WORDS + LAST_ACCESSED];
  }

  setLastAccessedTime(slot: number, ms: number): void {
    this.floats[slot >> PAGE_BITS][(slot & SLOT_MASK) * WORDS + LAST_ACCESSED] = ms;
  }

  /** The idle deadline, ms; `Infinity` for never. */
  deadline(slot: number): number {
    return this.floats[slot >> PAGE_BITS][(slot & SLOT_MASK) * WORDS + DEADLINE];
  }

  setDeadline(slot: number, ms: number): void {
    this.floats[slot >> PAGE_BITS][(slot & SLOT_MASK) * WORDS + DEADLINE] = ms;
  }

  storeExpires(slot: number): number | null {
    const ms = this.floats[slot >> PAGE_BITS][(slot & SLOT_MASK) * WORDS + STORE_EXPIRES];
    return Number.isNaN(ms) ? null : ms; // NaN stands for null
  }

  setStoreExpires(slot: number, ms: number | null): void {
    this.floats[slot >> PAGE_BITS][(slot & SLOT_MASK) * WORDS + STORE_EXPIRES] = ms === null ? NaN : ms;
  }

  /** The slot's position in the expiry heap, -1 when not in it. */
  heapIndex(slot: number): number {
    return this.ints[slot >> PAGE_BITS][(slot & SLOT_MASK) * WORDS * 2 + HEAP_INDEX];
  }

  setHeapIndex(slot: number, index: number): void {
    this.ints[slot >> PAGE_BITS][(slot & SLOT_MASK) * WORDS * 2 + HEAP_INDEX] = index;
  }

  /** `CLAIMED | KILLED` bits. */
  flags(slot: number): number {
    return this.ints[slot >> PAGE_BITS][(slot & SLOT_MASK) * WORDS * 2 + FLAGS];
  }

  setFlags(slot: number, flags: number): void {
    this.ints[slot >> PAGE_BITS][(slot & SLOT_MASK) * WORDS * 2 + FLAGS] = flags;
  }

  private addPage(): void {
    const page = new ArrayBuffer(PAGE_SLOTS * WORDS * 8);
    this.floats.push(new Float64Array(page));
    this.ints.push(new Int32Array(page));
  }
}
