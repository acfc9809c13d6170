import createDebug from 'debug';
import type { Clock } from '../clock';
import type { Instruments } from '../instruments';
import type { AccessTracking, ExpiryIndex } from '../coordination/coordinator';
import type { SessionDestroyer } from '../session/destruction';
import { isSubsessionKey, parentKeyOf, parseSessionKey } from '../storage/session-key';
import { readRecord } from '../storage/session-record';
import type { StoreAdapter } from '../storage/store-adapter';
import { StoreUnavailableError } from '../errors';
import { TimeSlices } from './time-slices';

const debug = createDebug('express-session-management:reaper');

/** Keys asked of the index at a time. */
const BATCH = 1000;
/** Sessions destroyed side by side (store and coordinator round trips overlap). */
const CONCURRENCY = 16;
/** How long a sweep waits for the async listeners of one session. */
const LISTENER_BOUND_MS = 10_000;
/**
 * How soon the next sweep comes after one cut short by an outage, ms (at
 * most `interval`): the sessions that fell due meanwhile must go before their
 * store's copy does, at least two intervals after their deadline.
 */
const AFTER_OUTAGE_MS = 1000;

/** What the reaper needs from the manager. */
export interface ReaperDeps {
  store: StoreAdapter;
  coordinator: AccessTracking;
  /** The coordinator's expiry index; without one the reaper scans the store. */
  index: ExpiryIndex | undefined;
  destroyer: SessionDestroyer;
  clock: Clock;
  /** The idle timeout in seconds (`-1` never) of an app's sessions, for a store scan. */
  appTimeout(app: string): number;
  /** Told how long each sweep took (metrics). */
  instruments?: Instruments;
}

/** The result of one sweep. */
export interface SweepResult {
  /** Sessions this sweep destroyed. */
  expired: number;
  durationMs: number;
}

/**
 * The invalidation thread (Jetty's HouseKeeper, WebSphere's reaper): every
 * `interval` seconds it finds the sessions that are due, claims each (one
 * process wins), deletes it and fires `sessionDestroyed` with reason
 * `expired`. The timer is `unref()`ed and rescheduled after each sweep ends,
 * so sweeps never overlap.
 *
 * Finding what is due: through the coordinator's expiry index (`due()`,
 * O(due)); a coordinator without one falls back to scanning the store's
 * `all()` (O(sessions)); with neither, the reaper is inactive. Each sweep
 * first retries the claims whose answer was lost (the destroyer keeps them).
 */
export class Reaper {
  /** How the reaper finds due sessions; `inactive` when it cannot, or once stopped. */
  mode: 'index' | 'scan' | 'inactive';
  /** Why the reaper is inactive. */
  reason: string | undefined;
  runs = 0;
  lastRunAt: number | null = null;
  lastDurationMs: number | null = null;
  expired = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepResult> | undefined;
  private stopped = false;
  /** The sweep running (or the last one) met an outage: it stops, and the next comes soon. */
  private outage = false;

  constructor(private readonly deps: ReaperDeps, readonly interval: number) {
    if (deps.index) this.mode = 'index';
    else if (deps.store.canList) this.mode = 'scan';
    else {
      this.mode = 'inactive';
      this.reason = 'the coordinator has no expiry index (due) and the store cannot list its sessions (all)';
    }
  }

  /** Starts the background timer. */
  start(): void {
    if (this.mode !== 'inactive') this.schedule();
  }

  /** Stops the timer for good and waits for a sweep in progress; the reaper is inactive from then on. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.mode !== 'inactive') {
      this.mode = 'inactive';
      this.reason = 'stopped: the manager was closed';
    }
    await this.running?.catch(() => undefined);
  }

  /** Runs one sweep now (joins the one in progress, if any). */
  sweep(): Promise<SweepResult> {
    if (this.mode === 'inactive') return Promise.reject(new Error(`the reaper is inactive: ${this.reason}`));
    this.running ??= this.runSweep().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    const wait = this.outage ? Math.min(AFTER_OUTAGE_MS, this.interval * 1000) : this.interval * 1000;
    this.timer = setTimeout(() => {
      this.sweep()
        .catch((error: unknown) => {
          this.noteFailure(error);
          debug('sweep failed: %O', error);
        })
        .finally(() => this.schedule());
    }, wait);
    this.timer.unref();
  }

  /** A store or coordinator that is unavailable ends the sweep: each further call would only wait `storeTimeout` too. */
  private noteFailure(error: unknown): void {
    if (error instanceof StoreUnavailableError) this.outage = true;
  }

  private async runSweep(): Promise<SweepResult> {
    const { clock } = this.deps;
    const startedAt = clock.now();
    const started = performance.now();
    let expired = 0;
    this.outage = false;
    try {
      // First the claims whose answer was lost in an earlier attempt: once claimed, they are in no index.
      const unsure = this.deps.destroyer.unsureKeys();
      if (unsure.length > 0) expired += await this.destroyAll(unsure, startedAt);
      if (!this.outage) expired += this.mode === 'index' ? await this.sweepIndex(startedAt) : await this.sweepStore(startedAt);
    } finally {
      this.runs++;
      this.lastRunAt = startedAt;
      this.lastDurationMs = performance.now() - started;
      this.expired += expired;
      if (this.deps.instruments?.active) this.deps.instruments.sweep(this.lastDurationMs / 1000);
    }
    debug('swept: %d expired in %d ms', expired, this.lastDurationMs);
    return { expired, durationMs: this.lastDurationMs };
  }

  /** Batches of due keys from the index until a batch is short or nothing in it could be claimed. */
  private async sweepIndex(now: number): Promise<number> {
    // One clock of slices for the whole sweep: a batch's last group and the next `due()` share a slice.
    const slices = new TimeSlices();
    let expired = 0;
    for (;;) {
      const keys = await this.deps.index!.due(now, BATCH);
      await slices.yieldIfDue();
      const destroyed = await this.destroyAll(keys, now, slices);
      expired += destroyed;
      if (keys.length < BATCH || destroyed === 0 || this.outage) return expired;
    }
  }

  /** O(n) fallback: every record whose last write is older than its timeout is a candidate; the claim decides. */
  private async sweepStore(now: number): Promise<number> {
    const records = await this.deps.store.all();
    const candidates: string[] = [];
    for (const [key, record] of Object.entries(records)) {
      const { app } = parseSessionKey(key);
      const { meta } = readRecord(record, app, now);
      const seconds = meta.timeout ?? this.deps.appTimeout(app);
      if (seconds > 0 && meta.accessed + seconds * 1000 <= now) candidates.push(key);
    }
    return this.destroyAll(candidates, now);
  }

  /**
   * Destroys the keys it can claim, `CONCURRENCY` at a time, parents before
   * subsessions; returns how many. Gives the event loop back between groups
   * once a slice of work has run, so requests are answered during a sweep of
   * any size (an in-process store answers in microtasks, which alone would
   * never let I/O in).
   */
  private async destroyAll(due: string[], now: number, slices = new TimeSlices()): Promise<number> {
    const keys = [...due.filter((key) => !isSubsessionKey(key)), ...due.filter(isSubsessionKey)];
    let destroyed = 0;
    for (let i = 0; i < keys.length; i += CONCURRENCY) {
      const results = await Promise.all(keys.slice(i, i + CONCURRENCY).map((key) => this.destroy(key, now)));
      destroyed += results.filter(Boolean).length;
      if (this.outage) break;
      await slices.yieldIfDue();
    }
    return destroyed;
  }

  /**
   * One session: 1. leave a subsession of a due parent to the parent; 2.
   * destroy it, if this process wins its claim (not when in use, touched
   * since, or claimed elsewhere); 3. wait a bounded time for async listeners.
   * A failure is logged and counts as not destroyed (the next sweep retries).
   */
  private async destroy(key: string, now: number): Promise<boolean> {
    try {
      // 1. A subsession whose parent is due goes with the parent (parent-destroyed), not alone.
      const parentKey = parentKeyOf(key);
      if (parentKey !== undefined) {
        const parent = await this.deps.coordinator.inspect(parentKey);
        if (parent && (parent.claimed || (parent.deadline !== null && parent.deadline <= now))) return false;
      }
      // 2.
      const { destroyed, announced } = await this.deps.destroyer.destroy(key, 'expired', { at: now }, { now });
      // 3.
      if (announced) await bounded(announced, LISTENER_BOUND_MS);
      return destroyed;
    } catch (error) {
      this.noteFailure(error);
      debug('could not destroy %s: %O', key, error);
      return false;
    }
  }
}

/** Waits for `work`, but no longer than `ms`. */
function bounded(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
