/**
 * The Redis side of the session caps (docs/architecture.md, "Caps"). Keys
 * (`P` the coordinator's prefix):
 *
 * - `P{a.<app>}live` sorted set — the sessions an app counts toward
 *   `maxActiveSessions`: member the session key, score when the count lapses
 *   (its record's store expiry, renewed as it moves). The app's own hash tag
 *   puts one app's count in one slot, whatever the shards of its sessions.
 * - `P{u.<user, base64url>}user` sorted set — the sessions a user holds
 *   toward `maxSessionsPerPrincipal`: member the session key, score when it
 *   was last seen used; expires 30 days after its last admission.
 *
 * Commands (each one script of `scripts.lua`, one round trip):
 * - admitsession: ZREMRANGEBYSCORE (lapsed), ZSCORE, ZCARD, ZADD
 * - releasesession: ZREM; livecount: ZCOUNT (per app)
 * - principalsessions: ZRANGE WITHSCORES
 * - admitprincipal: per member the caller looked at, ZSCORE + ZREM (gone) or
 *   ZADD (a later last use); ZCARD; when full, ZRANGE of the least recently
 *   used + ZREM each (evicted); ZADD; PEXPIRE
 *
 * A login under `maxSessionsPerPrincipal` thus costs, besides the request's
 * own scripts: principalsessions, one `inspect` per session the user holds
 * (sent together: one round trip), admitprincipal, and a kill per evicted
 * session — three round trips, four with an eviction.
 */
import type { SessionCaps } from '../coordinator';
import type { ScriptName } from './redis-scripts';

/** How the caps reach Redis: the coordinator's bounded script calls. */
export type RunScript = (name: ScriptName, keys: string[], args: string[]) => Promise<unknown>;

export class RedisCaps implements SessionCaps {
  constructor(
    private readonly run: RunScript,
    private readonly prefix: string,
  ) {}

  async admitSession(app: string, key: string, max: number, until: number, now: number): Promise<boolean> {
    const limit = max === Infinity ? 'inf' : String(max);
    return Number(await this.run('admitsession', [this.appKey(app)], [key, limit, String(until), String(now)])) === 1;
  }

  async releaseSession(app: string, key: string): Promise<void> {
    await this.run('releasesession', [this.appKey(app)], [key]);
  }

  async liveSessions(apps: readonly string[], now: number): Promise<Record<string, number>> {
    const counts = await Promise.all(apps.map((app) => this.run('livecount', [this.appKey(app)], [String(now)])));
    return Object.fromEntries(apps.map((app, i) => [app, Number(counts[i])]));
  }

  async principalSessions(principal: string): Promise<[string, number][]> {
    const reply = (await this.run('principalsessions', [this.userKey(principal)], [])) as string[];
    const held: [string, number][] = [];
    for (let i = 0; i < reply.length; i += 2) held.push([reply[i], Number(reply[i + 1])]);
    return held;
  }

  async admitPrincipal(
    principal: string,
    key: string,
    max: number,
    evict: boolean,
    seen: readonly [string, number | null][],
    now: number,
  ): Promise<{ admitted: boolean; evicted: string[] }> {
    const args = [key, String(max), evict ? '1' : '0', String(now), String(USER_SET_TTL_MS)];
    for (const [other, usedAt] of seen) args.push(other, usedAt === null ? '' : String(usedAt));
    const [admitted, ...evicted] = (await this.run('admitprincipal', [this.userKey(principal)], args)) as [number, ...string[]];
    return { admitted: Number(admitted) === 1, evicted };
  }

  private appKey(app: string): string {
    return `${this.prefix}{a.${app}}live`;
  }

  private userKey(principal: string): string {
    return `${this.prefix}{u.${Buffer.from(principal).toString('base64url')}}user`;
  }
}

/**
 * How long a user's set outlives its last admission: longer than any session
 * is expected to live; a set left behind is small and goes by itself.
 */
const USER_SET_TTL_MS = 30 * 24 * 3600 * 1000;
