import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { SessionLocking } from '../coordination/coordinator';
import { SessionAccessTimeoutError } from '../errors';
import type { Release, SessionLocks } from './session-locks';

/** How long a process's lock on a session lives without renewal (a crashed holder's expires). */
const LOCK_TTL_MS = 10_000;
/** How often a held lock is renewed. */
const RENEW_EVERY_MS = 3_000;
/** Longest pause between two tries for a lock another process holds. */
const MAX_POLL_MS = 50;

/**
 * Serial access across processes: first the in-process queue (arrival
 * order here), then the coordinator's lock (an owner token, renewed while
 * held, released by compare-and-delete; a crashed holder's lock expires).
 * Another process's holder is waited for by polling, within the same bound.
 */
export class ClusterLocks {
  constructor(
    private readonly local: SessionLocks,
    private readonly coordinator: SessionLocking,
  ) {}

  /** Lets this process's waiters for `key` go (the coordinator's kill already dropped the shared lock). */
  drain(key: string): void {
    this.local.drain(key);
  }

  /**
   * Each lock call is bounded by `storeTimeout` (the coordinator's bound), so
   * a Redis outage is a `StoreUnavailableError` at once; `gone` (the client
   * left) stops the wait.
   */
  async acquire(key: string, maxWaitMs: number, gone?: AbortSignal): Promise<Release> {
    const started = Date.now();
    const releaseLocal = await this.local.acquire(key, maxWaitMs, gone);
    const token = randomUUID();
    try {
      for (let pause = 2; !(await this.coordinator.acquireLock(key, token, LOCK_TTL_MS)); pause = Math.min(pause * 2, MAX_POLL_MS)) {
        const waited = Date.now() - started;
        if (waited >= maxWaitMs) throw new SessionAccessTimeoutError(waited);
        await delay(Math.min(pause, maxWaitMs - waited), undefined, { signal: gone });
      }
      gone?.throwIfAborted();
    } catch (error) {
      releaseLocal();
      // It may have been granted as the client left, or a late answer may have granted it: let go.
      this.coordinator.releaseLock(key, token).catch(() => undefined);
      throw error;
    }
    const renewal = setInterval(() => {
      this.coordinator.renewLock(key, token, LOCK_TTL_MS).catch(() => undefined);
    }, RENEW_EVERY_MS);
    renewal.unref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      clearInterval(renewal);
      // The next request here may start at once: its lock command follows the delete on the same
      // connection (should it overtake it, it just polls once more).
      this.coordinator.releaseLock(key, token).catch(() => undefined);
      releaseLocal();
    };
  }
}
