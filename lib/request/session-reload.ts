import type { ServletSession } from '../session/http-session';
import { readRecord } from '../storage/session-record';
import type { StoredRecord } from '../storage/store-adapter';
import type { RequestContext } from './request-context';

/**
 * express-session's `reload()` (docs/architecture.md, "express-session
 * compatibility"): the session's data as the store holds it now replaces
 * what this request has, its changes included. Rejects as express-session
 * does ("failed to load session") when nothing is stored: a session never
 * written, or one gone meanwhile.
 */
export async function reloadSession(context: RequestContext, session: ServletSession): Promise<void> {
  if (context.saving) await context.saving;
  const { state } = session;
  const key = state.storedKey;
  if (state.status !== 'live' || key === null) throw new Error('failed to load session');
  const { runtime } = context;
  let record: StoredRecord | undefined;
  let version: number | undefined;
  if (runtime.records) {
    const now = await runtime.records.read(key);
    record = now.claimed ? undefined : now.record;
    version = now.version;
  } else {
    record = await runtime.store.get(key);
  }
  if (!record) throw new Error('failed to load session');
  state.reloadFrom(readRecord(record, session.app, runtime.clock.now()));
  if (version !== undefined) state.version = version;
}
