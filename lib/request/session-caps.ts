import createDebug from 'debug';
import type { SessionCaps } from '../coordination/coordinator';
import { TooManySessionsError } from '../errors';
import type { SessionRuntime } from '../manager/runtime';
import type { ServletSession } from '../session/http-session';
import { sessionKey } from '../storage/session-key';
import { requestUser } from './principal-binding';
import type { RequestContext } from './request-context';
import { keyOf, storeExpiry, timeoutMsOf } from './session-commit';

const debug = createDebug('express-session-management');

/**
 * The caps and the login, applied to a request's session before its commit
 * writes it (docs/architecture.md, "Caps"):
 * 1. login — an unbound session whose request ends with a user: counted
 *    for that user (`maxSessionsPerPrincipal`: the least recently used
 *    evicted, or the login refused), given a new id (`rotateOnLogin`),
 *    then bound;
 * 2. a session created in this request is counted for its app
 *    (`maxActiveSessions`), else not kept.
 * Resolves the error the response must become, if a cap refused.
 */
export async function admitBeforeCommit(context: RequestContext): Promise<TooManySessionsError | undefined> {
  const session = context.session;
  if (session.state.status !== 'live') return undefined;
  // 1.
  const refused = await logIn(context, session);
  if (refused) return refused;
  // 2.
  if (!session.state.fresh || !context.runtime.caps.countApps) return undefined;
  if (await countSession(context, session)) return undefined;
  dropNewSession(context, session);
  return new TooManySessionsError('maxActiveSessions');
}

/**
 * Counts a session among its app's, once per request (`save()` writes a new
 * session before the commit, and counts it then). Resolves whether it may be
 * kept.
 */
export async function countSession(context: RequestContext, session: ServletSession): Promise<boolean> {
  const { runtime } = context;
  const { state } = session;
  if (session.parent || state.capCounted || !runtime.caps.countApps) return true;
  const now = runtime.clock.now();
  const until = storeExpiry(context, now, timeoutMsOf(session));
  const counted = await capsOf(runtime).admitSession(session.app, keyOf(session), runtime.caps.maxActive, until, now);
  state.capCounted = counted;
  return counted;
}

/**
 * A session that stays counted keeps its place past the `until` it was
 * counted with: renewed when its record's expiry moved by more than half
 * the grace (writes and coalesced touches move it), in the background.
 */
export function renewCount(context: RequestContext, session: ServletSession, key: string, before: number | null, after: number | null): void {
  const { runtime } = context;
  if (!runtime.caps.countApps || session.parent || session.state.capCounted || after === null) return;
  const timeoutMs = timeoutMsOf(session);
  if (before !== null && after - before <= runtime.graceMs(timeoutMs ?? 0) / 2) return;
  const renewal = capsOf(runtime).admitSession(session.app, key, Infinity, after, runtime.clock.now());
  runtime.track(renewal.catch((error: unknown) => debug('renewing the count of %s failed: %O', key, error)));
}

/** Step 1 (see {@link admitBeforeCommit}). */
async function logIn(context: RequestContext, session: ServletSession): Promise<TooManySessionsError | undefined> {
  const { runtime, req } = context;
  const { state } = session;
  if (!runtime.principal || state.principal !== undefined) return undefined;
  let user: string | undefined;
  try {
    user = requestUser(runtime, req);
  } catch (error) {
    debug('the principal option threw at commit: %O', error);
    return undefined;
  }
  if (user === undefined) return undefined;
  // A session that existed before this request gets a new id; should the headers be out already, the
  // new id could not reach the client: the binding waits for its next request.
  const rotate = runtime.caps.rotateOnLogin && !state.fresh;
  if (rotate && context.res.headersSent) return undefined;
  const id = rotate ? runtime.newId(req) : session.getId();
  if (runtime.caps.maxPerPrincipal !== undefined && !(await admitUser(context, user, sessionKey(session.app, id)))) {
    session.invalidate(); // not bound, not kept
    return new TooManySessionsError('maxSessionsPerPrincipal');
  }
  if (runtime.caps.maxPerPrincipal !== undefined) logins.set(context, { user, key: sessionKey(session.app, id) });
  if (rotate) {
    context.changeSessionId(id);
    if (runtime.caps.countApps) await countSession(context, session);
  }
  state.principal = user;
  state.principalBound = true;
  state.dirty = true;
  return undefined;
}

/**
 * Counts `key` among `user`'s sessions: what the coordinator counts for the
 * user is looked at first (gone ones stop counting, the others' last use is
 * brought up to date), then admitted in one atomic step; the sessions
 * evicted to make room are killed (reason `evicted`).
 */
async function admitUser(context: RequestContext, user: string, key: string): Promise<boolean> {
  const { runtime } = context;
  const caps = capsOf(runtime);
  const held = await caps.principalSessions(user);
  const seen = await Promise.all(
    held
      .filter(([other]) => other !== key)
      .map(async ([other, usedAt]): Promise<[string, number | null]> => {
        const entry = await runtime.coordinator.inspect(other);
        return [other, !entry || entry.claimed ? null : Math.max(usedAt, entry.lastAccessedTime)];
      }),
  );
  const now = runtime.clock.now();
  const { admitted, evicted } = await caps.admitPrincipal(user, key, runtime.caps.maxPerPrincipal!, runtime.caps.evictOldest, seen, now);
  if (evicted.length > 0) await runtime.evict(evicted).catch((error: unknown) => debug('evicting %o failed: %O', evicted, error));
  return admitted;
}

/** The login each request admitted (`maxSessionsPerPrincipal`), checked again once it has left. */
const logins = new WeakMap<RequestContext, { user: string; key: string }>();

/** Whether the request admitted a login that `checkLogin` must check after its leave. */
export function hasLogin(context: RequestContext): boolean {
  return logins.has(context);
}

/**
 * After a login's leave: a login of the same user in another process may
 * have evicted this session between its admission and its write, while the
 * coordinator had no entry to mark yet (an eviction skips such a session:
 * this check is the one that destroys it, so it is announced once). The
 * session is then no longer counted for the user, and goes now (reason
 * `evicted`), so the user never holds more than the cap once both requests
 * have ended.
 */
export async function checkLogin(context: RequestContext): Promise<void> {
  const login = logins.get(context);
  if (!login || context.session.state.status !== 'live') return;
  const held = await capsOf(context.runtime).principalSessions(login.user);
  if (!held.some(([key]) => key === login.key)) await context.runtime.evict([login.key]);
}

/** A new session a cap refused: never stored, its id never sent. */
function dropNewSession(context: RequestContext, session: ServletSession): void {
  session.state.status = 'pending';
  context.runtime.counters.created--;
}

/** The coordinator's caps (checked at startup when a cap is set). */
function capsOf(runtime: SessionRuntime): SessionCaps {
  return runtime.coordinator as unknown as SessionCaps;
}
