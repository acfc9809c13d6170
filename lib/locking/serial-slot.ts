import createDebug from 'debug';
import { SessionAccessTimeoutError } from '../errors';
import type { Instruments } from '../instruments';
import type { Release } from './session-locks';

const debug = createDebug('express-session-management');

/** The locks a request takes its turn from (`SessionLocks`, or `ClusterLocks` across processes). */
export interface SerialLocks {
  acquire(key: string, maxWaitMs: number, gone?: AbortSignal): Promise<Release>;
  drain(key: string): void;
}

/** The `serialAccess` setting as the request path uses it. */
export interface SerialAccessSetting {
  maxWaitMs: number;
  accessOnTimeout: boolean;
}

/**
 * One request's turn on its session under serial access: taken before the
 * session is loaded, given back once, however the request ends.
 */
export class SerialSlot {
  private release: Release | undefined;

  constructor(
    private readonly locks: SerialLocks,
    private readonly setting: SerialAccessSetting | false,
    /** Told how long each turn was waited for (metrics). */
    private readonly instruments?: Instruments,
  ) {}

  /**
   * Waits for the turn of `key`; on timeout a 503, or (`accessOnTimeout`)
   * runs without it. Any other failure (the coordinator, the client gone)
   * ends the request. A turn granted just as the client left is given back.
   */
  async take(key: string, gone: AbortSignal): Promise<void> {
    const { locks, setting } = this;
    if (!setting) return;
    const started = this.instruments?.active ? performance.now() : undefined;
    try {
      this.release = await locks.acquire(key, setting.maxWaitMs, gone);
    } catch (error) {
      if (!(error instanceof SessionAccessTimeoutError) || !setting.accessOnTimeout) throw error;
      debug('serial access: %s waited too long, running anyway (accessOnTimeout)', key);
    } finally {
      if (started !== undefined) this.instruments!.serialWait((performance.now() - started) / 1000);
    }
    if (gone.aborted) this.give();
  }

  /** Gives the turn to the next request, once. */
  give(): void {
    const release = this.release;
    this.release = undefined;
    release?.();
  }
}
