import { SessionAccessTimeoutError } from './errors';

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

  /** Waits for the slot of `key`, at most `maxWaitMs`; resolves with its release. */
  acquire(key: string, maxWaitMs: number): Promise<Release> {
    const queue = this.queues.get(key);
    if (!queue) {
      this.queues.set(key, []);
      return Promise.resolve(this.releaser(key));
    }
    return new Promise<Release>((resolve, reject) => {
      const started = Date.now();
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve(this.releaser(key));
        },
      };
      const timer = setTimeout(() => {
        const index = queue.indexOf(waiter);
        if (index >= 0) queue.splice(index, 1);
        reject(new SessionAccessTimeoutError(Date.now() - started));
      }, maxWaitMs);
      timer.unref();
      queue.push(waiter);
    });
  }

  /** Requests holding or waiting for `key`. */
  load(key: string): number {
    const queue = this.queues.get(key);
    return queue ? queue.length + 1 : 0;
  }

  /** A release that hands the slot to the next waiter, once. */
  private releaser(key: string): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const queue = this.queues.get(key);
      const next = queue?.shift();
      if (next) next.grant();
      else this.queues.delete(key);
    };
  }
}
