import createDebug from 'debug';

const debug = createDebug('express-session-management:redis');

/** How long a node that answered with fewer replicas than asked is not waited on again. */
const SHORT_BACKOFF_MS = 5000;

/** Sends one `WAIT` for the writes sent so far on `route`'s connection; resolves how many replicas have them. */
export type SendWait = (route: string, key: string) => Promise<number>;

/**
 * The `WAIT`s of `replicas: n` (docs/architecture.md, "Redis Cluster and
 * Sentinel"). `WAIT` blocks the connection it is sent on — the one every
 * request to that node shares — so:
 * - one at a time per node (route), the claims and kills written meanwhile
 *   sharing the next one (a `WAIT` covers every write sent before it on its
 *   connection): a sweep of many claims stalls a node once, not once each;
 * - each bounded (`boundMs`, a quarter of `storeTimeout`), so requests
 *   queued behind it are late, never failed;
 * - a node that answered short (fewer replicas than asked: its replica is
 *   gone or far behind, e.g. just after a failover) is not waited on for
 *   {@link SHORT_BACKOFF_MS}: waiting would only stall its requests, and
 *   its destructions go on as with `replicas: 0` meanwhile.
 */
export class ReplicaWaits {
  /** Per route: the WAIT sent and not answered yet. */
  private readonly sent = new Map<string, Promise<number>>();
  /** Per route: the WAIT to send once that one answers, shared by every write since. */
  private readonly next = new Map<string, Promise<number>>();
  /** Per route: until when it is not waited on (it answered short). */
  private readonly shortUntil = new Map<string, number>();

  constructor(
    private readonly replicas: number,
    private readonly send: SendWait,
  ) {}

  /** Resolves how many replicas have the writes sent so far on `route` (0 when not waited on). */
  wait(route: string, key: string): Promise<number> {
    if (Date.now() < (this.shortUntil.get(route) ?? 0)) return Promise.resolve(0);
    const queued = this.next.get(route);
    if (queued) return queued;
    const before = this.sent.get(route) ?? Promise.resolve(0);
    const turn = before
      .catch(() => 0)
      .then(() => {
        this.next.delete(route);
        const waiting = this.send(route, key);
        this.sent.set(route, waiting);
        return waiting.then(
          (acknowledged) => this.settled(route, waiting, acknowledged),
          (error: unknown) => {
            debug('WAIT on %s failed: %O', route, error);
            return this.settled(route, waiting, 0);
          },
        );
      });
    this.next.set(route, turn);
    return turn;
  }

  /** Clears `waiting` from its route, and backs off a route that answered short. */
  private settled(route: string, waiting: Promise<number>, acknowledged: number): number {
    if (this.sent.get(route) === waiting) this.sent.delete(route);
    if (acknowledged < this.replicas) {
      debug('%s: %d of %d replicas in time; not waiting on it for %d ms', route, acknowledged, this.replicas, SHORT_BACKOFF_MS);
      this.shortUntil.set(route, Date.now() + SHORT_BACKOFF_MS);
    }
    return acknowledged;
  }
}
