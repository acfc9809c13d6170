import type { Coordinator } from './coordinator';
import type { DestroyReason, EventSink } from './events';
import type { SessionCounters } from './runtime';
import { parseSessionKey, subsessionKey } from './session-key';
import { readRecord } from './session-record';
import type { StoreAdapter } from './store-adapter';

/** What is announced when a session goes without a request holding it. */
export interface Destruction {
  id: string;
  app: string;
  subsession?: string;
  reason: DestroyReason;
  attributes: Record<string, unknown>;
  creationTime: number;
  lastAccessedTime: number;
}

/**
 * Fires `sessionDestroyed` and then `attributeRemoved` for each attribute
 * (Servlet 2.4+ order), for a session no request holds (found expired,
 * reaped, killed). Resolves when async listeners have settled.
 */
export function announceDestruction(events: EventSink, d: Destruction): Promise<void> {
  const base = d.subsession === undefined ? { id: d.id, app: d.app } : { id: d.id, app: d.app, subsession: d.subsession };
  const pending: Promise<void>[] = [];
  const destroyed = events.fire('sessionDestroyed', {
    ...base,
    reason: d.reason,
    attributes: d.attributes,
    creationTime: d.creationTime,
    lastAccessedTime: d.lastAccessedTime,
  });
  if (destroyed) pending.push(destroyed);
  for (const [name, value] of Object.entries(d.attributes)) {
    const removed = events.fire('attributeRemoved', { ...base, name, value });
    if (removed) pending.push(removed);
  }
  return Promise.all(pending).then(() => undefined);
}

/** What destroying subsessions needs. */
export interface CascadeDeps {
  store: StoreAdapter;
  coordinator: Coordinator;
  events: EventSink;
  counters: SessionCounters;
}

/**
 * Destroys the subsessions of a parent that is going away with no request
 * holding it (expired, reaped): each is claimed whatever its deadline (so a
 * subsession expiring on its own elsewhere is announced once), deleted, and
 * announced with reason `parent-destroyed` — each before the parent.
 */
export async function destroySubsessions(
  deps: CascadeDeps,
  parentKey: string,
  names: readonly string[],
  counter: keyof SessionCounters,
  now: number,
): Promise<void> {
  const { coordinator, store, events, counters } = deps;
  for (const name of names) {
    const key = subsessionKey(parentKey, name);
    const known = await coordinator.inspect(key);
    const entry = known && (await coordinator.claim(key, Infinity, false));
    if (known && !entry) continue; // claimed elsewhere: announced there
    const record = await store.get(key);
    await store.destroy(key);
    await coordinator.remove(key);
    if (!record && !entry) continue;
    const { id, app } = parseSessionKey(parentKey);
    const data = record && readRecord(record, app, now);
    counters[counter]++;
    await announceDestruction(events, {
      id,
      app,
      subsession: name,
      reason: 'parent-destroyed',
      attributes: data?.attributes ?? {},
      creationTime: data?.meta.created ?? entry!.lastAccessedTime,
      lastAccessedTime: entry?.lastAccessedTime ?? data!.meta.accessed,
    });
  }
}
