import type { LeaveUpdate } from '../coordination/coordinator';
import { IllegalStateError, TooManySessionsError } from '../errors';
import type { ServletSession } from '../session/http-session';
import { deleteSession } from '../session/destruction';
import { readRecord } from '../storage/session-record';
import { mergeInTurn, type Merged } from './commit-groups';
import { ttlSeconds, wholeRecord, type WriteTimes } from './record-writing';
import { nextToken } from './coordinator-standing';
import type { RequestContext } from './request-context';
import { countSession } from './session-caps';
import { keyOf, storeExpiry, timeoutMsOf } from './session-commit';

/**
 * express-session's `save()` (docs/architecture.md, "express-session
 * compatibility"): writes the session now, the way its commit would, but
 * without leaving the coordinator — the request still uses the session, so
 * it is not idle until the request ends. Afterwards the state counts as
 * stored: the commit writes only what changes after the save.
 * 1. Not yet written (new), or renamed: the whole record (a rename drops
 *    the old key, as the commit does).
 * 2. Written before and changed since: merged onto the record as it is now,
 *    in the session's commit turn, with the merges grouped with it
 *    (colocated records: guarded by version).
 * Rejects with `IllegalStateError` when the session is gone meanwhile
 * (invalidated, expired or killed elsewhere): nothing is brought back.
 */
export async function saveSession(context: RequestContext, session: ServletSession): Promise<void> {
  const { runtime } = context;
  const { state } = session;
  if (state.status !== 'live') return;
  if (context.killed && session === context.loaded) throw new IllegalStateError('save: the session was killed');
  const key = keyOf(session);
  const oldKey = state.storedKey;
  const moved = oldKey !== null && oldKey !== key;
  const now = runtime.clock.now();
  const timeoutMs = timeoutMsOf(session);
  const times: WriteTimes = { start: context.start, now, storeExpires: storeExpiry(context, now, timeoutMs) };
  const { records } = runtime;
  // 1.
  if ((state.fresh && (!state.saved || state.hasChanges())) || moved) {
    if (state.fresh && !(await countSession(context, session))) throw new TooManySessionsError('maxActiveSessions');
    const record = wholeRecord(session, times);
    const dropOld = moved ? runtime.commits.run(oldKey, () => deleteSession(runtime, oldKey)) : undefined;
    const writing = records
      ? records.write(key, record, ttlSeconds(times), undefined, [stayUpdate(context, times)], nextToken()).then((result) => (result.written ? result.version : 1))
      : runtime.store.set(key, record).then(() => 1);
    const [version] = await Promise.all([writing, dropOld]);
    if (moved) state.entered = false; // the old key's entry went with it; the new one was never entered
    stored(session, key, times, { record, version });
    return;
  }
  // 2.
  if (!state.hasChanges()) return;
  const result: Merged = await mergeInTurn(context, session, key, times, () => stayUpdate(context, times));
  if (result.storeExpires === null) throw new IllegalStateError('save: the session no longer exists');
  stored(session, key, times, result.written);
}

/** The state after a save: stored under `key` as it is now (colocated: the record and its version, to merge onto). */
function stored(session: ServletSession, key: string, times: WriteTimes, written: Merged['written']): void {
  const { state } = session;
  state.storedKey = key;
  state.storeExpires = times.storeExpires;
  if (written) {
    state.base = readRecord(written.record, session.app, times.now);
    state.version = written.version;
  }
  state.markSaved();
}

/**
 * The coordinator update written with a colocated record by a save: under a
 * token of its own (so the request's own stays: it still uses the session),
 * the deadline kept, the entry made if missing (its deadline then "never"
 * until the request leaves).
 */
function stayUpdate(context: RequestContext, times: WriteTimes): LeaveUpdate {
  return {
    now: times.now,
    timeoutMs: undefined,
    storeExpires: times.storeExpires,
    entered: false,
    lastAccessedTime: context.start,
    request: `${context.token}.save`,
  };
}
