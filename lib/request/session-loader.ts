import { enterCounted, idleExpired, type AccessEntry, type LeaveUpdate } from '../coordination/coordinator';
import { UnauthorizedSessionRequestError } from '../errors';
import type { ServletSession } from '../session/http-session';
import { SessionState } from '../session/session-state';
import { LocalCoordinator } from '../coordination/local/local-coordinator';
import { sessionKey, subsessionKey } from '../storage/session-key';
import { readRecord, recordExpiry, type LoadedRecord } from '../storage/session-record';
import type { StoredRecord } from '../storage/store-adapter';
import { cookieResendDue, sendCookie } from '../tracking/cookie-lifetime';
import type { DecodedId } from '../tracking/session-id-codec';
import { requestUser } from './principal-binding';
import type { RequestContext } from './request-context';

/**
 * Loads the session stored under `key` into the request (docs/architecture.md,
 * "The request path"): the record and the coordinator's entry, read
 * together; then whether it may be served (claimed, gone, expired, another
 * user's); then the session and its subsessions. A session that may not be
 * served leaves the request's pending session in place. In process (our
 * MemoryStore and coordinator, one app) both answer at once, and so does the
 * load in the common case: `undefined` means it is done.
 */
export function loadSession(context: RequestContext, key: string, decoded: DecodedId): Promise<void> | undefined {
  const { runtime } = context;
  const memory = runtime.store.local;
  const coordinator = runtime.coordinator;
  if (memory && coordinator instanceof LocalCoordinator && !runtime.records && runtime.otherApps(context.appContext.name).length === 0) {
    const record = memory.peek(key);
    return admit(context, key, decoded, record, coordinator.enterNow(key, context.start, runtime.strictExpiry, context.token));
  }
  return fetchAndAdmit(context, key, decoded);
}

async function fetchAndAdmit(context: RequestContext, key: string, decoded: DecodedId): Promise<void> {
  // 1. Read the record and enter the coordinator together: one round trip (colocated records: one
  // script). Every call is started before any is awaited; one that fails leaves the others settled.
  const sharing = context.runtime.otherApps(context.appContext.name).length > 0 ? heldByOtherApps(context, decoded.id) : undefined;
  const { record, entry } = await fetch(context, key).catch((error: unknown) => {
    sharing?.catch(noop);
    throw error;
  });
  try {
    context.sharedId = sharing ? await sharing : false;
  } catch (error) {
    if (counts(context, entry)) await context.runtime.coordinator.leave(key, abandonUpdate(context)).catch(noop);
    throw error;
  }
  await admit(context, key, decoded, record, entry);
}

/** Steps 2–3b of the load: what the record and the entry read say of the session. */
function admit(context: RequestContext, key: string, decoded: DecodedId, record: StoredRecord | undefined, entry: AccessEntry | undefined): Promise<void> | undefined {
  // 2. Claimed by the reaper or by another request that found it expired: it is going.
  if (entry?.claimed) return undefined;
  // 3. No record: the session is gone (or never was); forget any stale entry.
  if (!record) return entry ? context.runtime.coordinator.remove(key).then(noop) : undefined;
  if (entry) return admitRecord(context, key, decoded, record, entry);
  // 3b. A record but no entry: unknown to the coordinator (a migrated record), or destroyed
  // between the two reads above. A destruction deletes the record before the entry, so a
  // second read, made after the coordinator answered, tells them apart.
  return context.runtime.store.get(key).then((again) => (again ? admitRecord(context, key, decoded, record, entry) : undefined));
}

/** Steps 4–4b: expired on access, or another user's. */
function admitRecord(context: RequestContext, key: string, decoded: DecodedId, record: StoredRecord, entry: AccessEntry | undefined): Promise<void> | undefined {
  const { runtime, start } = context;
  const data = readRecord(record, context.appContext.name, start);
  // 4. Expired on access: enter() did not count this request as a user, so every request that
  // finds it expired claims as a bystander and exactly one destroys it.
  if (runtime.strictExpiry && entry && idleExpired(entry, start)) return destroyExpired(context, key, entry, data);
  // 4b. Bound to a user (the principal option): for that user only.
  const found: Found = { key, decoded, record, entry, data };
  if (data.meta.principal !== undefined && runtime.principal) return admitUser(context, found);
  return serve(context, found);
}

/** A record found for the requested id, with its entry and its contents. */
interface Found {
  key: string;
  decoded: DecodedId;
  record: StoredRecord;
  entry: AccessEntry | undefined;
  data: LoadedRecord;
}

async function admitUser(context: RequestContext, found: Found): Promise<void> {
  const { key, entry, data } = found;
  const counted = counts(context, entry);
  const user = await userOrLeave(context, key, counted);
  if (user !== data.meta.principal) {
    if (counted) await context.runtime.coordinator.leave(key, abandonUpdate(context));
    context.sharedId = false; // a new session here gets an id of its own
    if (user !== undefined) throw new UnauthorizedSessionRequestError();
    return; // anonymous: a new session
  }
  await serve(context, found);
}

/** Step 5: live, it becomes the request's session (then its subsessions load). */
function serve(context: RequestContext, found: Found): Promise<void> | undefined {
  const { runtime, start } = context;
  const { key, decoded, record, entry, data } = found;
  const state = new SessionState({
    app: context.appContext.name,
    status: 'live',
    id: decoded.id,
    creationTime: data.meta.created,
    lastAccessedTime: entry ? entry.lastAccessedTime : data.meta.accessed,
    timeout: data.meta.timeout,
    attributes: data.attributes,
    principal: data.meta.principal,
  });
  state.storedKey = key;
  state.sharedValues = runtime.store.sharesRecords;
  state.entered = entry !== undefined;
  state.base = data;
  state.version = entry?.version ?? 0;
  state.storeExpires = entry?.storeExpires ?? recordExpiry(record);
  state.cookieMaxAge = data.meta.cookieMaxAge;
  state.cookieSentAt = data.meta.cookieSentAt;
  const session = context.sessionOf(state);
  context.session = session;
  context.loaded = session;
  context.hooks.hookEnd();
  // 6. A persistent cookie older than a tenth of its lifetime goes out again (a rolling cookie).
  if (runtime.cookieTracking && cookieResendDue(state, runtime.cookieMaxAgeMs, start)) {
    sendCookie(state, start);
    context.hooks.hookHeaders();
  }
  if (decoded.stale) context.hooks.hookHeaders();
  if (data.meta.subsessions?.length) return loadSubsessions(context, session, key, data.meta.subsessions);
  return undefined;
}

/**
 * Loads a live parent's subsessions, each from its own record and
 * coordinator entry (read, not entered: only a request that gets a
 * subsession restarts its idle clock). Gone or expired ones are dropped from
 * the parent's list; an expired one is destroyed (and announced) once.
 */
async function loadSubsessions(context: RequestContext, parent: ServletSession, parentKey: string, names: string[]): Promise<void> {
  const { runtime, start } = context;
  const { store, coordinator } = runtime;
  const keys = names.map((name) => subsessionKey(parentKey, name));
  const found = await Promise.all(keys.map((key) => Promise.all([store.get(key), coordinator.inspect(key)])));
  for (let i = 0; i < names.length; i++) {
    const [record, entry] = found[i];
    const key = keys[i];
    if (!record || entry?.claimed) {
      if (!record && entry && !entry.claimed) await coordinator.remove(key);
      parent.state.noteSubsession(names[i], false);
      continue;
    }
    const data = readRecord(record, context.appContext.name, start);
    if (runtime.strictExpiry && entry && idleExpired(entry, start)) {
      parent.state.noteSubsession(names[i], false);
      await destroyExpired(context, key, entry, data);
      continue;
    }
    const state = new SessionState({
      app: parent.app,
      status: 'live',
      creationTime: data.meta.created,
      lastAccessedTime: entry ? entry.lastAccessedTime : data.meta.accessed,
      timeout: data.meta.timeout,
      attributes: data.attributes,
    });
    state.storedKey = key;
    state.sharedValues = store.sharesRecords;
    state.storeExpires = entry?.storeExpires ?? recordExpiry(record);
    parent.hold(names[i], context.sessionOf(state, { session: parent, name: names[i] }));
  }
}

/**
 * A session (or subsession) found expired on access: destroyed if this
 * request wins the claim. `lastAccessedTime` is the entry's as it was before
 * this request came.
 */
async function destroyExpired(context: RequestContext, key: string, entry: AccessEntry, record: LoadedRecord): Promise<void> {
  const { runtime, start } = context;
  const { announced } = await runtime.destroyer.destroy(key, 'expired', { at: start }, {
    record,
    lastAccessedTime: entry.lastAccessedTime,
    now: start,
  });
  if (announced) runtime.track(announced);
}

/**
 * The record and the entry (entered). Should the entry's call fail, its
 * outcome is unknown (it may run later, or have run before its answer was
 * lost): the request leaves anyway, in the background, which changes
 * nothing if it never entered.
 */
async function fetch(context: RequestContext, key: string): Promise<{ record: StoredRecord | undefined; entry: AccessEntry | undefined }> {
  const { runtime, start } = context;
  const { store, coordinator, records, strictExpiry } = runtime;
  if (records) {
    return records.load(key, start, strictExpiry, context.token).catch((error: unknown) => {
      context.leaveLater(key, abandonUpdate(context));
      throw error;
    });
  }
  const reading = store.get(key);
  // Observed at once: should the read fail while `enter` is still pending,
  // its rejection must not count as unhandled (it is awaited below).
  reading.catch(noop);
  let entry: AccessEntry | undefined;
  try {
    entry = await coordinator.enter(key, start, strictExpiry, context.token);
  } catch (error) {
    context.leaveLater(key, abandonUpdate(context));
    throw error;
  }
  try {
    return { record: await reading, entry };
  } catch (error) {
    if (counts(context, entry)) await coordinator.leave(key, abandonUpdate(context)).catch(noop);
    throw error;
  }
}

/** Whether another app of the manager has a session stored under `id`. */
async function heldByOtherApps(context: RequestContext, id: string): Promise<boolean> {
  const { runtime } = context;
  const others = runtime.otherApps(context.appContext.name);
  const records = await Promise.all(others.map((app) => runtime.store.get(sessionKey(app, id))));
  return records.some((record) => record !== undefined);
}

/** The request's user; should the `principal` option throw, the request first stops using the session. */
async function userOrLeave(context: RequestContext, key: string, counted: boolean): Promise<string | undefined> {
  try {
    return requestUser(context.runtime, context.req);
  } catch (error) {
    if (counted) await context.runtime.coordinator.leave(key, abandonUpdate(context)).catch(() => undefined);
    throw error;
  }
}

/** The coordinator update of a request that entered but could not load the record. */
function abandonUpdate(context: RequestContext): LeaveUpdate {
  return {
    now: context.runtime.clock.now(),
    timeoutMs: undefined,
    storeExpires: null,
    entered: true,
    lastAccessedTime: context.start,
    request: context.token,
  };
}

function noop(): void {}

/** Whether `enter()` counted the request as a user of the session. */
function counts(context: RequestContext, entry: AccessEntry | undefined): boolean {
  return enterCounted(entry, context.start, context.runtime.strictExpiry);
}
