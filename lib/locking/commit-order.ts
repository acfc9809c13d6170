import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { CommitLocks } from '../coordination/coordinator';
import { StoreUnavailableError } from '../errors';

/** Longest pause between two tries for a commit lock another process holds. */
const MAX_POLL_MS = 20;

/**
 * Writes a group of commits of one key at once: resolves one result per
 * member, in their order, and what the next group of the key may start from
 * (`carry`).
 */
export type GroupWrite<M, R, C> = (members: M[], carried: C | undefined, handOn: (carry: C) => void) => Promise<{ results: R[]; carry?: C }>;

/**
 * A turn in a key's queue: `released` once the next turn may start (its
 * work handed on, or done), `done` once it is over, `before` once the turn
 * before it is over.
 */
interface Turn {
  released: Promise<void>;
  done: Promise<void>;
  before: Promise<void>;
}

const SETTLED = Promise.resolve();

/** A group of commits of one key waiting for its turn: members may still join it. */
interface OpenGroup {
  members: unknown[];
  /** Every member's result, in order, once the group is written. */
  outcome?: Promise<unknown[]>;
}

/**
 * Commits of one session, one at a time (docs/architecture.md, "Commit"):
 * the read-merge-write of a session never interleaves with another commit
 * (or a delete) of it. Within a process the commits of a key run in arrival
 * order; across processes each also holds the coordinator's commit lock
 * while it runs — held only while committing, never while a handler runs.
 * Commits of different sessions never wait for each other.
 *
 * Merges are committed in groups (`group()`): while one commit of a key is
 * in flight, the merges that arrive queue together and are then written
 * with one write, each released with that write's outcome. A group
 * whose write guards itself (colocated records: a versioned write) may hand
 * on once its write is sent: the next group then merges onto what it wrote
 * and sends its own write behind it, two writes of a key in flight at most.
 */
export class CommitOrder {
  /** The last commit queued for each key, while any is. */
  private readonly tails = new Map<string, Turn>();
  /** The group of each key that is last in its queue and not started yet, while there is one. */
  private readonly open = new Map<string, OpenGroup>();
  /** What the last group of each key handed on, while its queue lasts. */
  private readonly carried = new Map<string, unknown>();

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
    // Whatever comes after this turn (a delete, say) must see it done: no merge joins a group before it.
    this.open.delete(key);
    this.carried.delete(key);
    return this.enqueue(key, work);
  }

  /**
   * Commits `member` with the group of `key` that waits for its turn, or
   * opens one. When the group's turn comes, `write` (the opener's) writes all
   * its members at once; each member resolves its own result, or rejects
   * with the group's error. `write` gets what the key's previous group
   * carried on, if it is the previous turn.
   */
  group<M, R, C>(key: string, member: M, write: GroupWrite<M, R, C>): Promise<R> {
    const waiting = this.open.get(key);
    if (waiting) {
      const index = waiting.members.push(member) - 1;
      return waiting.outcome!.then((results) => results[index] as R);
    }
    const group: OpenGroup = { members: [member] };
    this.open.set(key, group);
    const outcome = this.enqueue(key, async (release) => {
      if (this.open.get(key) === group) this.open.delete(key); // started: nobody joins any more
      const carried = this.carried.get(key) as C | undefined;
      this.carried.delete(key);
      let handed: C | undefined;
      const handOn = (next: C): void => {
        handed = next;
        this.carried.set(key, next);
        release();
      };
      const { results, carry } = await write(group.members as M[], carried, handOn);
      // What it handed on may differ from what it wrote (it merged again): a next group not started yet gets the latter.
      if (carry !== undefined && (handed === undefined || this.carried.get(key) === handed)) this.carried.set(key, carry);
      return results;
    });
    group.outcome = outcome;
    return outcome.then((results) => results[0] as R);
  }

  /** No commit of `key` is queued or running in this process. */
  idle(key: string): boolean {
    return !this.tails.has(key);
  }

  /**
   * Queues `work` for `key`: it starts once the turn before it has released
   * its place and the one before that is over. Work that never calls
   * `release` releases it when it is over: one at a time.
   */
  private enqueue<T>(key: string, work: (release: () => void) => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const start = (): Promise<T> => this.exclusive(key, () => work(release));
    const running = previous ? Promise.all([previous.released, previous.before]).then(start) : start();
    const done = running.then(noop, noop);
    const turn: Turn = { released: Promise.race([released, done]), done, before: previous?.done ?? SETTLED };
    this.tails.set(key, turn);
    void done.then(() => {
      if (this.tails.get(key) !== turn) return;
      this.tails.delete(key);
      this.carried.delete(key);
    });
    return running;
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
