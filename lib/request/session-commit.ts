import type { ServletSession } from '../session/http-session';
import { deleteSession } from '../session/destruction';
import { sessionKey, subsessionKey } from '../storage/session-key';
import createDebug from 'debug';
import { readRecord } from '../storage/session-record';
import { bindPrincipal } from './principal-binding';
import { mergedRecord, wholeRecord, type WriteTimes } from './record-writing';
import type { RequestContext } from './request-context';

/** A year: how long the store keeps a session that never expires without a write or touch. */
const NEVER_TTL_MS = 365 * 24 * 3600 * 1000;

const debug = createDebug('express-session-management');

/**
 * Commits a request's session work (docs/architecture.md, "Commit"): for
 * every session it held — replaced ones first, subsessions before their
 * parent — saves what changed, deletes what was invalidated, and tells the
 * coordinator the session is idle again. One after the other: a session
 * invalidated here may share its key with its successor (web modules).
 * Rejects with the first failure once every session has been dealt with.
 */
export async function commitRequest(context: RequestContext): Promise<void> {
  const now = context.runtime.clock.now();
  let failure: { error: unknown } | undefined;
  for (const parent of context.heldSessions()) {
    for (const session of parent.heldSubsessions()) {
      try {
        await commitSession(context, session, now);
      } catch (error) {
        failure ??= { error };
      }
    }
    try {
      await commitSession(context, parent, now);
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}

/** Stores, touches or deletes one session, and always tells the coordinator the request is done. */
async function commitSession(context: RequestContext, session: ServletSession, now: number): Promise<void> {
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
    if (session === context.loaded) await leaveKilled(context, session);
    return; // a subsession goes with its parent
  }
  const key = keyOf(session);
  // A subsession this request did not use keeps its idle clock and its record.
  if (session.parent && !state.used && oldKey === key && !state.hasChanges()) return;
  bindPrincipal(runtime, context.req, session);
  const moved = oldKey !== null && oldKey !== key;
  const timeoutMs = timeoutMsOf(session);
  const times: WriteTimes = { start: context.start, now, storeExpires: storeExpiry(context, now, timeoutMs) };
  let written: number | null = state.storeExpires;
  try {
    written = await write(context, session, key, times, timeoutMs);
  } finally {
    // 5. The idle clock restarts when the last request using the session ends.
    const lastOfKilled = await runtime.coordinator.leave(key, {
      now,
      timeoutMs,
      storeExpires: written,
      entered: state.entered && !moved,
      lastAccessedTime: context.start,
      principal: state.principal,
    });
    // Killed in another process, its signal not here yet: what was just written goes too.
    if (lastOfKilled) await destroyKilled(context, key, now);
  }
}

/**
 * Writes what the session needs written; resolves when the store's copy now
 * expires (as it was when nothing was written).
 * 2. New or renamed: nobody else can have written it: the whole record (a
 *    rename also drops the old key, in turn with its commits).
 * 3. Changed: merged onto the record as it is now; so is a session whose
 *    store TTL ran out while this request ran (a touch of a dropped record
 *    does nothing).
 * 4. Unchanged: the store's TTL is extended only when it runs low (a
 *    coalesced touch); a store without `touch` merges nothing instead of
 *    writing this request's (perhaps stale) copy.
 */
async function write(context: RequestContext, session: ServletSession, key: string, times: WriteTimes, timeoutMs: number | null): Promise<number | null> {
  const { runtime } = context;
  const { state } = session;
  const oldKey = state.storedKey;
  // 2.
  if (state.fresh || (oldKey !== null && oldKey !== key)) {
    await Promise.all([
      runtime.store.set(key, wholeRecord(session, times)),
      oldKey === null ? undefined : runtime.commits.run(oldKey, () => deleteSession(runtime, oldKey)),
    ]);
    return times.storeExpires;
  }
  // 3.
  const lapsed = state.storeExpires !== null && state.storeExpires <= times.now;
  if (state.hasChanges() || lapsed) return merge(context, session, key, times);
  // 4.
  if (!touchDue(context, state.storeExpires, times.storeExpires, timeoutMs)) return state.storeExpires;
  if (!runtime.store.canTouch) return merge(context, session, key, times);
  await runtime.store.touch(key, wholeRecord(session, times));
  return times.storeExpires;
}

/**
 * Read-merge-write of one session, in turn with its other commits. A
 * session that is gone meanwhile (invalidated, expired or killed by another
 * request) stays gone: what this request changed is dropped. One whose
 * record the store dropped while this request used it (its entry still
 * there, unclaimed) is written whole.
 */
async function merge(context: RequestContext, session: ServletSession, key: string, times: WriteTimes): Promise<number | null> {
  const { runtime } = context;
  return runtime.commits.run(key, async () => {
    const record = await runtime.store.get(key);
    if (record) {
      await runtime.store.set(key, mergedRecord(readRecord(record, session.app, times.now), session, times));
      return times.storeExpires;
    }
    const entry = await runtime.coordinator.inspect(key);
    if (!entry || entry.claimed) {
      debug('commit of %s dropped: the session is gone', key);
      return null;
    }
    await runtime.store.set(key, wholeRecord(session, times));
    return times.storeExpires;
  });
}

/**
 * A session killed while this request ran: nothing it changed is kept; the
 * last request using it deletes it and announces it, once.
 */
async function leaveKilled(context: RequestContext, session: ServletSession): Promise<void> {
  const key = session.state.storedKey!;
  const now = context.runtime.clock.now();
  const last = await context.runtime.coordinator.leave(key, {
    now,
    timeoutMs: undefined,
    storeExpires: session.state.storeExpires,
    entered: session.state.entered,
    lastAccessedTime: context.start,
  });
  if (last) await destroyKilled(context, key, now);
}

/** The last request of a killed session destroys it (the kill's mark is its claim). */
async function destroyKilled(context: RequestContext, key: string, now: number): Promise<void> {
  const { runtime } = context;
  const { announced } = await runtime.destroyer.destroy(key, 'killed', { held: undefined }, { now, lastAccessedTime: context.start });
  if (announced) runtime.track(announced);
}

/** Where a session (or a subsession) is stored. */
function keyOf(session: ServletSession): string {
  const parentKey = sessionKey(session.app, (session.parent ?? session).getId());
  return session.parent ? subsessionKey(parentKey, session.name!) : parentKey;
}

/** Effective idle timeout of a session in ms; `null` = never. */
function timeoutMsOf(session: ServletSession): number | null {
  const seconds = session.effectiveTimeout();
  return seconds <= 0 ? null : seconds * 1000;
}

/** When a record written now should expire by the store's own TTL. */
function storeExpiry(context: RequestContext, now: number, timeoutMs: number | null): number {
  return timeoutMs === null ? now + NEVER_TTL_MS : now + timeoutMs + context.runtime.graceMs(timeoutMs);
}

/** A touch is due when less than half the grace would remain past the new deadline. */
function touchDue(context: RequestContext, current: number | null, wanted: number, timeoutMs: number | null): boolean {
  if (current === null) return true;
  const grace = timeoutMs === null ? NEVER_TTL_MS : context.runtime.graceMs(timeoutMs);
  return wanted - current > grace / 2;
}
