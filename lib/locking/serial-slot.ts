import createDebug from 'debug';
import { SessionAccessTimeoutError } from '../errors';
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
  ) {}

  /**
   * Waits for the turn of `key`; on timeout a 503, or (`accessOnTimeout`)
   * runs without it. Any other failure (the coordinator, the client gone)
   * ends the request. A turn granted just as the client left is given back.
   */
  async take(key: string, gone: AbortSignal): Promise<void> {
    const { locks, setting } = this;
    if (!setting) return;
    try {
      this.release = await locks.acquire(key, setting.maxWaitMs, gone);
    } catch (error) {
      if (!(error instanceof SessionAccessTimeoutError) || !setting.accessOnTimeout) throw error;
      debug('serial access: %s waited too long, running anyway (accessOnTimeout)', key);
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
