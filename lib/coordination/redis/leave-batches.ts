/** Leaves in one script at most: a script blocks Redis while it runs (a leave runs a few commands). */
const MOST_PER_SCRIPT = 32;

/** A leave waiting to be sent: its KEYS and ARGV in the `leave` script, and its caller. */
interface Waiting {
  keys: string[];
  args: string[];
  resolve(answer: number): void;
  reject(error: unknown): void;
}

/**
 * The leaves of requests that end together (in one run of microtasks), sent
 * together: one `leave` script for up to {@link MOST_PER_SCRIPT} of them
 * whose keys may share a script (docs/architecture.md, "Coordinators", in Redis).
 * Each leave runs as it would alone, in order, in one atomic script; its
 * answer goes to its own caller, and a call that fails fails each of them
 * (each retries on its own: leaving twice changes nothing).
 */
export class LeaveBatches {
  /** Leaves waiting, by group: the keys of one group may go in one script (a cluster: one hash slot). */
  private readonly waiting = new Map<number, Waiting[]>();
  private scheduled = false;

  constructor(private readonly send: (keys: string[], args: string[]) => Promise<unknown>) {}

  /** Sends a leave with the others of `group` at the end of this turn; resolves its answer. */
  leave(group: number, keys: string[], args: string[]): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const list = this.waiting.get(group);
      if (list) list.push({ keys, args, resolve, reject });
      else this.waiting.set(group, [{ keys, args, resolve, reject }]);
      if (!this.scheduled) {
        // Sent once the leaves of this turn's microtasks have come (requests whose replies came in
        // one read end together), and still within the turn: node-redis writes what it was given
        // in a turn as one write, so they go with the turn's other commands. (After a turn of
        // their own they took a write of their own, and Redis a read and a reply.)
        this.scheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    for (const list of this.waiting.values()) {
      for (let from = 0; from < list.length; from += MOST_PER_SCRIPT) this.sendSome(list.slice(from, from + MOST_PER_SCRIPT));
    }
    this.waiting.clear();
  }

  private sendSome(batch: Waiting[]): void {
    const one = batch.length === 1;
    const keys = one ? batch[0].keys : batch.flatMap((leave) => leave.keys);
    const args = one ? batch[0].args : batch.flatMap((leave) => leave.args);
    this.send(keys, args).then(
      (answer) => {
        if (one) batch[0].resolve(Number(answer));
        else for (let i = 0; i < batch.length; i++) batch[i].resolve(Number((answer as unknown[])[i]));
      },
      (error: unknown) => {
        for (const leave of batch) leave.reject(error);
      },
    );
  }
}
