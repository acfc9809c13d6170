/**
 * The key of each slot of `slot-records.ts` (`undefined` for a free one),
 * for `due()`: in pages of 1,024 like the records themselves
 * (docs/architecture.md, "Large maps"). One JavaScript array of a million
 * keys would be copied whole each time it grows, tens of milliseconds in one
 * step; a page is allocated once and never copied.
 */
export class SlotKeys {
  private readonly pages: (string | undefined)[][] = [];

  get(slot: number): string | undefined {
    return this.pages[slot >> PAGE_BITS]?.[slot & SLOT_MASK];
  }

  set(slot: number, key: string | undefined): void {
    const page = slot >> PAGE_BITS;
    while (this.pages.length <= page) this.pages.push(new Array<string | undefined>(PAGE_SLOTS).fill(undefined));
    this.pages[page][slot & SLOT_MASK] = key;
  }
}

const PAGE_BITS = 10;
const PAGE_SLOTS = 1 << PAGE_BITS;
const SLOT_MASK = PAGE_SLOTS - 1;
