/** A request that can be told its session was killed while it ran. */
export interface KillTarget {
  sessionKilled(): void;
}

/**
 * The requests using each session in this process, so that a kill — issued
 * here or, through the coordinator, in any process — reaches them
 * (docs/architecture.md, "Killing"). With serial access there is one per session at a time.
 */
export class RunningRequests {
  private readonly byKey = new Map<string, KillTarget[]>();

  add(key: string, request: KillTarget): void {
    const list = this.byKey.get(key);
    if (list) list.push(request);
    else this.byKey.set(key, [request]);
  }

  delete(key: string, request: KillTarget): void {
    const list = this.byKey.get(key);
    if (!list) return;
    const index = list.indexOf(request);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) this.byKey.delete(key);
  }

  /** Tells every request using `key` here that it was killed. */
  kill(key: string): void {
    for (const request of this.byKey.get(key) ?? []) request.sessionKilled();
  }
}
