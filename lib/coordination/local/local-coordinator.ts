import type { AccessEntry, Coordinator, KillSubscription, LeaveUpdate } from '../coordinator';
import { LocalCaps } from './local-caps';
import { DeadlineHeap } from './deadline-heap';
import { ShardedMap } from '../../collections/sharded-map';
import { SlotKeys } from './slot-keys';
import { CLAIMED, KILLED, SlotRecords } from './slot-records';
import { SortedKeys } from './sorted-keys';
import { isSubsessionKey } from '../../storage/session-key';

/**
 * What a snapshot keeps of an entry (docs/architecture.md, "Persistence"):
 * the session's use as of the snapshot. Requests in flight are not kept (the
 * process that ran them is gone); claimed entries are not kept at all (their
 * sessions were going).
 */
export interface SavedEntry {
  key: string;
  lastAccessedTime: number;
  /** Idle deadline, ms; `null` never. */
  deadline: number | null;
  storeExpires: number | null;
  principal: string | undefined;
}

/**
 * The in-process coordinator: right for one process. Several processes that
 * share an external store need `redisCoordinator()` instead, or each would
 * keep its own idea of when a session was last used.
 *
 * How entries are kept (docs/architecture.md, "Coordinators"), about 100
 * bytes a session: a map from key to slot; the numbers of each entry in one
 * fixed record of {@link SlotRecords}; the slots with a deadline in a
 * {@link DeadlineHeap} (the expiry index), so every update is O(log n) and
 * a sweep O(due); top-level keys in {@link SortedKeys} for the listing. What
 * only some entries have lives in maps of their own: the tokens of the
 * requests using one (while in use) and its principal (when bound).
 * `savedEntries()` and `restore()` take entries out and back for a snapshot.
 */
export class LocalCoordinator implements Coordinator {
  private readonly slots = new ShardedMap<string, number>();
  private readonly records = new SlotRecords();
  /** The key of each slot in use (`undefined` for a free one), for `due()`. */
  private readonly keyOf = new SlotKeys();
  private readonly index = new DeadlineHeap(this.records);
  /** The tokens of the requests using a slot: one, or (rarer) several. */
  private readonly requests = new Map<number, string | string[]>();
  /** The principal of each bound slot. */
  private readonly principalOf = new ShardedMap<number, string>();
  private readonly killListeners = new Set<(key: string) => void>();
  /** The principal index: keys of the sessions bound to each user. */
  private readonly principals = new ShardedMap<string, Set<string>>();
  /** Top-level keys in order, for `keys()`. */
  private readonly ordered = new SortedKeys();
  /** The token each claimed slot was claimed under, until the entry goes. */
  private readonly claimers = new Map<number, string>();
  /** What a kill was announced with (`kill(key, note)`), by slot, until the entry goes. */
  private readonly notes = new Map<number, string>();
  /** The session caps (docs/architecture.md, "Caps"). */
  private readonly caps = new LocalCaps();
  readonly admitSession = this.caps.admitSession.bind(this.caps);
  readonly releaseSession = this.caps.releaseSession.bind(this.caps);
  readonly liveSessions = this.caps.liveSessions.bind(this.caps);
  readonly principalSessions = this.caps.principalSessions.bind(this.caps);
  readonly admitPrincipal = this.caps.admitPrincipal.bind(this.caps);

  async enter(key: string, now: number, strictExpiry: boolean, request: string): Promise<AccessEntry | undefined> {
    return this.enterNow(key, now, strictExpiry, request);
  }

  /** `enter`, answered at once (the request path's in-process fast path, docs/architecture.md "The request path"). */
  enterNow(key: string, now: number, strictExpiry: boolean, request: string): AccessEntry | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    const before = this.accessEntry(slot);
    if (before.claimed) return before;
    if (strictExpiry && before.active === 0 && this.records.deadline(slot) <= now) return before; // expired: not a user
    this.records.setLastAccessedTime(slot, now);
    this.requests.set(slot, withRequest(this.requests.get(slot), request));
    return before;
  }

  async inspect(key: string): Promise<AccessEntry | undefined> {
    return this.inspectNow(key);
  }

  /** `inspect`, answered at once. */
  inspectNow(key: string): AccessEntry | undefined {
    const slot = this.slots.get(key);
    return slot === undefined ? undefined : this.accessEntry(slot);
  }

  async leave(key: string, update: LeaveUpdate): Promise<boolean> {
    return this.leaveNow(key, update);
  }

  /** `leave`, answered at once. */
  leaveNow(key: string, update: LeaveUpdate): boolean {
    const records = this.records;
    let slot = this.slots.get(key);
    if (slot === undefined) {
      if (update.entered) return false; // removed while the request ran
      slot = this.add(key, update.lastAccessedTime);
    }
    let requests = this.requests.get(slot);
    if (update.entered) {
      const remaining = withoutRequest(requests, update.request);
      if (remaining === requests) return false; // it left already, or never entered
      requests = remaining;
      if (requests === undefined) this.requests.delete(slot);
      else this.requests.set(slot, requests);
    }
    const flags = records.flags(slot);
    if (flags !== 0) return (flags & KILLED) !== 0 && update.entered && requests === undefined; // the last of a killed session
    if (!update.entered) records.setLastAccessedTime(slot, update.lastAccessedTime); // a subsession, or a new id
    if (update.principal !== undefined && update.principal !== this.principalOf.get(slot)) this.bind(slot, key, update.principal);
    records.setStoreExpires(slot, update.storeExpires);
    if (requests !== undefined || update.timeoutMs === undefined) return false;
    if (update.timeoutMs === null) {
      this.index.delete(slot);
      records.setDeadline(slot, Infinity);
    } else {
      this.index.set(slot, update.now + update.timeoutMs);
    }
    return false;
  }

  async remove(key: string): Promise<boolean> {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.slots.delete(key);
    this.index.delete(slot);
    this.unbind(slot, key);
    this.requests.delete(slot);
    this.notes.delete(slot);
    this.claimers.delete(slot);
    this.keyOf.set(slot, undefined);
    this.records.release(slot);
    if (!isSubsessionKey(key)) this.ordered.delete(key);
    return true;
  }

  async keys(after: string | null, limit: number): Promise<string[]> {
    return this.ordered.page(after, limit);
  }

  async count(): Promise<number> {
    return this.ordered.size;
  }

  async keysOf(principal: string): Promise<string[]> {
    return [...(this.principals.get(principal) ?? [])].sort();
  }

  async claim(key: string, now: number, entered: boolean, claimer?: string): Promise<AccessEntry | undefined> {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    const flags = this.records.flags(slot);
    // A retry of a claim made under the same token (its answer cannot be lost in process, but the contract is one).
    if (flags === CLAIMED && claimer !== undefined && this.claimers.get(slot) === claimer) return this.accessEntry(slot);
    if (flags !== 0 || this.records.deadline(slot) > now) return undefined;
    if (countOf(this.requests.get(slot)) > (entered ? 1 : 0)) return undefined;
    const before = this.accessEntry(slot);
    this.records.setFlags(slot, CLAIMED);
    if (claimer !== undefined) this.claimers.set(slot, claimer);
    this.index.delete(slot);
    return before;
  }

  async kill(key: string, note?: string): Promise<AccessEntry | undefined> {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    const before = this.accessEntry(slot);
    if (before.claimed) return before;
    this.records.setFlags(slot, CLAIMED | KILLED);
    if (note !== undefined) this.notes.set(slot, note);
    this.index.delete(slot);
    for (const listener of this.killListeners) listener(key);
    return before;
  }

  onKill(listener: (key: string) => void): KillSubscription {
    const own = (key: string) => listener(key); // one registration per call, even of the same function
    this.killListeners.add(own);
    return {
      ready: Promise.resolve(),
      close: async () => {
        this.killListeners.delete(own);
      },
    };
  }

  async due(now: number, limit: number): Promise<string[]> {
    return this.index.due(now, limit).map((slot) => this.keyOf.get(slot)!);
  }

  /**
   * The unclaimed entries, for a snapshot: live iteration, so a caller that
   * yields between entries sees those added meanwhile and not those removed.
   */
  *savedEntries(): IterableIterator<SavedEntry> {
    const records = this.records;
    for (const [key, slot] of this.slots) {
      if (records.flags(slot) !== 0) continue;
      const deadline = records.deadline(slot);
      yield {
        key,
        lastAccessedTime: records.lastAccessedTime(slot),
        deadline: deadline === Infinity ? null : deadline,
        storeExpires: records.storeExpires(slot),
        principal: this.principalOf.get(slot),
      };
    }
  }

  /** Whether there is an entry for `key`, claimed or not. */
  knows(key: string): boolean {
    return this.slots.has(key);
  }

  /** Puts back an entry read from a snapshot, idle, replacing any entry of its key. O(log n). */
  restore(saved: SavedEntry): void {
    if (this.slots.has(saved.key)) void this.remove(saved.key);
    const slot = this.add(saved.key, saved.lastAccessedTime);
    this.records.setStoreExpires(slot, saved.storeExpires);
    if (saved.deadline !== null) this.index.set(slot, saved.deadline);
    if (saved.principal !== undefined) this.bind(slot, saved.key, saved.principal);
  }

  /** A new entry of `key`: a slot, its key, and its place in the listing. */
  private add(key: string, lastAccessedTime: number): number {
    const slot = this.records.allocate(lastAccessedTime);
    this.slots.set(key, slot);
    this.keyOf.set(slot, key);
    if (!isSubsessionKey(key)) this.ordered.add(key);
    return slot;
  }

  private accessEntry(slot: number): AccessEntry {
    const records = this.records;
    const deadline = records.deadline(slot);
    const flags = records.flags(slot);
    return {
      lastAccessedTime: records.lastAccessedTime(slot),
      deadline: deadline === Infinity ? null : deadline,
      storeExpires: records.storeExpires(slot),
      active: countOf(this.requests.get(slot)),
      claimed: (flags & CLAIMED) !== 0,
      killed: (flags & KILLED) !== 0,
      version: 0,
      killNote: this.notes.get(slot),
    };
  }

  private bind(slot: number, key: string, principal: string): void {
    this.unbind(slot, key);
    this.principalOf.set(slot, principal);
    const keys = this.principals.get(principal);
    if (keys) keys.add(key);
    else this.principals.set(principal, new Set([key]));
  }

  private unbind(slot: number, key: string): void {
    const principal = this.principalOf.get(slot);
    if (principal === undefined) return;
    const keys = this.principals.get(principal);
    keys?.delete(key);
    if (keys?.size === 0) this.principals.delete(principal);
    this.principalOf.delete(slot);
  }
}

/** How many requests use an entry. */
function countOf(requests: string | string[] | undefined): number {
  return requests === undefined ? 0 : typeof requests === 'string' ? 1 : requests.length;
}

/** The requests with `request` added. */
function withRequest(requests: string | string[] | undefined, request: string): string | string[] {
  if (requests === undefined) return request;
  return typeof requests === 'string' ? [requests, request] : [...requests, request];
}

/** The requests without `request`: the same value when it is not among them. */
function withoutRequest(requests: string | string[] | undefined, request: string): string | string[] | undefined {
  if (requests === request) return undefined;
  if (requests === undefined || typeof requests === 'string' || !requests.includes(request)) return requests;
  const rest = requests.filter((token) => token !== request);
  return rest.length === 1 ? rest[0] : rest;
}
