import createDebug from 'debug';
import type { LeaveUpdate } from '../coordination/coordinator';
import type { ServletSession } from '../session/http-session';
import { LocalCoordinator } from '../coordination/local/local-coordinator';
import { deleteSession } from '../session/destruction';
import { sessionKey, subsessionKey } from '../storage/session-key';
import { decodeKillNote } from '../killing/kill-note';
import { admitBeforeCommit, checkLogin, hasLogin, renewCount } from './session-caps';
import { mergeInTurn } from './commit-groups';
import { ttlSeconds, wholeRecord, type WriteTimes } from './record-writing';
import { nextToken } from './coordinator-standing';
import type { RequestContext } from './request-context';

/** A year: how long the store keeps a session that never expires without a write or touch. */
const NEVER_TTL_MS = 365 * 24 * 3600 * 1000;

const debug = createDebug('express-session-management');

/** A session the request still has to leave after the response (its write, if any, did not). */
export interface PendingLeave {
  key: string;
  update: LeaveUpdate;
}

/**
 * Commits a request's session work before its response (docs/architecture.md,
 * "Commit"): for every session it held — replaced ones first, subsessions
 * before their parent — saves what changed and deletes what was invalidated.
 * One after the other: a session invalidated here may share its key with
 * its successor (web modules). The coordinator is told the sessions are idle
 * again after the response (`leaveAfterResponse`), unless a write did it in
 * the same step; `pending` collects those leaves, even of a session whose
 * write failed. Rejects with the first failure once every session has been
 * dealt with.
 */
export async function commitRequest(context: RequestContext, pending: PendingLeave[]): Promise<void> {
  if (context.saving) await context.saving; // express-session's save() calls still writing
  // A cap that refuses the session makes the response its error, once the rest is committed.
  const refused = await admitBeforeCommit(context);
  let failure: { error: unknown } | undefined = refused && { error: refused };
  const now = context.runtime.clock.now();
  const commit = async (session: ServletSession): Promise<void> => {
    try {
      await commitSession(context, session, now, pending);
    } catch (error) {
      failure ??= { error };
    }
  };
  for (const parent of context.heldSessions()) {
    if (parent.state.status === 'pending') continue; // never stored (or refused by a cap): nor are its subsessions
    for (const session of parent.heldSubsessions()) await commit(session);
    await commit(parent);
  }
  if (failure) throw failure.error;
}

/**
 * Tells the coordinator the request is done with its sessions, after its
 * response: the idle clock restarts, and the last request of a session killed
 * meanwhile destroys it. A leave that fails is retried once, later: leaving
 * twice changes nothing.
 */
export function leaveAfterResponse(context: RequestContext, pending: PendingLeave[]): Promise<void> | undefined {
  const { coordinator } = context.runtime;
  if (!(coordinator instanceof LocalCoordinator) || hasLogin(context)) return leaveInTurn(context, pending);
  // In process: answered at once; only the last request of a killed session has work left.
  let destroying: Promise<void>[] | undefined;
  for (const { key, update } of pending) {
    if (coordinator.leaveNow(key, update)) (destroying ??= []).push(destroyKilled(context, key, update.now));
  }
  if (!destroying) return undefined;
  return Promise.all(destroying).then(noop, (error: unknown) => debug('destroying a killed session failed: %O', error));
}

async function leaveInTurn(context: RequestContext, pending: PendingLeave[]): Promise<void> {
  const { coordinator } = context.runtime;
  for (const { key, update } of pending) {
    try {
      if (await coordinator.leave(key, update)) await destroyKilled(context, key, update.now);
    } catch (error) {
      debug('leave of %s failed, retried later: %O', key, error);
      context.leaveLater(key, update);
    }
  }
  await checkLogin(context).catch((error: unknown) => debug('checking the login failed: %O', error));
}

/** Stores, touches or deletes one session; what it must still leave goes to `pending`. */
async function commitSession(context: RequestContext, session: ServletSession, now: number, pending: PendingLeave[]): Promise<void> {
  const { runtime } = context;
  const { state } = session;
  const oldKey = state.storedKey;
  // 1. Invalidated: delete the record and the coordinator's entry (in turn with the session's commits).
  if (state.status === 'invalid') {
    if (oldKey !== null) await runtime.commits.run(oldKey, () => deleteSession(runtime, oldKey));
    return;
  }
  if (state.status === 'pending') return;
  if (context.killed && (session === context.loaded || session.parent === context.loaded)) {
    // Killed: nothing it changed is kept; the last request using it destroys it. A subsession goes with its parent.
    if (session === context.loaded) pending.push({ key: oldKey!, update: leaveUpdate(context, session, now, undefined, state.storeExpires, state.entered) });
    return;
  }
  const key = keyOf(session);
  // A subsession this request did not use keeps its idle clock and its record.
  if (session.parent && !state.used && oldKey === key && !state.hasChanges()) return;
  const moved = oldKey !== null && oldKey !== key;
  const timeoutMs = timeoutMsOf(session);
  const times: WriteTimes = { start: context.start, now, storeExpires: storeExpiry(context, now, timeoutMs) };
  const leave = (storeExpires: number | null): LeaveUpdate =>
    leaveUpdate(context, session, now, deadlineMs(runtime.caps.maxLifetimeMs, state.creationTime, now, timeoutMs), storeExpires, state.entered && !moved);
  let written: { storeExpires: number | null; left: boolean } = { storeExpires: state.storeExpires, left: false };
  try {
    written = await write(context, session, key, times, timeoutMs, leave);
  } finally {
    if (!written.left) pending.push({ key, update: leave(written.storeExpires) });
  }
  renewCount(context, session, key, state.storeExpires, written.storeExpires);
}

/**
 * How long from `now` the coordinator's deadline is: the idle timeout, or
 * less when `maxLifetime` ends the session sooner (docs/architecture.md,
 * "Caps"): the expiry index then holds the earlier of the two deadlines.
 */
export function deadlineMs(maxLifetimeMs: number | null, created: number, now: number, timeoutMs: number | null): number | null {
  if (maxLifetimeMs === null) return timeoutMs;
  const left = Math.max(0, created + maxLifetimeMs - now);
  return timeoutMs === null ? left : Math.min(timeoutMs, left);
}

/**
 * Writes what the session needs written; resolves when the store's copy now
 * expires, and whether the write also left the coordinator (colocated
 * records do both in one step).
 * 2. New or renamed: nobody else can have written it: the whole record (a
 *    rename also drops the old key, in turn with its commits).
 * 3. Changed: merged onto the record as it is now, with the other merges of
 *    the session that wait for its commit turn (one write for them all); so
 *    is a session whose store TTL ran out while this request ran (a touch of
 *    a dropped record does nothing).
 * 4. Unchanged: the store's TTL is extended only when it runs low (a
 *    coalesced touch); a store without `touch` merges nothing instead of
 *    writing this request's (perhaps stale) copy.
 */
async function write(
  context: RequestContext,
  session: ServletSession,
  key: string,
  times: WriteTimes,
  timeoutMs: number | null,
  leave: (storeExpires: number | null) => LeaveUpdate,
): Promise<{ storeExpires: number | null; left: boolean }> {
  const { runtime } = context;
  const { state } = session;
  const { records } = runtime;
  const oldKey = state.storedKey;
  const step = dueStep(context, session, key, times, timeoutMs);
  if (step === undefined) return { storeExpires: state.storeExpires, left: false };
  if (step === 'whole') {
    const moved = oldKey !== null && oldKey !== key;
    const dropOld = moved ? runtime.commits.run(oldKey, () => deleteSession(runtime, oldKey)) : undefined;
    if (records) {
      const [result] = await Promise.all([records.write(key, wholeRecord(session, times), ttlSeconds(times), undefined, [leave(times.storeExpires)], nextToken()), dropOld]);
      return settle(context, key, times, result.written && result.lastOfKilled[0]);
    }
    await Promise.all([runtime.store.set(key, wholeRecord(session, times)), dropOld]);
    return { storeExpires: times.storeExpires, left: false };
  }
  if (step === 'merge') {
    const merged = await mergeInTurn(context, session, key, times, leave);
    if (merged.lastOfKilled) await destroyKilled(context, key, times.now);
    return merged;
  }
  // 'touch'
  if (records) {
    const lastOfKilled = await records.touch(key, ttlSeconds(times), leave(times.storeExpires));
    return settle(context, key, times, lastOfKilled);
  }
  if (!runtime.store.canTouch) return mergeInTurn(context, session, key, times, leave);
  await runtime.store.touch(key, wholeRecord(session, times));
  return { storeExpires: times.storeExpires, left: false };
}

/**
 * Which step of `write` the session needs (see there); `undefined`: none —
 * the store's copy is up to date and far enough from expiring.
 */
export function dueStep(context: RequestContext, session: ServletSession, key: string, times: WriteTimes, timeoutMs: number | null): 'whole' | 'merge' | 'touch' | undefined {
  const { state } = session;
  const changed = state.hasChanges();
  // 2. (A new session that save() wrote already is written whole again only if it changed since.)
  if ((state.fresh && (!state.saved || changed)) || (state.storedKey !== null && state.storedKey !== key)) return 'whole';
  // 3.
  if (changed || lapsed(state, times)) return 'merge';
  // 4.
  return touchDue(context, state.storeExpires, times.storeExpires, timeoutMs) ? 'touch' : undefined;
}

/** The store's TTL of the session ran out while the request ran (a touch of a dropped record does nothing). */
function lapsed(state: ServletSession['state'], times: WriteTimes): boolean {
  return state.storeExpires !== null && state.storeExpires <= times.now;
}

/** A colocated write left the coordinator too; the last request of a killed session destroys it now. */
async function settle(context: RequestContext, key: string, times: WriteTimes, lastOfKilled: boolean): Promise<{ storeExpires: number; left: true }> {
  if (lastOfKilled) await destroyKilled(context, key, times.now);
  return { storeExpires: times.storeExpires, left: true };
}

/**
 * The last request of a killed session destroys it (the kill's mark is its
 * claim), announced as the kill's note says (`killed` and by whom, or `evicted`).
 */
async function destroyKilled(context: RequestContext, key: string, now: number): Promise<void> {
  const { runtime } = context;
  const note = decodeKillNote((await runtime.coordinator.inspect(key).catch(() => undefined))?.killNote);
  const { announced } = await runtime.destroyer.destroy(key, note.reason, { held: undefined }, { now, lastAccessedTime: context.start, by: note.by });
  if (announced) runtime.track(announced);
}

/** What the request reports when it stops using `session`. */
export function leaveUpdate(
  context: RequestContext,
  session: ServletSession,
  now: number,
  timeoutMs: number | null | undefined,
  storeExpires: number | null,
  entered: boolean,
): LeaveUpdate {
  return { now, timeoutMs, storeExpires, entered, lastAccessedTime: context.start, principal: session.state.principal, request: context.token };
}

function noop(): void {}

/** Where a session (or a subsession) is stored. */
export function keyOf(session: ServletSession): string {
  const parentKey = sessionKey(session.app, (session.parent ?? session).getId());
  return session.parent ? subsessionKey(parentKey, session.name!) : parentKey;
}

/** Effective idle timeout of a session in ms; `null` = never. */
export function timeoutMsOf(session: ServletSession): number | null {
  const seconds = session.effectiveTimeout();
  return seconds <= 0 ? null : seconds * 1000;
}

/** When a record written now should expire by the store's own TTL. */
export function storeExpiry(context: RequestContext, now: number, timeoutMs: number | null): number {
  return timeoutMs === null ? now + NEVER_TTL_MS : now + timeoutMs + context.runtime.graceMs(timeoutMs);
}

/** A touch is due when less than half the grace would remain past the new deadline. */
function touchDue(context: RequestContext, current: number | null, wanted: number, timeoutMs: number | null): boolean {
  if (current === null) return true;
  const grace = timeoutMs === null ? NEVER_TTL_MS : context.runtime.graceMs(timeoutMs);
  return wanted - current > grace / 2;
}
