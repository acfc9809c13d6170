import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LeaveUpdate } from '../coordination/coordinator';
import { IllegalStateError } from '../errors';
import type { RunningRequest } from '../killing/running-requests';
import { SerialSlot } from '../locking/serial-slot';
import type { AppContext, SessionRuntime } from '../manager/runtime';
import { ServletSession, type SessionHost } from '../session/http-session';
import { SessionState } from '../session/session-state';
import { sessionKey } from '../storage/session-key';
import type { DecodedId } from '../tracking/session-id-codec';
import { leaveLater, nextToken } from './coordinator-standing';
import { ResponseHooks } from './response-hooks';
import { commitAtOnce } from './commit-at-once';
import { commitRequest, leaveAfterResponse, type PendingLeave } from './session-commit';
import { saveSession } from './session-save';
import { loadSession } from './session-loader';

/** The signal of sessions no kill can reach (new in this request): never aborted. */
const QUIET_SIGNAL = new AbortController().signal;

/**
 * One request's view of its app's session (docs/architecture.md, "The
 * request path"): what it asked for and what it got, the Servlet request API
 * (`getSession`, `changeSessionId`, …) and the callbacks of the sessions it
 * holds. Loading, committing and the response's hooks live in the files
 * beside it; this class holds what they share.
 */
export class RequestContext implements SessionHost, RunningRequest {
  /** Start of the request, ms. */
  readonly start: number;
  /** Behind `session`; a pending one is made on first use (most requests load theirs). */
  private current: ServletSession | undefined;
  /** The id the client sent (inside a valid signature), or `null`. */
  requestedId: string | null = null;
  /** The session that the requested id named, when it was live at the start. */
  loaded: ServletSession | null = null;
  /** Another app of the manager holds a live session on the requested id. */
  sharedId = false;
  /** The requested value was signed with an older secret: re-issue it. */
  staleSignature = false;
  /** Sessions replaced during the request whose store records must be dealt with; made on first use. */
  private retired: ServletSession[] | undefined;
  /** The loaded session was killed while this request ran. */
  killed = false;
  /** The client is to forget the id whatever other apps hold (`manager.disconnect()`). */
  forgetId = false;
  readonly hooks: ResponseHooks;
  /** The serial-access turn, with `serialAccess` only. */
  private slot: SerialSlot | undefined;
  /** The key this request registered under in `runtime.running`, while it uses the session. */
  private runningKey: string | null = null;
  private commitWork: Promise<void> | undefined;
  /** The sessions to leave after the response (the commit collects them). */
  private readonly leaves: PendingLeave[] = [];
  /** `finish()` ran. */
  private finished = false;
  /** This request's token in the coordinator (its enter and its leave name it). */
  readonly token = nextToken();
  /** When its coordinator lease was taken or last renewed (docs/architecture.md, "Faults"). */
  leaseFrom: number;
  /** Behind the loaded session's `signal`; made on first use. */
  private controller: AbortController | undefined;
  /** Saves (express-session's `save()`) of this request, chained; settles once they have. */
  saving: Promise<void> | undefined;
  /** express-session's view of the session (`req.session`), made on first read. */
  compatView: { session: ServletSession; view: object } | undefined;
  /** The session `req.session.destroy()` ended: `req.session` is `undefined` while it is the request's. */
  compatGone: ServletSession | undefined;

  constructor(
    readonly runtime: SessionRuntime,
    readonly appContext: AppContext,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {
    this.start = runtime.clock.now();
    this.leaseFrom = this.start;
    this.hooks = new ResponseHooks(this);
  }

  /** The session of `req.httpSession`: the loaded one, else a pending one. */
  get session(): ServletSession {
    return (this.current ??= this.pendingSession());
  }

  set session(session: ServletSession) {
    this.current = session;
  }

  get events(): SessionRuntime['events'] {
    return this.runtime.events;
  }

  get appTimeout(): number {
    return this.appContext.timeout;
  }

  /** The client went away before its response was complete: the middleware lets the request go. */
  get clientGone(): boolean {
    return this.hooks.clientGone;
  }

  /**
   * Loads the session the client named. A missing, or (with strictExpiry)
   * expired, session leaves the pending one in place. A client that leaves
   * meanwhile stops the wait and holds nothing. `undefined`: loaded at once
   * (in process, docs/architecture.md "The request path").
   */
  load(decoded: DecodedId): Promise<void> | undefined {
    this.requestedId = decoded.id;
    this.staleSignature = decoded.stale;
    const key = sessionKey(this.appContext.name, decoded.id);
    const { serialAccess } = this.appContext;
    if (!serialAccess) {
      this.hooks.watchClient();
      return this.loadTaken(key, decoded);
    }
    // 0. Serial access: wait for the requests of this session ahead of this one.
    const slot = new SerialSlot(this.runtime.locks, serialAccess, this.runtime.instruments);
    this.slot = slot;
    this.hooks.watchClient(() => slot.give());
    return slot.take(key, this.hooks.goneSignal).then(() => this.loadTaken(key, decoded));
  }

  private loadTaken(key: string, decoded: DecodedId): Promise<void> | undefined {
    // Reachable by a kill from before it enters the coordinator: no kill falls between the two.
    this.runningKey = key;
    this.runtime.running.add(key, this);
    let loading: Promise<void> | undefined;
    try {
      loading = loadSession(this, key, decoded);
    } catch (error) {
      this.afterLoad();
      throw error;
    }
    if (!loading) return this.afterLoad();
    return loading.finally(() => this.afterLoad());
  }

  /** After the load: a request with no session to protect stops using it; one whose client left finishes at once. */
  private afterLoad(): undefined {
    if (!this.hooks.endHooked) this.finishUse(); // nothing will commit
    else if (this.hooks.clientGone) this.hooks.commitAfterAbort();
    return undefined;
  }

  /**
   * The id of a session created in this request: the requested one when
   * another app of the manager holds a live session on it (web modules share
   * one id, as in WebSphere), else a fresh one.
   */
  newId(): string {
    return this.sharedId && this.requestedId !== null ? this.requestedId : this.runtime.newId(this.req);
  }

  /** Stores the request's session work once, however the request ends; the response waits for it. */
  commit(): Promise<void> {
    this.commitWork ??= commitRequest(this, this.leaves);
    return this.commitWork;
  }

  /** Commits at once when nothing needs waiting for (see `commitAtOnce`); `false`: `commit()` must run. */
  commitNow(): boolean {
    if (this.commitWork || !commitAtOnce(this, this.leaves)) return false;
    this.commitWork = DONE;
    return true;
  }

  /** Sessions were replaced or retired in this request (their records must be dealt with). */
  get replacedAny(): boolean {
    return this.retired !== undefined;
  }

  /**
   * After the response (or a client gone): the request leaves its sessions
   * (the idle clock restarts; a killed one is destroyed by its last request)
   * and gives its serial-access turn to the next, once.
   */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    const leaving = leaveAfterResponse(this, this.leaves);
    if (leaving) this.runtime.track(leaving.finally(() => this.finishUse()));
    else this.finishUse();
  }

  /** Leaves `key` after the request, retried while the coordinator fails (docs/architecture.md, "Faults"). */
  leaveLater(key: string, update: LeaveUpdate): void {
    leaveLater(this.runtime, key, update);
  }

  /** Whether the commit has started. */
  get committing(): boolean {
    return this.commitWork !== undefined;
  }

  /** Stops being reachable by kills and gives the serial-access turn to the next request. */
  private finishUse(): void {
    if (this.runningKey !== null) this.runtime.running.delete(this.runningKey, this);
    this.runningKey = null;
    this.slot?.give();
  }

  /** An administrator killed the session this request uses (docs/architecture.md, "Killing"). */
  sessionKilled(): void {
    if (this.killed) return;
    this.killed = true;
    this.controller?.abort(killReason());
    if (!this.res.headersSent) this.hooks.hookHeaders(); // the id names nothing any more: clear it
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

  /** `req.getSession(create)`. */
  getSession(create: boolean): ServletSession | null {
    const current = this.session;
    if (current.state.status === 'live') return current;
    if (!create) return null;
    if (current.state.status === 'invalid') this.replaceSession();
    this.session.makeLive();
    return this.session;
  }

  /** The request's session becomes a new pending one (after an invalidation, or express-session's `regenerate`). */
  replaceSession(): void {
    const current = this.session;
    if (current.state.status !== 'pending') (this.retired ??= []).push(current);
    this.session = this.pendingSession();
    (this.req as { httpSession?: unknown }).httpSession = this.session;
  }

  /**
   * Writes the session now (express-session's `save()`), after any save
   * still running; the commit waits for them.
   */
  save(session: ServletSession): Promise<void> {
    const work = (this.saving ?? DONE).then(() => saveSession(this, session));
    this.saving = work.catch(noop);
    this.runtime.track(work);
    return work;
  }

  /** `manager.disconnect()`: ends the session and has the client forget the id. */
  disconnect(): void {
    if (this.session.state.status === 'live') this.session.invalidate();
    this.forgetId = true;
    this.hooks.hookHeaders();
  }

  /** `req.isRequestedSessionIdValid()`. */
  isRequestedSessionIdValid(): boolean {
    const loaded = this.loaded;
    return loaded !== null && loaded.state.status === 'live' && loaded.getId() === this.requestedId;
  }

  /** `req.changeSessionId()`: new id (`id`, else a fresh one), same data; the old id names nothing afterwards. */
  changeSessionId(newId?: string): string {
    const session = this.session;
    if (session.state.status !== 'live') throw new IllegalStateError('changeSessionId: the request has no session');
    if (this.res.headersSent) throw new IllegalStateError('changeSessionId: the response headers were already sent');
    const oldId = session.getId();
    const id = newId ?? this.runtime.newId(this.req);
    session.state.id = id;
    session.state.dirty = true;
    this.hooks.hookHeaders();
    this.events.fire('sessionIdChanged', { id, app: session.app, session, oldId });
    return id;
  }

  activate(session: ServletSession): void {
    if (this.res.headersSent) {
      throw new IllegalStateError('Cannot create a session after the response headers were sent');
    }
    const id = session.getId(); // first: an id the genid option fails to make leaves the session pending
    const { state } = session;
    state.status = 'live';
    state.fresh = true;
    state.dirty = true;
    if (this.runtime.cookieMaxAgeMs !== undefined) state.cookieSentAt = this.start;
    this.runtime.counters.created++;
    this.hooks.hookEnd();
    this.hooks.hookHeaders();
    this.events.fire('sessionCreated', { id, app: session.app, session });
  }

  subsessionCreated(sub: ServletSession): void {
    this.runtime.counters.created++;
    this.events.fire('sessionCreated', { id: sub.getId(), app: sub.app, subsession: sub.name!, session: sub });
  }

  retire(sub: ServletSession): void {
    (this.retired ??= []).push(sub);
  }

  /** Every top-level session the request held, replaced ones first: what its commit deals with. */
  heldSessions(): ServletSession[] {
    return this.retired ? [...this.retired, this.session] : [this.session];
  }

  invalidated(session: ServletSession): void {
    if (!session.state.fresh && session.state.storedKey === null) return; // a pending session: nothing existed
    this.runtime.counters.invalidated++;
    this.hooks.hookEnd();
    if (!this.res.headersSent) this.hooks.hookHeaders();
  }

  /** A new session object around `state`, held by this request. */
  sessionOf(state: SessionState, parent?: { session: ServletSession; name: string }): ServletSession {
    return new ServletSession(this, state, parent);
  }

  private pendingSession(): ServletSession {
    return this.sessionOf(
      new SessionState({ app: this.appContext.name, status: 'pending', creationTime: this.start, lastAccessedTime: this.start }),
    );
  }
}

function noop(): void {}

/** A settled promise to chain the first save onto. */
const DONE = Promise.resolve();

/** Why a killed session's signal aborted: what `fetch(…, { signal })` rejects with. */
function killReason(): DOMException {
  return new DOMException('The session was killed by an administrator', 'AbortError');
}
