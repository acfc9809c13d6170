/**
 * The caps ability of a coordinator: caps on live sessions (docs/architecture.md, "Caps"): per app
 * (`maxActiveSessions`) and per user (`maxSessionsPerPrincipal`), counted
 * where every process sharing the coordinator sees the same count, each
 * admission one atomic step so that processes admitting at the same moment
 * never pass a cap together.
 */
export interface SessionCaps {
  /**
   * Counts `key` among the live sessions of `app` if fewer than `max` are
   * counted (`Infinity`: whatever the count; a key counted already is
   * always admitted), until `until` (ms: when its record expires by the
   * store's TTL; admitting it again renews that). Resolves whether it is
   * counted. A count whose `until` passed no longer counts: a session lost
   * without a destruction (its record's TTL ran out) frees its place.
   */
  admitSession(app: string, key: string, max: number, until: number, now: number): Promise<boolean>;
  /** Stops counting `key` among its app's sessions (destroyed, or renamed). */
  releaseSession(app: string, key: string): Promise<void>;
  /** How many sessions each of `apps` counts at `now`. */
  liveSessions(apps: readonly string[], now: number): Promise<Record<string, number>>;
  /** The keys counted for `principal`, each with when it was last seen used (ms). */
  principalSessions(principal: string): Promise<[key: string, usedAt: number][]>;
  /**
   * Counts `key` among `principal`'s sessions. `seen` brings, for keys
   * counted, when the caller found them last used (ms), or `null` for one
   * that is gone (it stops counting). If fewer than `max` are then counted,
   * `key` is; else with `evict` the least recently used leave to make room
   * and are returned (the caller kills them); else `key` is not counted.
   */
  admitPrincipal(
    principal: string,
    key: string,
    max: number,
    evict: boolean,
    seen: readonly [key: string, usedAt: number | null][],
    now: number,
  ): Promise<{ admitted: boolean; evicted: string[] }>;
}
