/** A request using a session: a kill reaches it, and its coordinator lease is renewed while it runs. */
export interface RunningRequest {
  /** Its token in the coordinator. */
  readonly token: string;
  /** When its lease was last taken or renewed (ms): its start at first. */
  leaseFrom: number;
  sessionKilled(): void;
}

/**
 * The requests using each session in this process, so that a kill — issued
 * here or, through the coordinator, in any process — reaches them
 * (docs/architecture.md, "Killing"), and the leases of long ones are renewed
 * ("Faults"). With serial access there is one per session at a time.
 */
export class RunningRequests {
  /** The one request using a key, or (rarer) all of them. */
  private readonly byKey = new Map<string, RunningRequest | RunningRequest[]>();

  add(key: string, request: RunningRequest): void {
    const held = this.byKey.get(key);
    if (held === undefined) this.byKey.set(key, request);
    else if (Array.isArray(held)) held.push(request);
    else this.byKey.set(key, [held, request]);
  }

  delete(key: string, request: RunningRequest): void {
    const held = this.byKey.get(key);
    if (held === request) {
      this.byKey.delete(key);
      return;
    }
    if (!Array.isArray(held)) return;
    const index = held.indexOf(request);
    if (index >= 0) held.splice(index, 1);
    if (held.length === 0) this.byKey.delete(key);
  }

  /** Tells every request using `key` here that it was killed. */
  kill(key: string): void {
    const held = this.byKey.get(key);
    if (held === undefined) return;
    for (const request of Array.isArray(held) ? [...held] : [held]) request.sessionKilled();
  }

  /** Every request running here, with the key it uses. */
  *all(): IterableIterator<[string, RunningRequest]> {
    for (const [key, held] of this.byKey) {
      if (!Array.isArray(held)) yield [key, held];
      else for (const request of [...held]) yield [key, request];
    }
  }
}
