import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { CommitLocks } from '../coordination/coordinator';
import { StoreUnavailableError } from '../errors';

/** Longest pause between two tries for a commit lock another process holds. */
const MAX_POLL_MS = 20;

/**
 * Commits of one session, one at a time (docs/architecture.md, "Commit"):
 * the read-merge-write of a session never interleaves with another commit
 * (or a delete) of it. Within a process the commits of a key run in arrival
 * order; across processes each also holds the coordinator's commit lock
 * while it runs — held only while committing, never while a handler runs.
 * Commits of different sessions never wait for each other.
 */
export class CommitOrder {
  /** The last commit queued for each key, while any is. */
  private readonly tails = new Map<string, Promise<unknown>>();

  /**
   * `locks`: the coordinator's commit locks, when processes share it.
   * `timeoutMs`: how long a commit may wait for another process's lock
   * (`storeTimeout`); its lock lives twice that, so a crashed holder's goes.
   */
  constructor(
    private readonly locks: CommitLocks | undefined,
    private readonly timeoutMs: number,
  ) {}

  /** Runs `work` when no other commit of `key` runs, here or (with locks) anywhere. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    const turn = previous ? previous.then(noop, noop).then(() => this.exclusive(key, work)) : this.exclusive(key, work);
    this.tails.set(key, turn);
    void turn.then(noop, noop).then(() => {
      if (this.tails.get(key) === turn) this.tails.delete(key);
    });
    return turn;
  }

  private async exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    if (!this.locks) return work();
    const token = randomUUID();
    await this.lock(key, token);
    try {
      return await work();
    } finally {
      this.locks.unlockAfterCommit(key, token).catch(noop);
    }
  }

  /** Takes the commit lock of `key`, polling while another process holds it, within `timeoutMs`. */
  private async lock(key: string, token: string): Promise<void> {
    const started = Date.now();
    for (let pause = 1; ; pause = Math.min(pause * 2, MAX_POLL_MS)) {
      if (await this.locks!.lockForCommit(key, token, 2 * this.timeoutMs)) return;
      const waited = Date.now() - started;
      if (waited >= this.timeoutMs) {
        throw new StoreUnavailableError('commit lock', new Error(`another process held the commit of the session for ${waited} ms`));
      }
      await delay(Math.min(pause, this.timeoutMs - waited));
    }
  }
}

function noop(): void {}
