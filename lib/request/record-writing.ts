import type { ServletSession } from '../session/http-session';
import { REMOVED } from '../session/session-state';
import { buildRecord, type LoadedRecord, type SessionMeta } from '../storage/session-record';
import type { StoredRecord } from '../storage/store-adapter';

/** When a record is written and until when the store keeps it. */
export interface WriteTimes {
  /** The request's start: the record's `accessed`. */
  start: number;
  now: number;
  /** When the store's copy expires by its own TTL (ms). */
  storeExpires: number;
}

/**
 * The whole record of a session as this request leaves it: for a session
 * created (or renamed) in this request, which nobody else can have written.
 */
export function wholeRecord(session: ServletSession, times: WriteTimes): StoredRecord {
  const { state } = session;
  const subsessions = session.getSubsessionNames();
  const meta: SessionMeta = {
    app: session.app,
    created: state.creationTime,
    accessed: times.start,
    timeout: state.timeout,
    subsessions: subsessions.length > 0 ? subsessions : undefined,
    principal: state.principal,
    cookieMaxAge: state.cookieMaxAge,
    cookieSentAt: state.cookieSentAt,
  };
  return buildRecord(meta, state.snapshot(), times.storeExpires, times.now);
}

/**
 * What this request changed, applied to the record as it is in the store now
 * (docs/architecture.md, "Commit"): attributes it set, removed or changed in
 * place, its timeout if it set one, subsessions it created or lost, its
 * principal if it bound one. Whatever other requests wrote meanwhile stays;
 * on one attribute the last commit wins. Made on `target` itself, a copy the
 * caller owns: a group of commits applies its members' changes in turn.
 */
export function applyChanges(target: LoadedRecord, session: ServletSession, times: WriteTimes): void {
  const { state } = session;
  const { attributes, meta } = target;
  for (const [name, value] of state.changed()) {
    if (value === REMOVED) delete attributes[name];
    else attributes[name] = value;
  }
  for (const name of state.changedInPlace()) attributes[name] = state.attributes.get(name);
  const subsessions = new Set(meta.subsessions);
  for (const [name, added] of state.subsessionsChanged()) {
    if (added) subsessions.add(name);
    else subsessions.delete(name);
  }
  meta.accessed = Math.max(meta.accessed, times.start);
  if (state.timeoutChanged) meta.timeout = state.timeout;
  meta.subsessions = subsessions.size > 0 ? [...subsessions] : undefined;
  meta.principal = meta.principal ?? (state.principalBound ? state.principal : undefined);
  if (state.cookieChanged) {
    meta.cookieMaxAge = state.cookieMaxAge;
    meta.cookieSentAt = state.cookieSentAt;
  }
}

/** The store's TTL of a record written now, in whole seconds (as connect-redis rounds `cookie.expires`). */
export function ttlSeconds(times: WriteTimes): number {
  return Math.max(1, Math.ceil((times.storeExpires - times.now) / 1000));
}
