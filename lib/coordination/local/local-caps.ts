/**
 * The in-process side of {@link SessionCaps} (docs/architecture.md, "Caps"):
 * what `scripts.lua` keeps in Redis, kept in maps. Each call runs alone on
 * the one thread, so an admission is atomic as the Lua script is.
 *
 * - per app: key → until (ms), the sessions counted toward `maxActiveSessions`;
 * - per user: key → when last seen used (ms), toward `maxSessionsPerPrincipal`.
 */
import type { SessionCaps } from '../coordinator';

export class LocalCaps implements SessionCaps {
  private readonly apps = new Map<string, Map<string, number>>();
  private readonly users = new Map<string, Map<string, number>>();

  async admitSession(app: string, key: string, max: number, until: number, now: number): Promise<boolean> {
    let counted = this.apps.get(app);
    if (!counted) this.apps.set(app, (counted = new Map()));
    // Expired counts are dropped only when the cap is reached: an admission below it costs O(1).
    if (!counted.has(key) && counted.size >= max && liveCount(counted, now) >= max) return false;
    counted.set(key, until);
    return true;
  }

  async releaseSession(app: string, key: string): Promise<void> {
    this.apps.get(app)?.delete(key);
  }

  async liveSessions(apps: readonly string[], now: number): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const app of apps) counts[app] = liveCount(this.apps.get(app), now);
    return counts;
  }

  async principalSessions(principal: string): Promise<[string, number][]> {
    return [...(this.users.get(principal) ?? [])];
  }

  async admitPrincipal(
    principal: string,
    key: string,
    max: number,
    evict: boolean,
    seen: readonly [string, number | null][],
    now: number,
  ): Promise<{ admitted: boolean; evicted: string[] }> {
    let held = this.users.get(principal);
    if (!held) this.users.set(principal, (held = new Map()));
    // 1. What the caller found: gone ones stop counting, the others' last use is noted.
    for (const [other, usedAt] of seen) {
      if (!held.has(other)) continue;
      if (usedAt === null) held.delete(other);
      else held.set(other, usedAt);
    }
    // 2. Room, or counted already.
    if (held.has(key) || held.size < max) {
      held.set(key, now);
      return { admitted: true, evicted: [] };
    }
    if (!evict) {
      if (held.size === 0) this.users.delete(principal);
      return { admitted: false, evicted: [] };
    }
    // 3. The least recently used make room.
    const evicted = [...held].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).slice(0, held.size - max + 1).map(([k]) => k);
    for (const gone of evicted) held.delete(gone);
    held.set(key, now);
    return { admitted: true, evicted };
  }
}

/** How many of `counted` still count at `now` (their `until` not passed); drops the rest. */
function liveCount(counted: Map<string, number> | undefined, now: number): number {
  if (!counted) return 0;
  for (const [key, until] of counted) if (until <= now) counted.delete(key);
  return counted.size;
}
