import type { ServletSession } from '../session/http-session';
import { deleteSession } from '../session/destruction';
import { sessionKey, subsessionKey } from '../storage/session-key';
import { buildRecord } from '../storage/session-record';
import type { StoredRecord } from '../storage/store-adapter';
import { bindPrincipal } from './principal-binding';
import type { RequestContext } from './request-context';

/** A year: how long the store keeps a session that never expires without a write or touch. */
const NEVER_TTL_MS = 365 * 24 * 3600 * 1000;

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
  for (const parent of [...context.retired, context.session]) {
    for (const session of [...parent.subsessions.values(), parent]) {
      try {
        await commitSession(context, session, now);
      } catch (error) {
        failure ??= { error };
      }
    }
  }
  if (failure) throw failure.error;
}

/** Stores, touches or deletes one session, and always tells the coordinator the request is done. */
async function commitSession(context: RequestContext, session: ServletSession, now: number): Promise<void> {
  const { runtime } = context;
  const { store, coordinator } = runtime;
  const { state } = session;
  const oldKey = state.storedKey;
  // 1. Invalidated: delete the record and the coordinator's entry.
  if (state.status === 'invalid') {
    if (oldKey !== null) await deleteSession(runtime, oldKey);
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
  const storeExpires = storeExpiry(context, now, timeoutMs);
  let written: number | null = state.storeExpires;
  try {
    // 2. Changed, new or renamed: write the whole record; renamed: drop the old key. Also when this
    // request outlasted the store's TTL of the record: a touch of a record the store dropped does nothing.
    const lapsed = state.storeExpires !== null && state.storeExpires <= now;
    if (state.hasChanges() || oldKey !== key || lapsed) {
      written = storeExpires;
      await Promise.all([
        store.set(key, recordOf(context, session, storeExpires, now)),
        moved ? deleteSession(runtime, oldKey) : undefined,
      ]);
    } else if (touchDue(context, state.storeExpires, storeExpires, timeoutMs)) {
      // 3. Unchanged: extend the store's TTL only when it runs low (a coalesced touch).
      written = storeExpires;
      await store.touch(key, recordOf(context, session, storeExpires, now));
    }
  } finally {
    // 4. The idle clock restarts when the last request using the session ends.
    const lastOfKilled = await coordinator.leave(key, {
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

/** The store record of a session as this request leaves it. */
function recordOf(context: RequestContext, session: ServletSession, storeExpires: number, now: number): StoredRecord {
  const { state } = session;
  const subsessions = session.getSubsessionNames();
  const meta = {
    v: 1 as const,
    app: session.app,
    created: state.creationTime,
    accessed: context.start,
    timeout: state.timeout,
    subsessions: subsessions.length > 0 ? subsessions : undefined,
    principal: state.principal,
  };
  return buildRecord(meta, state.snapshot(), storeExpires, now);
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
