import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import createDebug from 'debug';
import type { LeaveUpdate } from '../coordination/coordinator';
import { StoreUnavailableError } from '../errors';
import type { SessionRuntime } from '../manager/runtime';
import type { ServletSession } from '../session/http-session';
import { buildRecord, type LoadedRecord, readRecord } from '../storage/session-record';
import type { StoredRecord } from '../storage/store-adapter';
import { applyChanges, ttlSeconds, wholeRecord, type WriteTimes } from './record-writing';
import { nextToken } from './coordinator-standing';
import type { RequestContext } from './request-context';

/** Longest pause before merging again onto a record another process just wrote, ms (the pause is drawn up to it). */
const MAX_MERGE_PAUSE_MS = 16;

const debug = createDebug('express-session-management');

/** A record as this process wrote it (colocated records: with its version and the id of the write), to merge the next group onto. */
export interface Written {
  record: StoredRecord;
  version: number;
  /** The id of the write (colocated records), when known. */
  writer?: string;
}

/** What a merge wrote: when the store's copy expires, whether it left, and (colocated) the record and its version. */
export interface Merged {
  storeExpires: number | null;
  left: boolean;
  written?: Written;
  /** The request was the last of a session killed meanwhile (its leave said so): it destroys it. */
  lastOfKilled?: boolean;
}

/** One request's merge in a group of commits of one session. */
interface Member {
  session: ServletSession;
  times: WriteTimes;
  /** The request's leave, given when the record written expires (colocated records leave with the write). */
  leave: (storeExpires: number | null) => LeaveUpdate;
}

type GroupResult = { results: Merged[]; carry?: Written };

/**
 * Merges what the request changed in `session` onto its record, in the
 * session's commit turn, grouped with the merges of the same session that
 * wait for that turn with it (docs/architecture.md, "Commit"):
 * 1. the record is read as it is in the store now (colocated records: the
 *    one this process wrote last, guarded by its version);
 * 2. each request's changes are applied onto it in the order they came, as
 *    one request's merge would apply them;
 * 3. it is written once; every request of the group gets that write's
 *    outcome: all kept, all dropped (the session is gone), or all failed.
 * A session that is gone meanwhile (invalidated, expired or killed by
 * another request) stays gone. One whose record the store dropped while it
 * was used (its entry still there, unclaimed) is written whole.
 */
export function mergeInTurn(
  context: RequestContext,
  session: ServletSession,
  key: string,
  times: WriteTimes,
  leave: (storeExpires: number | null) => LeaveUpdate,
): Promise<Merged> {
  const { runtime } = context;
  const member: Member = { session, times, leave };
  return runtime.commits.group<Member, Merged, Written>(key, member, (members, carried, handOn) =>
    runtime.records ? mergeColocated(runtime, key, members, carried, handOn) : merge(runtime, key, members),
  );
}

/** The store's way: read, merge every member's changes, write. */
async function merge(runtime: SessionRuntime, key: string, members: Member[]): Promise<GroupResult> {
  const times = groupTimes(members);
  const record = await runtime.store.get(key);
  if (!record) {
    const entry = await runtime.coordinator.inspect(key);
    if (!entry || entry.claimed) return allGone(key, members);
  }
  const app = members[0].session.app;
  await runtime.store.set(key, applied(record && readRecord(record, app, times.now), members, times));
  return { results: members.map(() => ({ storeExpires: times.storeExpires, left: false })) };
}

/**
 * Colocated records, optimistically: merged onto the record this process
 * wrote last (or the newest any member loaded) and written only if nobody
 * wrote it since (its version), with every member's leave in the same step
 * — one round trip for the group. Should another process have written it,
 * it is read again and merged again after a short random pause (so two
 * processes that keep colliding fall out of step), for as long as
 * `storeTimeout` allows (docs/architecture.md, "Colocated records").
 */
async function mergeColocated(
  runtime: SessionRuntime,
  key: string,
  members: Member[],
  carried: Written | undefined,
  handOn: (next: Written) => void,
): Promise<GroupResult> {
  const records = runtime.records!;
  const times = groupTimes(members);
  const app = members[0].session.app;
  const giveUpAt = performance.now() + runtime.storeTimeoutMs;
  let { base, version, after } = startingPoint(members, carried, times.now);
  for (let tries = 0; ; tries++) {
    const record = applied(base, members, times);
    const updates = members.map((member) => member.leave(times.storeExpires));
    const writer = nextToken();
    const writing = records.write(key, record, ttlSeconds(times), version, updates, writer, after);
    // Sent: the next group may merge onto it and write behind it, written only after this very write.
    if (tries === 0 && version !== undefined) handOn({ record, version: version + 1, writer });
    const result = await writing;
    if (result.written) {
      const written: Written = { record, version: result.version, writer };
      const results = members.map((_, i) => ({ storeExpires: times.storeExpires, left: true, written, lastOfKilled: result.lastOfKilled[i] }));
      return { results, carry: written };
    }
    if (performance.now() >= giveUpAt) {
      throw new StoreUnavailableError('commit', new Error(`the session was written by others ${tries + 1} times while this request merged`));
    }
    if (tries > 0) await delay(Math.random() * Math.min(MAX_MERGE_PAUSE_MS, 2 ** tries));
    const now = await records.read(key);
    if (now.claimed || (!now.record && !now.known)) return allGone(key, members);
    // Another version, or (no record, the entry still there) one the store dropped: merge again, or write whole.
    base = now.record && readRecord(now.record, app, times.now);
    version = now.record ? now.version : undefined;
    after = undefined; // read with the record: the version alone says it is this one
  }
}

/**
 * The newest record known without a read: what this process wrote last (or
 * is writing: `after` names that write), or what a member loaded.
 */
function startingPoint(
  members: Member[],
  carried: Written | undefined,
  now: number,
): { base: LoadedRecord | undefined; version: number | undefined; after: string | undefined } {
  let newest = members[0].session.state;
  for (const { session } of members) if (session.state.version > newest.version) newest = session.state;
  if (carried && carried.version >= newest.version) return { base: readRecord(carried.record, newest.app, now), version: carried.version, after: carried.writer };
  return { base: newest.base, version: newest.version, after: undefined };
}

/**
 * The record with every member's changes applied in order, onto `base`
 * (none: the first member's whole session), written now until the latest
 * expiry any member asks.
 */
export function applied(base: LoadedRecord | undefined, members: Pick<Member, 'session' | 'times'>[], times: WriteTimes): StoredRecord {
  const at = (own: WriteTimes): WriteTimes => ({ start: own.start, now: times.now, storeExpires: times.storeExpires });
  const [first] = members;
  const from = base ?? readRecord(wholeRecord(first.session, at(first.times)), first.session.app, times.now);
  const target: LoadedRecord = { meta: { ...from.meta }, attributes: { ...from.attributes } };
  for (const { session, times: own } of base ? members : members.slice(1)) applyChanges(target, session, at(own));
  return buildRecord(target.meta, target.attributes, times.storeExpires, times.now);
}

/** The group's write times: the latest of its members'. */
function groupTimes(members: Member[]): WriteTimes {
  const times = { ...members[0].times };
  for (const { times: own } of members) {
    times.start = Math.max(times.start, own.start);
    times.now = Math.max(times.now, own.now);
    times.storeExpires = Math.max(times.storeExpires, own.storeExpires);
  }
  return times;
}

/** A group that found its session gone: every member's changes are dropped, and each leaves as usual. */
function allGone(key: string, members: Member[]): GroupResult {
  const dropped = gone(key);
  return { results: members.map(() => dropped) };
}

/** A commit that found its session gone: its changes are dropped, and it leaves as usual. */
export function gone(key: string): { storeExpires: null; left: false } {
  debug('commit of %s dropped: the session is gone', key);
  return { storeExpires: null, left: false };
}
