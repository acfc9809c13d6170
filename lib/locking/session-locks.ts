import { randomUUID } from 'node:crypto';
import { SessionAccessTimeoutError } from '../errors';

/** Gives back the slot taken by {@link SessionLocks.acquire}; calling it twice is harmless. */
export type Release = () => void;

interface Waiter {
  grant: () => void;
}

/**
 * Serial access within a process (WebSphere's "allow serial access"):
 * requests of one session run one at a time, in arrival order; requests of
 * different sessions never wait for each other. A waiter that waits longer
 * than the bound gets `SessionAccessTimeoutError` and leaves the queue.
 */
export class SessionLocks {
  /** Keys held now, with the requests waiting behind the holder. */
  private readonly queues = new Map<string, Waiter[]>();

  /**
   * Waits for the slot of `key`, at most `maxWaitMs`; resolves with its
   * release. When `gone` aborts (the client left) the waiter leaves the queue
   * at once and the promise rejects with the signal's reason.
   */
  acquire(key: string, maxWaitMs: number, gone?: AbortSignal): Promise<Release> {
    if (gone?.aborted) return Promise.reject(gone.reason);
    const queue = this.queues.get(key);
    if (!queue) {
      const fresh: Waiter[] = [];
      this.queues.set(key, fresh);
      return Promise.resolve(this.releaser(key, fresh));
    }
    return new Promise<Release>((resolve, reject) => {
      const started = Date.now();
      const leave = (error: unknown): void => {
        clearTimeout(timer);
        gone?.removeEventListener('abort', onGone);
        const index = queue.indexOf(waiter);
        if (index >= 0) queue.splice(index, 1);
        reject(error);
      };
      const onGone = (): void => leave(gone!.reason);
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          gone?.removeEventListener('abort', onGone);
          resolve(this.releaser(key, queue));
        },
      };
      const timer = setTimeout(() => leave(new SessionAccessTimeoutError(Date.now() - started)), maxWaitMs);
      timer.unref();
      gone?.addEventListener('abort', onGone, { once: true });
      queue.push(waiter);
    });
  }

  /** Requests holding or waiting for `key`. */
  load(key: string): number {
    const queue = this.queues.get(key);
    return queue ? queue.length + 1 : 0;
  }

  /**
   * Lets every request waiting for `key` go now (its session was killed:
   * they will find it gone and get a new one). The holder's release, and
   * theirs, then change nothing; later requests queue afresh.
   */
  drain(key: string): void {
    const queue = this.queues.get(key);
    if (!queue) return;
    this.queues.delete(key);
    for (const waiter of queue.splice(0)) waiter.grant();
  }

  /** A release that hands the slot to the next waiter of `queue`, once, unless the queue was drained. */
  private releaser(key: string, queue: Waiter[]): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (this.queues.get(key) !== queue) return; // drained
      const next = queue.shift();
      if (next) next.grant();
      else this.queues.delete(key);
    };
  }
}

/** Waits `ms`; rejects at once (with the signal's reason) when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** How long a process's lock on a session lives without renewal (a crashed holder's expires). */
const LOCK_TTL_MS = 10_000;
/** How often a held lock is renewed. */
const RENEW_EVERY_MS = 3_000;
/** Longest pause between two tries for a lock another process holds. */
const MAX_POLL_MS = 50;

/** The part of a coordinator that locks sessions across processes. */
export interface LockingCoordinator {
  acquireLock(key: string, token: string, ttlMs: number): Promise<boolean>;
  renewLock(key: string, token: string, ttlMs: number): Promise<boolean>;
  releaseLock(key: string, token: string): Promise<void>;
}

/**
 * Serial access across processes: first the in-process queue (arrival
 * order here), then the coordinator's lock (an owner token, renewed while
 * held, released by compare-and-delete; a crashed holder's lock expires).
 * Another process's holder is waited for by polling, within the same bound.
 */
export class ClusterLocks {
  constructor(
    private readonly local: SessionLocks,
    private readonly coordinator: LockingCoordinator,
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
        await sleep(Math.min(pause, maxWaitMs - waited), gone);
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
