import type { KillSignals } from '../coordination/coordinator';
import type { Clock } from '../clock';
import { TimeSlices } from '../expiry/time-slices';
import type { SessionDestroyer } from '../session/destruction';
import { sessionKey } from '../storage/session-key';
import type { StoreAdapter } from '../storage/store-adapter';
import { appInput, idInput, principalInput } from '../admin/admin-input';
import { KEY_BATCH, type SessionListing } from '../admin/session-listing';
import { encodeKillNote, type KillNote } from './kill-note';

/** What `kill()` did. */
export interface KillResult {
  /** A session was found and is gone, or will be when its running request ends. */
  killed: boolean;
  /** It was servicing a request: marked for deletion, deleted when the request ends. */
  deferred: boolean;
}

/** What killing sessions needs from the manager. */
export interface KillingDeps {
  store: StoreAdapter;
  /** The coordinator's kill signals; killing throws without them. */
  kills: () => KillSignals;
  destroyer: SessionDestroyer;
  listing: SessionListing;
  clock: Clock;
  /** Registers work `close()` must wait for. */
  track(work: Promise<unknown>): void;
}

/** Sessions killed at once by killAll and killByPrincipal (as the reaper destroys them). */
const KILL_CONCURRENCY = 16;

/**
 * Killing sessions, the database-server way (docs/architecture.md,
 * "Killing"): an idle session is destroyed now (`sessionDestroyed`, reason
 * `killed`); one servicing a request is marked for deletion — its `signal`
 * aborts, nothing that request changes is kept, no request may use it any
 * more, and the last request using it destroys it when it ends.
 */
export class SessionKilling {
  constructor(private readonly deps: KillingDeps) {}

  /** Kills a session of `app`; without `app`, in every app. `by`: who kills it (the event's `by`). */
  async kill(id: string, options: { app?: string; by?: string } = {}): Promise<KillResult> {
    const input = idInput(id, options.app);
    const result: KillResult = { killed: false, deferred: false };
    const note = killedBy(options.by);
    for (const app of await this.deps.listing.appsOf(input.id, input.app)) {
      const one = await this.killKey(sessionKey(app, input.id), note);
      result.killed ||= one.killed;
      result.deferred ||= one.deferred;
    }
    return result;
  }

  /** Kills every session (of `app`); resolves how many were killed. */
  async killAll(options: { app?: string; by?: string } = {}): Promise<number> {
    const app = appInput(options.app);
    let killed = 0;
    const note = killedBy(options.by);
    for await (const keys of this.deps.listing.keyBatches(null, KEY_BATCH, app)) killed += await this.killKeys(keys, note);
    return killed;
  }

  /** Kills every session of a user (every app); resolves how many were killed. */
  async killByPrincipal(principal: string, options: { by?: string } = {}): Promise<number> {
    return this.killKeys(await this.deps.listing.keysOf(principalInput(principal)), killedBy(options.by));
  }

  /**
   * Evicts sessions of a user for `maxSessionsPerPrincipal`: killed the same
   * way, announced with reason `evicted`.
   */
  async evict(keys: readonly string[]): Promise<number> {
    return this.killKeys(keys, { reason: 'evicted' });
  }

  /** Kills `keys`, `KILL_CONCURRENCY` at a time; resolves how many were killed. */
  private async killKeys(keys: readonly string[], note: KillNote): Promise<number> {
    const slices = new TimeSlices();
    let killed = 0;
    for (let i = 0; i < keys.length; i += KILL_CONCURRENCY) {
      const results = await Promise.all(keys.slice(i, i + KILL_CONCURRENCY).map((key) => this.killKey(key, note)));
      killed += results.filter((result) => result.killed).length;
      await slices.yieldIfDue();
    }
    return killed;
  }

  private async killKey(key: string, note: KillNote): Promise<KillResult> {
    const { store, destroyer, clock } = this.deps;
    const entry = await this.deps.kills().kill(key, encodeKillNote(note));
    if (entry?.claimed) return { killed: entry.killed, deferred: entry.killed && entry.active > 0 };
    if (entry && entry.active > 0) return { killed: true, deferred: true };
    // An evicted session without an entry is a login still committing: its own request destroys it
    // once it has left (request/session-caps.ts, `checkLogin`), so that it is announced once.
    if (!entry && note.reason === 'evicted') return { killed: false, deferred: false };
    // Idle, or a record the coordinator never saw (written by express-session): destroy it now.
    if (!entry && !(await store.get(key))) return { killed: false, deferred: false };
    const { announced } = await destroyer.destroy(key, note.reason, { held: entry }, { now: clock.now(), by: note.by });
    if (announced) this.deps.track(announced);
    return { killed: true, deferred: false };
  }
}

/** The note of an administrator's kill. */
function killedBy(by: string | undefined): KillNote {
  return by === undefined ? { reason: 'killed' } : { reason: 'killed', by };
}
