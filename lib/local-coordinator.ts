import type { AccessEntry, Coordinator, LeaveUpdate } from './coordinator';

/**
 * The in-process coordinator: right for one process. Several processes that
 * share an external store need `redisCoordinator()` instead, or each would
 * keep its own idea of when a session was last used.
 */
export class LocalCoordinator implements Coordinator {
  private readonly entries = new Map<string, AccessEntry>();

  async enter(key: string, now: number): Promise<AccessEntry | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const before = { ...entry };
    entry.lastAccessedTime = now;
    entry.active++;
    return before;
  }

  async leave(key: string, update: LeaveUpdate): Promise<void> {
    let entry = this.entries.get(key);
    if (!entry) {
      if (update.entered) return; // removed while the request ran
      entry = { lastAccessedTime: update.lastAccessedTime, deadline: null, storeExpires: null, active: 1 };
      this.entries.set(key, entry);
    }
    entry.active = Math.max(0, entry.active - 1);
    entry.storeExpires = update.storeExpires;
    if (entry.active > 0 || update.timeoutMs === undefined) return;
    entry.deadline = update.timeoutMs === null ? null : update.now + update.timeoutMs;
  }

  async remove(key: string): Promise<boolean> {
    return this.entries.delete(key);
  }

  /** The entry of a session, for tests and the admin API. */
  peek(key: string): AccessEntry | undefined {
    const entry = this.entries.get(key);
    return entry && { ...entry };
  }

  /** The number of sessions known. */
  get size(): number {
    return this.entries.size;
  }
}
