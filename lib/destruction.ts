import type { DestroyReason, EventSink } from './events';

/** What is announced when a session goes without a request holding it. */
export interface Destruction {
  id: string;
  app: string;
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
  const base = { id: d.id, app: d.app };
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
