import type { AccessEntry, Coordinator, LeaveUpdate } from './coordinator';
import { DeadlineHeap, type HeapItem } from './deadline-heap';

/** An entry as the local coordinator keeps it: `deadline` is `Infinity` for never. */
interface LocalEntry extends HeapItem {
  lastAccessedTime: number;
  storeExpires: number | null;
  active: number;
  claimed: boolean;
}

/**
 * The in-process coordinator: right for one process. Several processes that
 * share an external store need `redisCoordinator()` instead, or each would
 * keep its own idea of when a session was last used.
 *
 * Entries live in a map; those with a deadline also in a {@link DeadlineHeap}
 * (the expiry index), so every update is O(log n) and a sweep O(due).
 */
export class LocalCoordinator implements Coordinator {
  private readonly entries = new Map<string, LocalEntry>();
  private readonly index = new DeadlineHeap<LocalEntry>();

  async enter(key: string, now: number, strictExpiry = false): Promise<AccessEntry | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const before = toAccessEntry(entry);
    if (entry.claimed) return before;
    if (strictExpiry && entry.active === 0 && entry.deadline <= now) return before; // expired: not a user
    entry.lastAccessedTime = now;
    entry.active++;
    return before;
  }

  async inspect(key: string): Promise<AccessEntry | undefined> {
    return this.peek(key);
  }

  async leave(key: string, update: LeaveUpdate): Promise<void> {
    let entry = this.entries.get(key);
    if (!entry) {
      if (update.entered) return; // removed while the request ran
      entry = {
        key,
        heapIndex: -1,
        deadline: Infinity,
        lastAccessedTime: update.lastAccessedTime,
        storeExpires: null,
        active: 1,
        claimed: false,
      };
      this.entries.set(key, entry);
    }
    if (entry.claimed) return;
    if (!update.entered) entry.lastAccessedTime = update.lastAccessedTime; // a subsession, or a new id
    entry.active = Math.max(0, entry.active - 1);
    entry.storeExpires = update.storeExpires;
    if (entry.active > 0 || update.timeoutMs === undefined) return;
    if (update.timeoutMs === null) {
      entry.deadline = Infinity;
      this.index.delete(entry);
    } else {
      this.index.set(entry, update.now + update.timeoutMs);
    }
  }

  async remove(key: string): Promise<boolean> {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    this.index.delete(entry);
    return true;
  }

  async claim(key: string, now: number, entered: boolean): Promise<AccessEntry | undefined> {
    const entry = this.entries.get(key);
    if (!entry || entry.claimed || entry.deadline > now) return undefined;
    if (entry.active > (entered ? 1 : 0)) return undefined;
    const before = toAccessEntry(entry);
    entry.claimed = true;
    this.index.delete(entry);
    return before;
  }

  async due(now: number, limit: number): Promise<string[]> {
    return this.index.due(now, limit).map((entry) => entry.key);
  }

  /** The entry of a session, for tests and the admin API. */
  peek(key: string): AccessEntry | undefined {
    const entry = this.entries.get(key);
    return entry && toAccessEntry(entry);
  }

  /** The number of sessions known. */
  get size(): number {
    return this.entries.size;
  }
}

function toAccessEntry(entry: LocalEntry): AccessEntry {
  return {
    lastAccessedTime: entry.lastAccessedTime,
    deadline: entry.deadline === Infinity ? null : entry.deadline,
    storeExpires: entry.storeExpires,
    active: entry.active,
    claimed: entry.claimed,
  };
}
