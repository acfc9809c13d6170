import type { IncomingMessage, ServerResponse } from 'node:http';
import onHeaders from 'on-headers';
import createDebug from 'debug';
import type { AccessEntry, LeaveUpdate } from '../coordination/coordinator';
import { IllegalStateError, SessionAccessTimeoutError, UnauthorizedSessionRequestError } from '../errors';
import { ServletSession, type SessionHost } from '../session/http-session';
import type { AppContext, SessionRuntime } from '../manager/runtime';
import type { DecodedId } from '../tracking/session-id-codec';
import { generateSessionId } from '../tracking/session-id';
import type { Release } from '../locking/session-locks';
import { sessionKey, subsessionKey } from '../storage/session-key';
import { buildRecord, readRecord } from '../storage/session-record';
import { announceDestruction, destroyClaimed, destroySubsessions } from '../expiry/destruction';
import type { KillTarget } from '../killing/running-requests';
import type { StoredRecord } from '../storage/store-adapter';

const debug = createDebug('express-session-management');

/** The signal of sessions no kill can reach (new in this request): never aborted. */
const QUIET_SIGNAL = new AbortController().signal;

/** A year: how long the store keeps a session that never expires without a write or touch. */
const NEVER_TTL_MS = 365 * 24 * 3600 * 1000;

/**
 * One request's view of its app's session: loads it, hands out the
 * `HttpSession`, and commits the request's work when the response ends —
 * saves what changed, deletes what was invalidated, tells the coordinator
 * the session is idle again.
 */
export class RequestContext implements SessionHost, KillTarget {
  /** Start of the request, ms. */
  readonly start: number;
  /** The session of `req.httpSession`. */
  session: ServletSession;
  /** The id the client sent (inside a valid signature), or `null`. */
  requestedId: string | null = null;
  /** The session that the requested id named, when it was live at the start. */
  private loaded: ServletSession | null = null;
  /** Another app of the manager holds a live session on the requested id. */
  private sharedId = false;
  /** The requested value was signed with an older secret: re-issue it. */
  private staleSignature = false;
  /** Sessions replaced during the request whose store records must be dealt with. */
  private readonly retired: ServletSession[] = [];
  private endHooked = false;
  /** The serial-access slot this request holds. */
  private release: Release | undefined;
  /** The commit failed: the response is a 503 and must not carry a session id. */
  private failed = false;
  private headersHooked = false;
  private commitWork: Promise<void> | undefined;
  /** The key this request registered under in `runtime.running`, while it uses the session. */
  private runningKey: string | null = null;
  /** The loaded session was killed while this request ran. */
  private killed = false;
  /** The client is to forget the id whatever other apps hold (`manager.disconnect()`). */
  private forgetId = false;
  /** Behind the loaded session's `signal`; made on first use. */
  private controller: AbortController | undefined;
  /** Aborted when the client goes away before its response is complete (see `watchClient`). */
  private clientWatch: AbortController | undefined;

  constructor(
    private readonly runtime: SessionRuntime,
    readonly appContext: AppContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.start = runtime.clock.now();
    this.session = this.pendingSession();
  }

  get events(): SessionRuntime['events'] {
    return this.runtime.events;
  }

  get appTimeout(): number {
    return this.appContext.timeout;
  }

  /**
   * The id of a session created in this request: the requested one when
   * another app of the manager holds a live session on it (web modules share
   * one id, as in WebSphere), else a fresh one.
   */
  newId(): string {
    return this.sharedId && this.requestedId !== null ? this.requestedId : generateSessionId();
  }

  /**
   * Loads the session the client named. A missing, or (with strictExpiry)
   * expired, session leaves the pending one in place.
   */
  async load(decoded: DecodedId): Promise<void> {
    this.requestedId = decoded.id;
    this.staleSignature = decoded.stale;
    const key = sessionKey(this.appContext.name, decoded.id);
    const gone = this.watchClient();
    // 0. Serial access: wait for the requests of this session ahead of this one.
    await this.waitForTurn(key, gone);
    // Reachable by a kill from before it enters the coordinator: no kill falls between the two.
    this.runningKey = key;
    this.runtime.running.add(key, this);
    try {
      await this.loadRecord(key, decoded);
    } finally {
      if (!this.endHooked) this.finishUse(); // no session to protect: nothing will commit
      else if (gone.aborted) this.commitAfterAbort(); // it left while the session loaded: finish at once
    }
  }

  /** The client went away before its response was complete: the middleware lets the request go. */
  get clientGone(): boolean {
    return this.clientWatch?.signal.aborted ?? this.res.destroyed;
  }

  /**
   * A signal that aborts when the client goes away before its response is
   * complete. A request whose client left stops waiting (for its
   * serial-access turn, a lock) and holds nothing: its slot goes to the next
   * request at once, and whatever it entered is left when the pending call
   * answers (within `storeTimeout`).
   */
  private watchClient(): AbortSignal {
    const watch = (this.clientWatch = new AbortController());
    const res = this.res;
    if (res.destroyed) watch.abort();
    else {
      res.once('close', () => {
        if (!res.writableFinished) {
          watch.abort();
          this.releaseSlot();
        }
        if (this.endHooked) this.commitAfterAbort();
      });
    }
    return watch.signal;
  }

  /** Stops being reachable by kills and gives the serial-access slot to the next request. */
  private finishUse(): void {
    if (this.runningKey !== null) this.runtime.running.delete(this.runningKey, this);
    this.runningKey = null;
    this.releaseSlot();
  }

  /** An administrator killed the session this request uses (DESIGN §6). */
  sessionKilled(): void {
    if (this.killed) return;
    this.killed = true;
    this.controller?.abort(killReason());
    if (!this.res.headersSent) this.hookHeaders(); // the id names nothing any more: clear it
  }

  signalOf(session: ServletSession): AbortSignal {
    const loaded = this.loaded;
    if (loaded === null || (session !== loaded && session.parent !== loaded)) return QUIET_SIGNAL;
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.killed) this.controller.abort(killReason());
    }
    return this.controller.signal;
  }

  /**
   * Takes the session's serial-access slot; on timeout a 503, or
   * (accessOnTimeout) runs without it. Any other failure (the store, the
   * client gone) ends the request.
   */
  private async waitForTurn(key: string, gone: AbortSignal): Promise<void> {
    const { locks, serialAccess } = this.runtime;
    if (!locks || !serialAccess) return;
    try {
      this.release = await locks.acquire(key, serialAccess.maxWaitMs, gone);
    } catch (error) {
      if (!(error instanceof SessionAccessTimeoutError) || !serialAccess.accessOnTimeout) throw error;
      debug('serial access: %s waited too long, running anyway (accessOnTimeout)', key);
    }
    if (gone.aborted) this.releaseSlot(); // granted as the client left
  }

  /** Gives the serial-access slot to the next request, once. */
  private releaseSlot(): void {
    const release = this.release;
    this.release = undefined;
    release?.();
  }

  private async loadRecord(key: string, decoded: DecodedId): Promise<void> {
    const { store, coordinator } = this.runtime;
    // 1. Read the record and enter the coordinator together: one round trip when both are remote.
    const strict = this.runtime.strictExpiry;
    const [read, entered, shared] = await Promise.allSettled([
      store.get(key),
      coordinator.enter(key, this.start, strict),
      this.heldByOtherApps(decoded.id),
    ]);
    if (entered.status === 'rejected') throw entered.reason;
    if (shared.status === 'rejected') throw shared.reason;
    this.sharedId = shared.value;
    const entry = entered.value;
    if (read.status === 'rejected') {
      if (counts(entry, this.start, strict)) await coordinator.leave(key, this.abandonUpdate()).catch(() => undefined);
      throw read.reason;
    }
    const record = read.value;
    // 2. Claimed by the reaper or by another request that found it expired: it is going.
    if (entry?.claimed) return;
    // 3. No record: the session is gone (or never was); forget any stale entry.
    if (!record) {
      if (entry) await coordinator.remove(key);
      return;
    }
    // 3b. A record but no entry: unknown to the coordinator (a migrated record), or destroyed
    // between the two reads above. A destruction deletes the record before the entry, so a
    // second read, made after the coordinator answered, tells them apart.
    if (!entry && !(await store.get(key))) return;
    const data = readRecord(record, this.appContext.name, this.start);
    // 4. Expired on access: claim it (one process wins), announce it, delete it.
    if (this.runtime.strictExpiry && entry && isExpired(entry, this.start)) {
      await this.expire(key, data.attributes, data.meta.created, entry.lastAccessedTime, data.meta.subsessions ?? []);
      return;
    }
    // 4b. Bound to a user (the principal option): for that user only.
    if (data.meta.principal !== undefined && this.runtime.principal) {
      const counted = counts(entry, this.start, strict);
      const user = await this.principalOrLeave(key, counted);
      if (user !== data.meta.principal) {
        if (counted) await coordinator.leave(key, this.abandonUpdate());
        this.sharedId = false; // a new session here gets an id of its own
        if (user !== undefined) throw new UnauthorizedSessionRequestError();
        return; // anonymous: a new session
      }
    }
    // 5. Live: it becomes the request's session.
    const session = new ServletSession(this, {
      app: this.appContext.name,
      status: 'live',
      id: decoded.id,
      creationTime: data.meta.created,
      lastAccessedTime: entry ? entry.lastAccessedTime : data.meta.accessed,
      timeout: data.meta.timeout,
      attributes: data.attributes,
    });
    session.storedKey = key;
    session.principal = data.meta.principal;
    session.entered = entry !== undefined;
    session.storeExpires = entry?.storeExpires ?? data.storeExpires;
    this.session = session;
    this.loaded = session;
    this.hookEnd();
    if (data.meta.subsessions?.length) await this.loadSubsessions(session, key, data.meta.subsessions);
    if (decoded.stale) this.hookHeaders();
  }

  /**
   * Loads a live parent's subsessions, each from its own record and
   * coordinator entry (read, not entered: only a request that gets a
   * subsession restarts its idle clock). Gone or expired ones are dropped
   * from the parent's list; an expired one is announced once.
   */
  private async loadSubsessions(parent: ServletSession, parentKey: string, names: string[]): Promise<void> {
    const { store, coordinator } = this.runtime;
    const keys = names.map((name) => subsessionKey(parentKey, name));
    const found = await Promise.all(keys.map((key) => Promise.all([store.get(key), coordinator.inspect(key)])));
    for (let i = 0; i < names.length; i++) {
      const [record, entry] = found[i];
      const key = keys[i];
      if (!record || entry?.claimed) {
        if (!record && entry && !entry.claimed) await coordinator.remove(key);
        parent.dirty = true;
        continue;
      }
      const data = readRecord(record, this.appContext.name, this.start);
      if (this.runtime.strictExpiry && entry && isExpired(entry, this.start)) {
        parent.dirty = true;
        if (!(await coordinator.claim(key, this.start, false))) continue;
        await this.deleteStored(key);
        this.runtime.counters.expired++;
        void announceDestruction(this.events, {
          id: parent.getId(),
          app: parent.app,
          subsession: names[i],
          reason: 'expired',
          attributes: data.attributes,
          creationTime: data.meta.created,
          lastAccessedTime: entry.lastAccessedTime,
        });
        continue;
      }
      const sub = new ServletSession(this, {
        app: parent.app,
        status: 'live',
        creationTime: data.meta.created,
        lastAccessedTime: entry ? entry.lastAccessedTime : data.meta.accessed,
        timeout: data.meta.timeout,
        attributes: data.attributes,
        parent,
        name: names[i],
      });
      sub.storedKey = key;
      sub.storeExpires = entry?.storeExpires ?? data.storeExpires;
      parent.subsessions.set(names[i], sub);
    }
  }

  /** The request's user; should the `principal` option throw, the request first stops using the session. */
  private async principalOrLeave(key: string, counted: boolean): Promise<string | undefined> {
    try {
      return this.user();
    } catch (error) {
      if (counted) await this.runtime.coordinator.leave(key, this.abandonUpdate()).catch(() => undefined);
      throw error;
    }
  }

  /** The `principal` option's answer for this request: a non-empty string, or `undefined` (anonymous). */
  private user(): string | undefined {
    const user: unknown = this.runtime.principal!(this.req);
    return user === undefined || user === null || user === '' ? undefined : String(user);
  }

  /** Binds an unbound top-level session to the request's user, once known (at login). */
  private bindPrincipal(session: ServletSession): void {
    if (!this.runtime.principal || session.parent || session.principal !== undefined) return;
    let user: string | undefined;
    try {
      user = this.user();
    } catch (error) {
      debug('the principal option threw at commit: %O', error);
      return;
    }
    if (user === undefined) return;
    session.principal = user;
    session.dirty = true;
  }

  /** Whether another app of the manager has a session stored under `id` (no store call with one app). */
  private async heldByOtherApps(id: string): Promise<boolean> {
    const others = this.runtime.otherApps(this.appContext.name);
    if (others.length === 0) return false;
    const records = await Promise.all(others.map((app) => this.runtime.store.get(sessionKey(app, id))));
    return records.some((record) => record !== undefined);
  }

  /** `req.getSession(create)`. */
  getSession(create: boolean): ServletSession | null {
    const current = this.session;
    if (current.status === 'live') return current;
    if (!create) return null;
    if (current.status === 'invalid') {
      this.retired.push(current);
      this.session = this.pendingSession();
      (this.req as { httpSession?: unknown }).httpSession = this.session;
    }
    this.session.makeLive();
    return this.session;
  }

  /** `manager.disconnect()`: ends the session and has the client forget the id. */
  disconnect(): void {
    if (this.session.status === 'live') this.session.invalidate();
    this.forgetId = true;
    this.hookHeaders();
  }

  /** `req.isRequestedSessionIdValid()`. */
  isRequestedSessionIdValid(): boolean {
    const loaded = this.loaded;
    return loaded !== null && loaded.status === 'live' && loaded.getId() === this.requestedId;
  }

  /** `req.changeSessionId()`: new id, same data; the old id names nothing afterwards. */
  changeSessionId(): string {
    const session = this.session;
    if (session.status !== 'live') throw new IllegalStateError('changeSessionId: the request has no session');
    if (this.res.headersSent) throw new IllegalStateError('changeSessionId: the response headers were already sent');
    const oldId = session.getId();
    const id = generateSessionId();
    session.setId(id);
    session.dirty = true;
    this.hookHeaders();
    this.events.fire('sessionIdChanged', { id, app: session.app, session, oldId });
    return id;
  }

  activate(session: ServletSession): void {
    if (this.res.headersSent) {
      throw new IllegalStateError('Cannot create a session after the response headers were sent');
    }
    session.status = 'live';
    session.fresh = true;
    session.dirty = true;
    this.runtime.counters.created++;
    this.hookEnd();
    this.hookHeaders();
    this.events.fire('sessionCreated', { id: session.getId(), app: session.app, session });
  }

  subsessionCreated(sub: ServletSession): void {
    this.runtime.counters.created++;
    this.events.fire('sessionCreated', { id: sub.getId(), app: sub.app, subsession: sub.name!, session: sub });
  }

  retire(sub: ServletSession): void {
    this.retired.push(sub);
  }

  invalidated(session: ServletSession): void {
    if (!session.fresh && session.storedKey === null) return; // a pending session: nothing existed
    this.runtime.counters.invalidated++;
    this.hookEnd();
    if (!this.res.headersSent) this.hookHeaders();
  }

  /** Finishes the request's session work once, however the request ends. */
  commit(): Promise<void> {
    this.commitWork ??= this.runCommit();
    return this.commitWork;
  }

  private async runCommit(): Promise<void> {
    const now = this.runtime.clock.now();
    // One after the other: a session invalidated here may share its key with its successor (web modules).
    let failure: { error: unknown } | undefined;
    for (const parent of [...this.retired, this.session]) {
      for (const session of [...parent.subsessions.values(), parent]) {
        try {
          await this.commitSession(session, now);
        } catch (error) {
          failure ??= { error };
        }
      }
    }
    this.finishUse();
    if (failure) throw failure.error;
  }

  /** Stores, touches or deletes one session, and always tells the coordinator the request is done. */
  private async commitSession(session: ServletSession, now: number): Promise<void> {
    const { store, coordinator } = this.runtime;
    const oldKey = session.storedKey;
    // 1. Invalidated: delete the record and the coordinator's entry.
    if (session.status === 'invalid') {
      if (oldKey !== null) await this.deleteStored(oldKey);
      return;
    }
    if (session.status === 'pending') return;
    if (this.killed && (session === this.loaded || session.parent === this.loaded)) {
      if (session === this.loaded) await this.leaveKilled(session);
      return; // a subsession goes with its parent
    }
    const key = keyOf(session);
    // A subsession this request did not use keeps its idle clock and its record.
    if (session.parent && !session.used && oldKey === key && !session.hasChanges()) return;
    this.bindPrincipal(session);
    const moved = oldKey !== null && oldKey !== key;
    const timeoutMs = this.timeoutMs(session);
    const storeExpires = this.storeExpiry(now, timeoutMs);
    let written: number | null = session.storeExpires;
    try {
      // 2. Changed, new or renamed: write the whole record; renamed: drop the old key. Also when this
      // request outlasted the store's TTL of the record: a touch of a record the store dropped does nothing.
      const lapsed = session.storeExpires !== null && session.storeExpires <= now;
      if (session.hasChanges() || oldKey !== key || lapsed) {
        written = storeExpires;
        await Promise.all([
          store.set(key, this.recordOf(session, storeExpires, now)),
          moved ? this.deleteStored(oldKey) : undefined,
        ]);
      } else if (this.touchDue(session.storeExpires, storeExpires, timeoutMs)) {
        // 3. Unchanged: extend the store's TTL only when it runs low (a coalesced touch).
        written = storeExpires;
        await store.touch(key, this.recordOf(session, storeExpires, now));
      }
    } finally {
      // 4. The idle clock restarts when the last request using the session ends.
      const lastOfKilled = await coordinator.leave(key, {
        now,
        timeoutMs,
        storeExpires: written,
        entered: session.entered && !moved,
        lastAccessedTime: this.start,
        principal: session.principal,
      });
      // Killed in another process, its signal not here yet: what was just written goes too.
      if (lastOfKilled) await this.destroyKilled(key, now);
    }
  }

  /**
   * A session killed while this request ran: nothing it changed is kept; the
   * last request using it deletes it and announces it, once.
   */
  private async leaveKilled(session: ServletSession): Promise<void> {
    const key = session.storedKey!;
    const now = this.runtime.clock.now();
    const last = await this.runtime.coordinator.leave(key, {
      now,
      timeoutMs: undefined,
      storeExpires: session.storeExpires,
      entered: session.entered,
      lastAccessedTime: this.start,
    });
    if (last) await this.destroyKilled(key, now);
  }

  private async destroyKilled(key: string, now: number): Promise<void> {
    const { announced } = await destroyClaimed(this.runtime, key, 'killed', now, this.start);
    if (announced) this.runtime.track(announced);
  }

  /** The store record of a session as this request leaves it. */
  private recordOf(session: ServletSession, storeExpires: number, now: number): StoredRecord {
    const subsessions = session.getSubsessionNames();
    const meta = {
      v: 1 as const,
      app: session.app,
      created: session.creationTime,
      accessed: this.start,
      timeout: session.timeout,
      subsessions: subsessions.length > 0 ? subsessions : undefined,
      principal: session.principal,
    };
    return buildRecord(meta, session.snapshot(), storeExpires, now);
  }

  /**
   * Deletes a session's record, then its coordinator entry: in that order, so
   * a request that still finds the record also finds the entry (load step 3b).
   */
  private async deleteStored(key: string): Promise<void> {
    await this.runtime.store.destroy(key);
    await this.runtime.coordinator.remove(key);
  }

  /** Effective idle timeout of a session in ms; `null` = never. */
  private timeoutMs(session: ServletSession): number | null {
    const seconds = session.effectiveTimeout();
    return seconds <= 0 ? null : seconds * 1000;
  }

  /** When a record written now should expire by the store's own TTL. */
  private storeExpiry(now: number, timeoutMs: number | null): number {
    return timeoutMs === null ? now + NEVER_TTL_MS : now + timeoutMs + this.runtime.graceMs(timeoutMs);
  }

  /** A touch is due when less than half the grace would remain past the new deadline. */
  private touchDue(current: number | null, wanted: number, timeoutMs: number | null): boolean {
    if (current === null) return true;
    const grace = timeoutMs === null ? NEVER_TTL_MS : this.runtime.graceMs(timeoutMs);
    return wanted - current > grace / 2;
  }

  /**
   * Deletes an expired session and fires its events if this call won the claim.
   * `lastAccessedTime` comes from the entry as it was before this request
   * entered: the claim's copy already carries this request's start.
   */
  private async expire(
    key: string,
    attributes: Record<string, unknown>,
    creationTime: number,
    lastAccessedTime: number,
    subsessions: readonly string[],
  ): Promise<void> {
    const { coordinator, store } = this.runtime;
    // enter() did not count this request as a user (the session was already expired), so
    // every request that finds it expired claims as a bystander and exactly one wins.
    const claimed = await coordinator.claim(key, this.start, false);
    if (!claimed) return; // claimed elsewhere, or a request of a non-strict manager is using it
    this.runtime.counters.expired++;
    await destroySubsessions(this.runtime, key, subsessions, 'expired', this.start);
    void announceDestruction(this.events, {
      id: this.requestedId!,
      app: this.appContext.name,
      reason: 'expired',
      attributes,
      creationTime,
      lastAccessedTime,
    });
    // The tombstone keeps the session unusable until the record is gone.
    await store.destroy(key);
    await coordinator.remove(key);
  }

  /** The coordinator update of a request that entered but could not load the record. */
  private abandonUpdate(): LeaveUpdate {
    return {
      now: this.runtime.clock.now(),
      timeoutMs: undefined,
      storeExpires: null,
      entered: true,
      lastAccessedTime: this.start,
    };
  }

  private pendingSession(): ServletSession {
    return new ServletSession(this, {
      app: this.appContext.name,
      status: 'pending',
      creationTime: this.start,
      lastAccessedTime: this.start,
    });
  }

  /** Sends the id (new, changed, re-signed) or clears it, as the headers go out. */
  private writeTracking(): void {
    const { tracking, codec } = this.runtime;
    const session = this.session;
    if (this.failed) return;
    if (this.forgetId) {
      if (this.requestedId !== null) tracking.clear(this.res);
    } else if (this.killed && session === this.loaded) {
      if (!this.sharedId) tracking.clear(this.res);
    } else if (session.status === 'live') {
      const id = session.getId();
      if (session.fresh || id !== this.requestedId || this.staleSignature) tracking.write(this.res, codec.encode(id));
    } else if (this.loaded !== null && this.loaded.status === 'invalid' && !this.sharedId) {
      tracking.clear(this.res); // only when no other app holds a session on the id
    }
  }

  /** Defers `res.end` until the commit is done, and commits on a client abort too. */
  private hookEnd(): void {
    if (this.endHooked) return;
    this.endHooked = true;
    const res = this.res;
    const end = res.end as (...args: unknown[]) => ServerResponse;
    const context = this;
    res.end = function endAfterCommit(this: ServerResponse, ...args: unknown[]): ServerResponse {
      res.end = end as ServerResponse['end'];
      context.trackCommit().then(
        () => end.apply(res, args),
        (error: unknown) => context.failResponse(error, end, args),
      );
      return res;
    } as ServerResponse['end'];
    if (!this.clientWatch) res.once('close', () => this.commitAfterAbort()); // else watchClient's listener does it
  }

  /** Finishes the session work of a request whose client went away (nothing else will end it). */
  private commitAfterAbort(): void {
    if (!this.commitWork) this.trackCommit().catch((error: unknown) => debug('commit after abort failed: %O', error));
  }

  private trackCommit(): Promise<void> {
    const work = this.commit();
    this.runtime.track(work);
    return work;
  }

  /** A failed commit must not look like success: a 503, or a cut connection if headers are out. */
  private failResponse(error: unknown, end: (...args: unknown[]) => ServerResponse, args: unknown[]): void {
    debug('commit failed: %O', error);
    const res = this.res;
    if (res.headersSent) {
      res.destroy(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.failed = true;
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.statusCode = 503;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    const callback = args.find((a) => typeof a === 'function');
    end.call(res, 'Service Unavailable: the session store did not accept the session', callback);
  }

  private hookHeaders(): void {
    if (this.headersHooked) return;
    this.headersHooked = true;
    onHeaders(this.res, () => this.writeTracking());
  }
}

/** Where a session (or a subsession) is stored. */
function keyOf(session: ServletSession): string {
  const parentKey = sessionKey(session.app, (session.parent ?? session).getId());
  return session.parent ? subsessionKey(parentKey, session.name!) : parentKey;
}

/** Idle past its deadline, and no request is using it. */
function isExpired(entry: AccessEntry, now: number): boolean {
  return entry.active === 0 && entry.deadline !== null && now >= entry.deadline;
}

/** Whether `enter()` counted the request as a user of the session (see Coordinator.enter). */
function counts(entry: AccessEntry | undefined, now: number, strictExpiry: boolean): boolean {
  return entry !== undefined && !entry.claimed && !(strictExpiry && isExpired(entry, now));
}

/** Why a killed session's signal aborted: what `fetch(…, { signal })` rejects with. */
function killReason(): DOMException {
  return new DOMException('The session was killed by an administrator', 'AbortError');
}
