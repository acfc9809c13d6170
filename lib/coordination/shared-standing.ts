import { can } from './capabilities';
import { enterCounted, type AccessEntry, type ColocatedRecords, type Coordinator, type LeaveUpdate, type RecordWrite, type RequestLeases } from './coordinator';

/**
 * The requests of one session in this process stand in a remote coordinator
 * as one (docs/architecture.md, "One standing per process"): the first one
 * to enter gives the process's standing its token; every later one enters
 * under that token too (which refreshes the access time and the lease, and
 * reads the entry as it is: a kill is seen at once), and only the last one
 * of them to leave sends a leave. Fifty parallel requests of one session thus
 * keep one field in the entry instead of fifty, and send one leave instead of
 * fifty. Used with coordinators whose `enter()` under a token already
 * entered counts it once ({@link Coordinator.reentrantTokens}).
 */

/** One session's requests in this process. */
interface Standing {
  /** What the coordinator knows them by: the token of the request that entered first. */
  readonly token: string;
  /**
   * The requests standing, by their own tokens: when each one's lease runs
   * out (ms). One whose leave was lost stops counting then, as in the coordinator.
   */
  readonly users: Map<string, number>;
  /** What the requests that left reported, merged (see `merged`). */
  left: LeaveUpdate | undefined;
}

/** The leave of a standing, decided by its last request and not yet through: sent again if that request retries. */
interface LastLeave {
  token: string;
  left: LeaveUpdate;
  /** When it was decided (ms): forgotten a lease later. */
  at: number;
}

/** How many undelivered last leaves are kept for their retries before the oldest are checked. */
const KEEP_LAST_LEAVES = 256;

/** The standings of this process (one per session key in use). */
export class SharedStanding {
  private readonly standings = new Map<string, Standing>();
  /** Last leaves not yet through, by the token of the request that decided them. */
  private readonly lastLeaves = new Map<string, LastLeave>();

  constructor(private readonly leaseMs: number) {}

  /** The token `request` enters `key` under: its process's standing's, joined or begun. */
  enter(key: string, request: string, now: number): string {
    let standing = this.standings.get(key);
    if (standing === undefined) {
      standing = { token: request, users: new Map(), left: undefined };
      this.standings.set(key, standing);
    }
    standing.users.set(request, now + this.leaseMs);
    return standing.token;
  }

  /** What `enter()` answered: a request it did not count does not stand (and will not leave). */
  entered(key: string, request: string, counted: boolean): void {
    if (counted) return;
    const standing = this.standings.get(key);
    if (standing?.users.delete(request) && standing.users.size === 0) this.standings.delete(key);
  }

  /** The token a long request's lease is renewed under, its own lease here renewed too. */
  renew(key: string, request: string, now: number): string {
    const standing = this.standings.get(key);
    if (standing?.users.has(request)) {
      standing.users.set(request, now + this.leaseMs);
      return standing.token;
    }
    return this.lastLeaves.get(request)?.token ?? request;
  }

  /**
   * What a request's leave sends: the standing's leave when it is the last of
   * its process to leave (everything the others reported merged in), else
   * nothing. A request that did not enter leaves as itself; one that is not
   * standing (it left already, or was not counted) sends nothing — unless it
   * decided its standing's leave and that did not get through: it is sent again.
   */
  leave(key: string, update: LeaveUpdate): LeaveUpdate | undefined {
    if (!update.entered) return update;
    const last = this.lastLeaves.get(update.request);
    if (last) return { ...merged(last.left, update), request: last.token };
    const standing = this.standings.get(key);
    if (!standing?.users.delete(update.request)) return undefined;
    const left = (standing.left = merged(standing.left, update));
    for (const [request, leaseEnd] of standing.users) {
      if (leaseEnd > update.now) return undefined;
      standing.users.delete(request); // its leave was lost: it stops counting, as its lease has run out
    }
    this.standings.delete(key);
    this.keepLastLeave(update.request, { token: standing.token, left, at: update.now });
    return { ...left, request: standing.token };
  }

  /** The leave `update` decided got through. */
  through(update: LeaveUpdate): void {
    this.lastLeaves.delete(update.request);
  }

  /** How many requests of `key` stand here (0: none). */
  users(key: string): number {
    return this.standings.get(key)?.users.size ?? 0;
  }

  /** The session is gone: requests of it still running leave nothing. */
  forget(key: string): void {
    this.standings.delete(key);
  }

  private keepLastLeave(request: string, last: LastLeave): void {
    if (this.lastLeaves.size >= KEEP_LAST_LEAVES) {
      for (const [token, kept] of this.lastLeaves) if (last.at - kept.at > this.leaseMs) this.lastLeaves.delete(token);
    }
    this.lastLeaves.set(request, last);
  }
}

/**
 * The leave of requests that left one after another: the last one's, with
 * the timeout and store expiry of an earlier one when the last knew none (it
 * could not load the session), and the latest user bound.
 */
function merged(earlier: LeaveUpdate | undefined, later: LeaveUpdate): LeaveUpdate {
  if (!earlier) return later;
  const knows = later.timeoutMs !== undefined;
  return {
    ...later,
    timeoutMs: knows ? later.timeoutMs : earlier.timeoutMs,
    storeExpires: knows ? later.storeExpires : earlier.storeExpires,
    principal: later.principal ?? earlier.principal,
  };
}

/** A leave that changes nothing: no request holds the empty token (a write or touch whose requests still stand). */
function noLeave(update: LeaveUpdate): LeaveUpdate {
  return { ...update, entered: true, request: '' };
}

/**
 * `coordinator`, its requests of one session standing as one in this process
 * (see above) when its tokens are reentrant and its requests hold leases;
 * every other call goes to it unchanged.
 */
export function withSharedStanding(coordinator: Coordinator): Coordinator {
  if (!coordinator.reentrantTokens || !can(coordinator, 'request leases')) return coordinator;
  return shared(coordinator);
}

function shared(coordinator: Coordinator & RequestLeases): Coordinator {
  const standing = new SharedStanding(coordinator.leaseMs);
  const own: Partial<Coordinator> = {
    async enter(key, now, strictExpiry, request): Promise<AccessEntry | undefined> {
      // Should the call fail, the request still stands: its caller leaves anyway (the outcome is unknown).
      const entry = await coordinator.enter(key, now, strictExpiry, standing.enter(key, request, now));
      standing.entered(key, request, enterCounted(entry, now, strictExpiry));
      return entry;
    },
    async leave(key, update): Promise<boolean> {
      const send = standing.leave(key, update);
      if (!send) return false;
      const lastOfKilled = await coordinator.leave(key, send);
      standing.through(update);
      return lastOfKilled;
    },
    async inspect(key): Promise<AccessEntry | undefined> {
      const entry = await coordinator.inspect(key);
      // The coordinator counts this process's requests as one: here they are known one by one.
      const here = standing.users(key);
      return entry && here > 1 ? { ...entry, active: entry.active + here - 1 } : entry;
    },
    renewLease(key, request, now): Promise<void> {
      return coordinator.renewLease(key, standing.renew(key, request, now), now);
    },
    remove(key): Promise<boolean> {
      standing.forget(key);
      return coordinator.remove(key);
    },
    colocate(store): ColocatedRecords | undefined {
      const records = coordinator.colocate?.(store);
      return records && sharedRecords(records, standing);
    },
  };
  return new Proxy(coordinator, {
    get(target, property, receiver) {
      return Object.hasOwn(own, property) && property in target ? own[property as keyof Coordinator] : Reflect.get(target, property, receiver);
    },
  });
}

/** Colocated records whose loads, writes and touches enter and leave as the standing says. */
function sharedRecords(records: ColocatedRecords, standing: SharedStanding): ColocatedRecords {
  return {
    async load(key, now, strictExpiry, request) {
      const loaded = await records.load(key, now, strictExpiry, standing.enter(key, request, now));
      standing.entered(key, request, enterCounted(loaded.entry, now, strictExpiry));
      return loaded;
    },
    async write(key, record, ttlSeconds, version, updates): Promise<RecordWrite> {
      const sends = updates.map((update) => standing.leave(key, update));
      const sent = sends.filter((send): send is LeaveUpdate => send !== undefined);
      const result = await records.write(key, record, ttlSeconds, version, sent.length > 0 ? sent : [noLeave(updates[0])]);
      if (!result.written) return result;
      let answered = 0;
      const lastOfKilled = sends.map((send) => (send ? result.lastOfKilled[answered++] : false));
      for (let i = 0; i < updates.length; i++) if (sends[i]) standing.through(updates[i]);
      return { ...result, lastOfKilled };
    },
    async touch(key, ttlSeconds, update) {
      const send = standing.leave(key, update);
      const lastOfKilled = await records.touch(key, ttlSeconds, send ?? noLeave(update));
      if (send) standing.through(update);
      return send !== undefined && lastOfKilled;
    },
    read: (key) => records.read(key),
    remove(key) {
      standing.forget(key);
      return records.remove(key);
    },
  };
}
