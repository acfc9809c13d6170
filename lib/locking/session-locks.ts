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

