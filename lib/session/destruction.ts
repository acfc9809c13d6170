import { randomBytes } from 'node:crypto';
import createDebug from 'debug';
import type { AccessEntry, ColocatedRecords, Coordinator, SessionCaps } from '../coordination/coordinator';
import type { DestroyReason, EventSink } from '../manager/events';
import type { SessionCounters } from '../manager/runtime';
import { isSubsessionKey, parseSessionKey, subsessionKey } from '../storage/session-key';
import { readRecord, type LoadedRecord } from '../storage/session-record';
import type { StoreAdapter } from '../storage/store-adapter';

const debug = createDebug('express-session-management');

/** How many claims of unknown outcome a destroyer keeps to retry. */
const MAX_UNSURE = 10_000;

/** What destroying sessions needs. */
export interface DestructionDeps {
  store: StoreAdapter;
  coordinator: Coordinator;
  /** The store's records as the coordinator reaches them, if it does: deleted with the entry in one step. */
  records: ColocatedRecords | undefined;
  events: EventSink;
  counters: SessionCounters;
  /** Whether sessions are counted per app (their place is released when they go). */
  caps?: { readonly countApps: boolean };
}

/** How a destruction is to be claimed (step 1 of {@link SessionDestroyer.destroy}). */
export type ClaimBy =
  /**
   * Claim it now if due at `at` (`Infinity`: whatever its deadline) and
   * nobody uses it; with `orphan`, a record whose entry is gone goes too.
   */
  | { at: number; orphan?: boolean }
  /**
   * The caller holds the claim already (a kill's mark: the admin that killed
   * an idle session, the last request of a killed one), with the entry as it
   * was if known; it goes whatever is left of it.
   */
  | { held: AccessEntry | undefined };

/** What the caller knows already, so as not to read it again. */
export interface Known {
  /** The record as the caller loaded it. */
  record?: LoadedRecord;
  /** The previous request's start (the entry's, as it was before the caller entered). */
  lastAccessedTime?: number;
  /** The request (or sweep) time: a fallback for times the record does not have. */
  now: number;
  /** Who killed it (an administrator's principal), for the event. */
  by?: string;
}

/** The outcome of a destruction. */
export interface Destroyed {
  /** This call destroyed it (and announced it); `false` when it was claimed elsewhere. */
  destroyed: boolean;
  /** Async listeners of its events still settling, if any, for the caller to await or track. */
  announced?: Promise<void>;
}

/** What is announced of a session that goes while no request holds it. */
export interface Destruction {
  id: string;
  app: string;
  subsession?: string;
  reason: DestroyReason;
  attributes: Record<string, unknown>;
  creationTime: number;
  lastAccessedTime: number;
  by?: string;
}

/**
 * The one path by which a session goes when no request holds it — found
 * expired by a request, swept by the reaper, killed, or taken along by its
 * parent — so that every destruction happens exactly once across processes,
 * in the same order (docs/architecture.md, "Destruction"). A session
 * invalidated by its own request goes the request's way instead: its events
 * fire inside `invalidate()` and its commit calls {@link deleteSession}.
 */
export class SessionDestroyer {
  /**
   * Claims whose answer never came (the call failed: it may have run), by
   * key, with the token they were made under; the reaper retries them
   * (docs/architecture.md, "Lost answers").
   */
  private readonly unsure = new Map<string, string>();
  /** This destroyer's claim tokens: a random prefix of its own and a count. */
  private readonly tokenPrefix = randomBytes(9).toString('base64url');
  private claims = 0;

  constructor(private readonly deps: DestructionDeps) {}

  /** The keys whose claim's outcome is unknown, for the reaper to try again. */
  unsureKeys(): string[] {
    return [...this.unsure.keys()];
  }

  /**
   * 1. claim it (one caller across every process wins; the others stop);
   * 2. destroy its subsessions, each announced `parent-destroyed` before it;
   * 3. delete its record, then its entry (the claim's tombstone keeps
   *    requests off it meanwhile; should a delete fail, the store's TTL
   *    removes the record);
   * 4. count it; 5. announce it: `sessionDestroyed`, then `attributeRemoved`
   *    for each attribute.
   */
  destroy(key: string, reason: DestroyReason, claimBy: ClaimBy, known: Known): Promise<Destroyed> {
    return this.run(key, reason, counterOf(reason), claimBy, known);
  }

  private async run(key: string, reason: DestroyReason, counter: keyof SessionCounters, claimBy: ClaimBy, known: Known): Promise<Destroyed> {
    // 1.
    const held = 'held' in claimBy;
    const entry = held ? claimBy.held : await this.claim(key, claimBy.at);
    if (!held && !entry && !(claimBy.orphan && (await this.deps.coordinator.inspect(key)) === undefined)) {
      return { destroyed: false }; // claimed elsewhere, in use, or not due
    }
    const record = known.record ?? (await this.read(key, known.now));
    if (!held && !entry && !record) return { destroyed: false }; // an orphan that is not there either
    // 2.
    const names = record?.meta.subsessions ?? [];
    if (names.length > 0) await this.destroySubsessions(key, names, counter, known.now);
    // 3.
    await deleteSession(this.deps, key).catch((error: unknown) => debug('could not delete %s: %O', key, error));
    // 4.
    this.deps.counters[counter]++;
    // 5.
    const { id, app, subsession } = parseSessionKey(key);
    const announced = announceDestruction(this.deps.events, {
      id,
      app,
      subsession,
      reason,
      attributes: record?.attributes ?? {},
      creationTime: record?.meta.created ?? known.lastAccessedTime ?? entry?.lastAccessedTime ?? known.now,
      lastAccessedTime: known.lastAccessedTime ?? entry?.lastAccessedTime ?? record?.meta.accessed ?? known.now,
      by: known.by,
    });
    return { destroyed: true, announced };
  }

  /**
   * Step 1: the claim, under a token of its own; when its answer is lost the
   * key is kept with that token, and the next attempt at it (the reaper
   * retries such keys first) claims under the same token, so a claim that
   * did run is found to be this process's own and the session is destroyed
   * and announced after all. The kept keys are bounded: past
   * {@link MAX_UNSURE} the oldest are forgotten (a longer outage than that
   * many sessions falling due only loses their events, as before).
   */
  private async claim(key: string, at: number): Promise<AccessEntry | undefined> {
    const claimer = this.unsure.get(key) ?? `${this.tokenPrefix}.${(this.claims++).toString(36)}`;
    let entry: AccessEntry | undefined;
    try {
      entry = await this.deps.coordinator.claim(key, at, false, claimer);
    } catch (error) {
      if (!this.unsure.has(key)) {
        if (this.unsure.size >= MAX_UNSURE) this.unsure.delete(this.unsure.keys().next().value as string);
        this.unsure.set(key, claimer);
      }
      throw error;
    }
    this.unsure.delete(key);
    return entry;
  }

  /**
   * Step 2: the subsessions of a parent that goes, whatever their deadlines,
   * each announced (and its async listeners awaited) before the parent; they
   * count under the parent's counter.
   */
  private async destroySubsessions(parentKey: string, names: readonly string[], counter: keyof SessionCounters, now: number): Promise<void> {
    for (const name of names) {
      const key = subsessionKey(parentKey, name);
      try {
        const { announced } = await this.run(key, 'parent-destroyed', counter, { at: Infinity, orphan: true }, { now });
        await announced;
      } catch (error) {
        debug('could not destroy the subsession %s: %O', key, error);
      }
    }
  }

  private async read(key: string, now: number): Promise<LoadedRecord | undefined> {
    const record = await this.deps.store.get(key).catch(() => undefined);
    return record && readRecord(record, parseSessionKey(key).app, now);
  }
}

/** Which of `stats().sessions` counts a destruction for `reason`. */
function counterOf(reason: DestroyReason): keyof SessionCounters {
  return reason === 'parent-destroyed' ? 'expired' : reason;
}

/**
 * Deletes a session's record, then its coordinator entry: in that order, so
 * a request that still finds the record also finds the entry (the loader
 * tells a destroyed session from a migrated one that way).
 */
export async function deleteSession(deps: Pick<DestructionDeps, 'store' | 'coordinator' | 'records' | 'caps'>, key: string): Promise<void> {
  if (deps.records) await deps.records.remove(key);
  else {
    await deps.store.destroy(key);
    await deps.coordinator.remove(key);
  }
  // Counted among its app's sessions (docs/architecture.md, "Caps"): its place is free again.
  if (deps.caps?.countApps && !isSubsessionKey(key)) {
    await (deps.coordinator as SessionCaps).releaseSession(parseSessionKey(key).app, key).catch((error: unknown) => debug('could not release %s: %O', key, error));
  }
}

/**
 * Fires `sessionDestroyed` and then `attributeRemoved` for each attribute
 * (Servlet 2.4+ order) for a session no request holds. Returns a promise of
 * async listeners having settled, or `undefined` when none was async.
 */
export function announceDestruction(events: EventSink, d: Destruction): Promise<void> | undefined {
  const pending: Promise<void>[] = [];
  const destroyed = events.fire(
    'sessionDestroyed',
    d.by === undefined
      ? payload(d, { reason: d.reason, attributes: d.attributes, creationTime: d.creationTime, lastAccessedTime: d.lastAccessedTime })
      : payload(d, { reason: d.reason, attributes: d.attributes, creationTime: d.creationTime, lastAccessedTime: d.lastAccessedTime, by: d.by }),
  );
  if (destroyed) pending.push(destroyed);
  for (const [name, value] of Object.entries(d.attributes)) {
    const removed = events.fire('attributeRemoved', payload(d, { name, value }));
    if (removed) pending.push(removed);
  }
  return pending.length === 0 ? undefined : Promise.all(pending).then(() => undefined);
}

/**
 * `{ id, app, subsession?, ...fields }` without object spread: V8 (Node 20)
 * builds a spread followed by more properties on a slow runtime path (1–3 µs
 * per object against 0.03–0.07 µs here), and a sweep builds 1 + attributes
 * payloads per expired session even when nobody listens.
 */
function payload<T extends object>(d: Destruction, fields: T): { id: string; app: string; subsession?: string } & T {
  const base: { id: string; app: string; subsession?: string } = { id: d.id, app: d.app };
  if (d.subsession !== undefined) base.subsession = d.subsession;
  return Object.assign(base, fields);
}
