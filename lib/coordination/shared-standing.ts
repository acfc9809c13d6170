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

/** A request standing: when its lease runs out (ms; one whose leave was lost stops counting then, as in the coordinator), and whether its enter has answered that it counts. */
interface User {
  leaseEnd: number;
  counted: boolean;
}

/** One session's requests in this process. */
interface Standing {
  /** What the coordinator knows them by: the token of the request that entered first. */
  readonly token: string;
  /** The requests standing, by their own tokens. */
  readonly users: Map<string, User>;
  /** What the requests that left reported, merged (see `merged`). */
  left: LeaveUpdate | undefined;
  /**
   * A leave that found only requests whose enter has not answered yet: it
   * waits for their answers (should none of them count, it is the last).
   */
  waiting: { request: string; now: number; resolve(send: LeaveUpdate | undefined): void } | undefined;
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

/** What `outcome` says of a leave that must wait for enters still unanswered. */
const WAIT = Symbol('wait');

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
      standing = { token: request, users: new Map(), left: undefined, waiting: undefined };
      this.standings.set(key, standing);
    }
    standing.users.set(request, { leaseEnd: now + this.leaseMs, counted: false });
    return standing.token;
  }

  /**
   * What `enter()` answered: a request it counted now stands for sure (a
   * leave waiting for it leaves nothing); one it did not count does not stand
   * (and will not leave), so a leave waiting for it may be the last.
   */
  entered(key: string, request: string, counted: boolean): void {
    const standing = this.standings.get(key);
    const user = standing?.users.get(request);
    if (!standing || !user) return;
    if (counted) {
      user.counted = true;
      release(standing, undefined);
      return;
    }
    standing.users.delete(request);
    const { waiting } = standing;
    if (waiting) {
      const outcome = this.outcome(key, standing, waiting.request, waiting.now);
      if (outcome !== WAIT) release(standing, outcome);
    } else if (standing.users.size === 0) {
      this.standings.delete(key);
    }
  }

  /** The token a long request's lease is renewed under, its own lease here renewed too. */
  renew(key: string, request: string, now: number): string {
    const standing = this.standings.get(key);
    const user = standing?.users.get(request);
    if (standing && user) {
      user.leaseEnd = now + this.leaseMs;
      return standing.token;
    }
    return this.lastLeaves.get(request)?.token ?? request;
  }

  /**
   * What a request's leave sends: the standing's leave when it is the last of
   * its process to leave (everything the others reported merged in), else
   * nothing. With only requests left whose enter has not answered, it waits
   * for their answers. A request that did not enter leaves as itself; one that
   * is not standing (it left already, or was not counted) sends nothing —
   * unless it decided its standing's leave and that did not get through: it
   * is sent again.
   */
  leave(key: string, update: LeaveUpdate): LeaveUpdate | undefined | Promise<LeaveUpdate | undefined> {
    if (!update.entered) return update;
    const last = this.lastLeaves.get(update.request);
    if (last) return { ...merged(last.left, update), request: last.token };
    const standing = this.standings.get(key);
    if (!standing?.users.delete(update.request)) return undefined;
    standing.left = merged(standing.left, update);
    release(standing, undefined); // a leave that waited: this later one decides instead
    const outcome = this.outcome(key, standing, update.request, update.now);
    if (outcome !== WAIT) return outcome;
    return new Promise((resolve) => (standing.waiting = { request: update.request, now: update.now, resolve }));
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
    const standing = this.standings.get(key);
    if (standing) release(standing, undefined);
    this.standings.delete(key);
  }

  /**
   * What the leave of `request` at `now` decides, the others having left:
   * nothing to send while a request the enter counted stands; {@link WAIT}
   * while only requests whose enter has not answered do; else the standing's
   * leave (the standing ends here).
   */
  private outcome(key: string, standing: Standing, request: string, now: number): LeaveUpdate | undefined | typeof WAIT {
    let unanswered = false;
    for (const [token, user] of standing.users) {
      if (user.leaseEnd <= now) standing.users.delete(token); // its leave was lost
      else if (user.counted) return undefined;
      else unanswered = true;
    }
    if (unanswered) return WAIT;
    this.standings.delete(key);
    const left = standing.left!;
    this.keepLastLeave(request, { token: standing.token, left, at: now });
    return { ...left, request: standing.token };
  }

  private keepLastLeave(request: string, last: LastLeave): void {
    if (this.lastLeaves.size >= KEEP_LAST_LEAVES) {
      for (const [token, kept] of this.lastLeaves) if (last.at - kept.at > this.leaseMs) this.lastLeaves.delete(token);
    }
    this.lastLeaves.set(request, last);
  }
}

/** Answers the leave waiting on `standing`, if any, with `send`. */
function release(standing: Standing, send: LeaveUpdate | undefined): void {
  const { waiting } = standing;
  standing.waiting = undefined;
  waiting?.resolve(send);
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
      const send = await standing.leave(key, update);
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
    write(key, record, ttlSeconds, version, updates, writer, after): Promise<RecordWrite> {
      const decided = updates.map((update) => standing.leave(key, update));
      // Sent in this very call when no leave waits (a group hands its turn on once its write is sent: commit-order.ts).
      if (decided.some((send) => send instanceof Promise)) return Promise.all(decided).then((sends) => writeLeaving(sends));
      return writeLeaving(decided as (LeaveUpdate | undefined)[]);

      async function writeLeaving(sends: (LeaveUpdate | undefined)[]): Promise<RecordWrite> {
        const sent = sends.filter((send): send is LeaveUpdate => send !== undefined);
        const result = await records.write(key, record, ttlSeconds, version, sent.length > 0 ? sent : [noLeave(updates[0])], writer, after);
        if (!result.written) return result;
        let answered = 0;
        const lastOfKilled = sends.map((send) => (send ? result.lastOfKilled[answered++] : false));
        for (let i = 0; i < updates.length; i++) if (sends[i]) standing.through(updates[i]);
        return { ...result, lastOfKilled };
      }
    },
    async touch(key, ttlSeconds, update) {
      const send = await standing.leave(key, update);
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
