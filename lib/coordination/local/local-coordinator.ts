import type { AccessEntry, Coordinator, KillSubscription, LeaveUpdate } from '../coordinator';
import { DeadlineHeap, type HeapItem } from './deadline-heap';
import { SortedKeys } from './sorted-keys';
import { isSubsessionKey } from '../../storage/session-key';

/** An entry as the local coordinator keeps it: `deadline` is `Infinity` for never. */
interface LocalEntry extends HeapItem {
  lastAccessedTime: number;
  storeExpires: number | null;
  /** The tokens of the requests using it: none, one, or (rarer) several. */
  requests: string | string[] | undefined;
  claimed: boolean;
  killed: boolean;
  principal: string | undefined;
}

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
 * Entries live in a map; those with a deadline also in a {@link DeadlineHeap}
 * (the expiry index), so every update is O(log n) and a sweep O(due).
 */
export class LocalCoordinator implements Coordinator {
  private readonly entries = new Map<string, LocalEntry>();
  private readonly index = new DeadlineHeap<LocalEntry>();
  private readonly killListeners = new Set<(key: string) => void>();
  /** The principal index: keys of the sessions bound to each user. */
  private readonly principals = new Map<string, Set<string>>();
  /** Top-level keys in order, for `keys()`. */
  private readonly ordered = new SortedKeys();

  async enter(key: string, now: number, strictExpiry: boolean, request: string): Promise<AccessEntry | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const before = toAccessEntry(entry);
    if (entry.claimed) return before;
    if (strictExpiry && before.active === 0 && entry.deadline <= now) return before; // expired: not a user
    entry.lastAccessedTime = now;
    entry.requests = withRequest(entry.requests, request);
    return before;
  }

  async inspect(key: string): Promise<AccessEntry | undefined> {
    const entry = this.entries.get(key);
    return entry && toAccessEntry(entry);
  }

  async leave(key: string, update: LeaveUpdate): Promise<boolean> {
    let entry = this.entries.get(key);
    if (!entry) {
      if (update.entered) return false; // removed while the request ran
      entry = {
        key,
        heapIndex: -1,
        deadline: Infinity,
        lastAccessedTime: update.lastAccessedTime,
        storeExpires: null,
        requests: undefined,
        claimed: false,
        killed: false,
        principal: undefined,
      };
      this.entries.set(key, entry);
      if (!isSubsessionKey(key)) this.ordered.add(key);
    }
    if (update.entered) {
      const remaining = withoutRequest(entry.requests, update.request);
      if (remaining === entry.requests) return false; // it left already, or never entered
      entry.requests = remaining;
    }
    if (entry.claimed) return entry.killed && update.entered && entry.requests === undefined; // the last of a killed session
    if (!update.entered) entry.lastAccessedTime = update.lastAccessedTime; // a subsession, or a new id
    if (update.principal !== undefined && update.principal !== entry.principal) this.bind(entry, update.principal);
    entry.storeExpires = update.storeExpires;
    if (entry.requests !== undefined || update.timeoutMs === undefined) return false;
    if (update.timeoutMs === null) {
      entry.deadline = Infinity;
      this.index.delete(entry);
    } else {
      this.index.set(entry, update.now + update.timeoutMs);
    }
    return false;
  }

  async remove(key: string): Promise<boolean> {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    this.index.delete(entry);
    this.unbind(entry);
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

  private bind(entry: LocalEntry, principal: string): void {
    this.unbind(entry);
    entry.principal = principal;
    const keys = this.principals.get(principal);
    if (keys) keys.add(entry.key);
    else this.principals.set(principal, new Set([entry.key]));
  }

  private unbind(entry: LocalEntry): void {
    if (entry.principal === undefined) return;
    const keys = this.principals.get(entry.principal);
    keys?.delete(entry.key);
    if (keys?.size === 0) this.principals.delete(entry.principal);
    entry.principal = undefined;
  }

  async claim(key: string, now: number, entered: boolean): Promise<AccessEntry | undefined> {
    const entry = this.entries.get(key);
    if (!entry || entry.claimed || entry.deadline > now) return undefined;
    if (countOf(entry.requests) > (entered ? 1 : 0)) return undefined;
    const before = toAccessEntry(entry);
    entry.claimed = true;
    this.index.delete(entry);
    return before;
  }

  async kill(key: string): Promise<AccessEntry | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const before = toAccessEntry(entry);
    if (entry.claimed) return before;
    entry.claimed = true;
    entry.killed = true;
    this.index.delete(entry);
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

  /**
   * The unclaimed entries, for a snapshot: live iteration, so a caller that
   * yields between entries sees those added meanwhile and not those removed.
   */
  *savedEntries(): IterableIterator<SavedEntry> {
    for (const entry of this.entries.values()) {
      if (entry.claimed) continue;
      yield {
        key: entry.key,
        lastAccessedTime: entry.lastAccessedTime,
        deadline: entry.deadline === Infinity ? null : entry.deadline,
        storeExpires: entry.storeExpires,
        principal: entry.principal,
      };
    }
  }

  /** Whether there is an entry for `key`, claimed or not. */
  knows(key: string): boolean {
    return this.entries.has(key);
  }

  /** Puts back an entry read from a snapshot, idle, replacing any entry of its key. O(log n). */
  restore(saved: SavedEntry): void {
    if (this.entries.has(saved.key)) void this.remove(saved.key);
    const entry: LocalEntry = {
      key: saved.key,
      heapIndex: -1,
      deadline: Infinity,
      lastAccessedTime: saved.lastAccessedTime,
      storeExpires: saved.storeExpires,
      requests: undefined,
      claimed: false,
      killed: false,
      principal: undefined,
    };
    this.entries.set(saved.key, entry);
    if (saved.deadline !== null) this.index.set(entry, saved.deadline);
    if (!isSubsessionKey(saved.key)) this.ordered.add(saved.key);
    if (saved.principal !== undefined) this.bind(entry, saved.principal);
  }

  async due(now: number, limit: number): Promise<string[]> {
    return this.index.due(now, limit).map((entry) => entry.key);
  }
}

function toAccessEntry(entry: LocalEntry): AccessEntry {
  return {
    lastAccessedTime: entry.lastAccessedTime,
    deadline: entry.deadline === Infinity ? null : entry.deadline,
    storeExpires: entry.storeExpires,
    active: countOf(entry.requests),
    claimed: entry.claimed,
    killed: entry.killed,
    version: 0,
  };
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
