import type { ListOptions } from './admin-input';
import type { SessionInfo, SessionListing } from './session-listing';
import type { KillResult, SessionKilling } from '../killing/session-killing';

/**
 * `manager.sessions`: look at and kill sessions (docs/architecture.md,
 * "Administration"). Listing and killing live in their own files; this is
 * the face the application sees.
 */
export class SessionAdmin {
  constructor(
    private readonly listing: SessionListing,
    private readonly killing: SessionKilling,
    /** Runs a call once the manager has started (its snapshot read, if any). */
    private readonly started: <T>(call: () => Promise<T>) => Promise<T> = (call) => call(),
  ) {}

  /** A page of live sessions in key order; `cursor` is absent on the last page. */
  list(options?: ListOptions): Promise<{ sessions: SessionInfo[]; cursor?: string }> {
    return this.started(() => this.listing.list(options));
  }

  /** A live session of `app`; without `app` the first app (by name) that holds the id. */
  get(id: string, options?: { app?: string }): Promise<SessionInfo | null> {
    return this.started(() => this.listing.get(id, options));
  }

  /** How many sessions the index holds (of `app`), expired ones not yet swept included. */
  count(options?: { app?: string }): Promise<number> {
    return this.started(() => this.listing.count(options));
  }

  /**
   * Kills a session: an idle one is deleted now (`sessionDestroyed`, reason
   * `killed`); one servicing a request is marked for deletion and goes when
   * the request ends. Without `app`, in every app.
   */
  kill(id: string, options?: { app?: string; by?: string }): Promise<KillResult> {
    return this.started(() => this.killing.kill(id, options));
  }

  /** Kills every session (of `app`); resolves how many were killed. `by`: who kills (the event's `by`). */
  killAll(options?: { app?: string; by?: string }): Promise<number> {
    return this.started(() => this.killing.killAll(options));
  }

  /** Kills every session of a user (every app); resolves how many were killed. */
  killByPrincipal(principal: string, options?: { by?: string }): Promise<number> {
    return this.started(() => this.killing.killByPrincipal(principal, options));
  }
}

export type { SessionInfo, KillResult };
