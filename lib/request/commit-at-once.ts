import createDebug from 'debug';
import { LocalCoordinator } from '../coordination/local/local-coordinator';
import type { ServletSession } from '../session/http-session';
import type { MemoryStore } from '../storage/memory-store';
import { readRecord } from '../storage/session-record';
import { applied } from './commit-groups';
import { wholeRecord, type WriteTimes } from './record-writing';
import type { RequestContext } from './request-context';
import { renewCount } from './session-caps';
import { deadlineMs, dueStep, keyOf, leaveUpdate, type PendingLeave, storeExpiry, timeoutMsOf } from './session-commit';

const debug = createDebug('express-session-management');

/**
 * The commit of a request decided at once, with no promise
 * (docs/architecture.md, "The request path"): the common read has nothing
 * to store, and in process (our MemoryStore and coordinator, no other commit
 * of the session in flight) a write is a synchronous read-merge-write — so
 * `res.end` need not wait. The session to leave goes to `pending`. `false`:
 * the whole commit (`commitRequest`) must run — a save, a kill, a replaced
 * session, subsessions, a cap that counts or a login to bind, a renamed
 * session, or a store or coordinator that answers later.
 */
export function commitAtOnce(context: RequestContext, pending: PendingLeave[]): boolean {
  const { runtime } = context;
  const session = context.session;
  const { state } = session;
  if (state.status !== 'live' || state.saved || context.saving || context.killed || context.replacedAny) return false;
  if (session !== context.loaded && !state.fresh) return false;
  if (session.heldSubsessions().length > 0 || (runtime.principal && state.principal === undefined)) return false;
  if (state.fresh && runtime.caps.countApps) return false;
  const key = keyOf(session);
  if (!state.fresh && state.storedKey !== key) return false;
  const now = runtime.clock.now();
  const timeoutMs = timeoutMsOf(session);
  const times: WriteTimes = { start: context.start, now, storeExpires: storeExpiry(context, now, timeoutMs) };
  let storeExpires = state.storeExpires;
  const step = dueStep(context, session, key, times, timeoutMs);
  if (step !== undefined) {
    const memory = runtime.store.local;
    if (!memory || !(runtime.coordinator instanceof LocalCoordinator) || runtime.records || !runtime.commits.idle(key)) return false;
    storeExpires = storeNow(memory, runtime.coordinator, session, key, times, step);
  }
  const deadline = deadlineMs(runtime.caps.maxLifetimeMs, state.creationTime, now, timeoutMs);
  pending.push({ key, update: leaveUpdate(context, session, now, deadline, storeExpires, state.entered) });
  renewCount(context, session, key, state.storeExpires, storeExpires);
  return true;
}

/**
 * `write`'s `step`, in process: a new session whole; a changed one merged
 * onto the record as it is now (one whose record and entry are gone stays
 * gone); an unchanged one touched. When the store's copy now expires
 * (`null`: gone).
 */
function storeNow(memory: MemoryStore, coordinator: LocalCoordinator, session: ServletSession, key: string, times: WriteTimes, step: 'whole' | 'merge' | 'touch'): number | null {
  if (step === 'whole') {
    memory.put(key, wholeRecord(session, times));
  } else if (step === 'merge') {
    const record = memory.peek(key);
    const entry = record ? undefined : coordinator.inspectNow(key);
    if (!record && (!entry || entry.claimed)) {
      debug('commit of %s dropped: the session is gone', key);
      return null;
    }
    memory.put(key, applied(record && readRecord(record, session.app, times.now), [{ session, times }], times));
  } else {
    memory.extend(key, wholeRecord(session, times));
  }
  return times.storeExpires;
}
