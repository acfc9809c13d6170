import { EventEmitter } from 'node:events';
import type { RequestHandler } from 'express';
import { MemoryStore as ExpressMemoryStore, type Store } from 'express-session';
import createDebug from 'debug';
import { systemClock, type Clock } from '../clock';
import type { Coordinator, KillSubscription } from '../coordination/coordinator';
import type { EventSink, SessionEventBase, SessionManagerEvents } from './events';
import { LocalCoordinator } from '../coordination/local/local-coordinator';
import { boundCalls } from '../storage/call-bound';
import { MemoryStore } from '../storage/memory-store';
import { createDisconnect, createMiddleware, createStatelessMiddleware } from '../request/middleware';
import {
  resolveAppOptions,
  resolveManagerOptions,
  type AppOptions,
  type ResolvedManagerOptions,
  type SessionManagerOptions,
} from './options';
import type { AppContext, SessionCounters, SessionRuntime } from './runtime';
import { SessionIdCodec } from '../tracking/session-id-codec';
import { StoreAdapter } from '../storage/store-adapter';
import { createTracking } from '../tracking/tracking';
import { sessionKey, subsessionKey } from '../storage/session-key';
import { readRecord } from '../storage/session-record';
import { Reaper, type SweepResult } from '../expiry/reaper';
import { ClusterLocks, SessionLocks, type LockingCoordinator } from '../locking/session-locks';
import { RunningRequests } from '../killing/running-requests';
import { SessionAdmin } from '../admin/session-admin';
import { createAdminRouter, type AdminRouterOptions } from '../admin/admin-router';

const debug = createDebug('express-session-management');
const NO_APPS: readonly string[] = [];

/** `manager.stats()`. */
export interface SessionManagerStats {
  /** This process's counters since it started. */
  sessions: SessionCounters;
  reaper: {
    active: boolean;
    /** Why the reaper is inactive. */
    reason?: string;
    /** Effective interval in seconds. */
    interval: number;
    runs: number;
    lastRunAt: number | null;
    lastDurationMs: number | null;
    expired: number;
  };
}

/**
 * A listener may return anything (`(e) => release(e.id)`): a returned promise is
 * awaited (by the reaper, within a bound) and its rejection reported; any other
 * value is ignored. `void | Promise<void>` would reject such arrow functions.
 */
type Listener<E extends keyof SessionManagerEvents> = (payload: SessionManagerEvents[E]) => unknown;

export interface SessionManager {
  on<E extends keyof SessionManagerEvents>(event: E, listener: Listener<E>): this;
  once<E extends keyof SessionManagerEvents>(event: E, listener: Listener<E>): this;
  off<E extends keyof SessionManagerEvents>(event: E, listener: Listener<E>): this;
}

/**
 * The session manager: options, wiring and events; one per process (DESIGN
 * §2). Mount `manager.middleware()` once per application.
 */
export class SessionManager extends EventEmitter implements EventSink {
  /** The express-session store holding session data. */
  readonly store: Store;
  /** Where access times and the expiry index live. */
  readonly coordinator: Coordinator;
  /** Effective reaper interval in seconds (WebSphere's ReaperInterval). */
  readonly reaperInterval: number;
  /** Look at and kill sessions (DESIGN §6). */
  readonly sessions: SessionAdmin;
  private readonly options: ResolvedManagerOptions;
  private readonly runtime: SessionRuntime;
  private readonly counters: SessionCounters = { created: 0, invalidated: 0, expired: 0, killed: 0 };
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly reaper: Reaper;
  /** Default idle timeout (seconds, -1 never) of each app mounted so far. */
  private readonly appTimeouts = new Map<string, number>();
  /** Listening for kills (in any process) to reach this process's requests. */
  private readonly kills: KillSubscription;

  constructor(options?: SessionManagerOptions) {
    super();
    this.options = resolveManagerOptions(options);
    const clock: Clock = this.options.clock ?? systemClock;
    this.store = this.options.store ?? new MemoryStore({ clock });
    this.coordinator = this.options.coordinator ?? new LocalCoordinator();
    const coordinator = boundedCoordinator(this.coordinator, this.options.storeTimeoutMs);
    this.reaperInterval = this.options.reaperInterval ?? defaultReaperInterval(this.options.invalidationTimeoutMs);
    const reaperMs = this.reaperInterval * 1000;
    this.runtime = {
      store: new StoreAdapter(this.store, this.options.storeTimeoutMs),
      coordinator,
      codec: new SessionIdCodec(this.options.secrets),
      tracking: createTracking(this.options),
      events: this,
      clock,
      strictExpiry: this.options.strictExpiry,
      invalidationTimeout: this.options.invalidationTimeoutMs === null ? -1 : this.options.invalidationTimeoutMs / 1000,
      counters: this.counters,
      locks: this.options.serialAccess ? serialAccessLocks(coordinator) : undefined,
      running: new RunningRequests(),
      principal: this.options.principal as SessionRuntime['principal'],
      serialAccess: this.options.serialAccess,
      graceMs: (timeoutMs) => Math.max(timeoutMs, 2 * reaperMs),
      track: (work) => this.track(work),
      otherApps: (app) => (this.appTimeouts.size < 2 ? NO_APPS : [...this.appTimeouts.keys()].filter((a) => a !== app)),
    };
    this.reaper = new Reaper(
      {
        store: this.runtime.store,
        coordinator,
        events: this,
        clock,
        counters: this.counters,
        appTimeout: (app) => this.appTimeouts.get(app) ?? this.runtime.invalidationTimeout,
      },
      this.reaperInterval,
    );
    this.sessions = new SessionAdmin({
      store: this.runtime.store,
      coordinator,
      events: this,
      counters: this.counters,
      clock,
      strictExpiry: this.options.strictExpiry,
      apps: () => [...this.appTimeouts.keys()],
      appTimeout: (app) => this.appTimeouts.get(app) ?? this.runtime.invalidationTimeout,
      track: (work) => this.track(work),
    });
    this.kills = this.listenForKills();
    this.warnAboutSharedStore();
    if (this.reaperInterval < 10) {
      process.emitWarning(
        `express-session-management: reaperInterval ${this.reaperInterval} s is under 10 s; every sweep costs store and coordinator calls`,
        { code: 'ESM_REAPER_INTERVAL' },
      );
    }
    this.reaper.start();
  }

  /**
   * The middleware of one application (web module). Apps of one manager share
   * the session id and never each other's data.
   */
  middleware(appOptions?: AppOptions): RequestHandler {
    const app = resolveAppOptions(appOptions);
    if (app.stateless) return createStatelessMiddleware();
    const context: AppContext = {
      name: app.app,
      timeout: app.maxInactiveInterval === 0 ? this.runtime.invalidationTimeout : app.maxInactiveInterval,
    };
    this.appTimeouts.set(context.name, context.timeout);
    return createMiddleware(this.runtime, context);
  }

  /**
   * The admin page and its JSON API (DESIGN §6); mount it anywhere:
   * `app.use('/admin', manager.adminRouter({ authorize: (req) => isAdmin(req) }))`.
   */
  adminRouter(options: AdminRouterOptions): RequestHandler {
    return createAdminRouter({ sessions: this.sessions, stats: () => this.stats(), reap: () => this.reap() }, options);
  }

  /**
   * A route handler that ends the caller's session (webMethods'
   * `disconnect`): invalidates it, clears the cookie (or header), answers
   * 204 — or, with `redirect`, 303 to that address (for an HTML form). Mount
   * it after `middleware()`: `app.post('/logout', manager.disconnect())`.
   */
  disconnect(options: { redirect?: string } = {}): RequestHandler {
    return createDisconnect(this.runtime, options.redirect);
  }

  /** Counters of this process and the reaper's state (synchronous). */
  stats(): SessionManagerStats {
    return {
      sessions: { ...this.counters },
      reaper: {
        active: this.reaper.mode !== 'inactive',
        ...(this.reaper.reason === undefined ? {} : { reason: this.reaper.reason }),
        interval: this.reaperInterval,
        runs: this.reaper.runs,
        lastRunAt: this.reaper.lastRunAt,
        lastDurationMs: this.reaper.lastDurationMs,
        expired: this.reaper.expired,
      },
    };
  }

  /**
   * The live subsessions of a session, with their idle deadlines (ms; `null`
   * never). Internal until the admin API's `SessionInfo` shows them; tests
   * use it.
   * @internal
   */
  async subsessionsOf(id: string, options: { app?: string } = {}): Promise<{ name: string; deadline: number | null }[]> {
    const key = sessionKey(options.app ?? 'default', id);
    const record = await this.runtime.store.get(key);
    if (!record) return [];
    const names = readRecord(record, options.app ?? 'default', this.runtime.clock.now()).meta.subsessions ?? [];
    const found = await Promise.all(names.map((name) => this.runtime.coordinator.inspect(subsessionKey(key, name))));
    return names
      .map((name, i) => ({ name, entry: found[i] }))
      .filter(({ entry }) => entry !== undefined && !entry.claimed)
      .map(({ name, entry }) => ({ name, deadline: entry!.deadline }));
  }

  /** Runs a reaper sweep now: idle sessions are destroyed with reason `expired`. */
  reap(): Promise<SweepResult> {
    return this.reaper.sweep();
  }

  /**
   * Stops the reaper and waits for in-flight commits. The store and
   * coordinator stay open: they are the caller's.
   */
  async close(): Promise<void> {
    await this.reaper.stop();
    await this.kills.close();
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  fire<E extends keyof SessionManagerEvents>(event: E, payload: SessionManagerEvents[E]): Promise<void> | undefined {
    if (this.listenerCount(event) === 0) return undefined;
    let pending: Promise<void>[] | undefined;
    for (const listener of this.rawListeners(event)) {
      try {
        const result: unknown = (listener as (p: unknown) => unknown).call(this, payload);
        if (result instanceof Promise) {
          (pending ??= []).push(result.then(
            () => undefined,
            (error: unknown) => this.failed(event, payload, error),
          ));
        }
      } catch (error) {
        this.failed(event, payload, error);
      }
    }
    return pending && Promise.all(pending).then(() => undefined);
  }

  failed(event: string, base: SessionEventBase, error: unknown): void {
    debug('listener of %s failed: %O', event, error);
    if (event === 'listenerError') return; // never loop
    if (this.listenerCount('listenerError') === 0) {
      process.emitWarning(`a "${event}" listener failed: ${error instanceof Error ? error.message : String(error)}`, {
        code: 'ESM_LISTENER_ERROR',
      });
      return;
    }
    const payload: SessionManagerEvents['listenerError'] = { id: base.id, app: base.app, event, error };
    if (base.subsession !== undefined) payload.subsession = base.subsession;
    this.fire('listenerError', payload);
  }

  /** Resolves once this process hears of kills. @internal (tests) */
  async listening(): Promise<void> {
    await this.kills.ready;
  }

  /**
   * A session killed anywhere: its requests running here see their `signal`
   * abort, and those queued here behind them go on (to a new session). A
   * coordinator that cannot listen yet (Redis down at startup) keeps trying;
   * until it can, a session killed in another process stays usable by the
   * requests already running here until they end.
   */
  private listenForKills(): KillSubscription {
    const { running, locks } = this.runtime;
    return this.runtime.coordinator.onKill((key) => {
      running.kill(key);
      locks?.drain(key);
    });
  }

  private track(work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.inflight.add(settled);
    void settled.then(() => this.inflight.delete(settled));
  }

  /** An external store with the in-process coordinator is right for one process only. */
  private warnAboutSharedStore(): void {
    if (this.options.coordinator) return;
    if (this.store instanceof MemoryStore || this.store instanceof ExpressMemoryStore) return;
    // The application's own copy of express-session (another version, another install) fails instanceof.
    if (this.store.constructor?.name === 'MemoryStore') return;
    process.emitWarning(
      'express-session-management: an external store with the in-process coordinator is right for one process only; ' +
        'when several processes share the store, pass coordinator: redisCoordinator({ client }) so expiry stays exact',
      { code: 'ESM_LOCAL_COORDINATOR' },
    );
  }
}

/**
 * WebSphere's formula: under 15 minutes of timeout a sweep every 60–90 s,
 * else every 300–360 s, drawn per process so nodes do not sweep in step.
 */
export function defaultReaperInterval(invalidationTimeoutMs: number | null): number {
  const short = invalidationTimeoutMs !== null && invalidationTimeoutMs < 15 * 60 * 1000;
  const [low, high] = short ? [60, 90] : [300, 360];
  return low + Math.floor(Math.random() * (high - low + 1));
}

/**
 * The coordinator as the manager calls it: every call bounded by
 * `storeTimeout`. The in-process one answers at once and needs no bound; one
 * that bounds its own calls (`setCallTimeout`, as `redisCoordinator` does:
 * it also drops a command the client could not send in time) is told the
 * bound; any other is wrapped.
 */
function boundedCoordinator(coordinator: Coordinator, timeoutMs: number): Coordinator {
  if (coordinator instanceof LocalCoordinator) return coordinator;
  const own = (coordinator as { setCallTimeout?: unknown }).setCallTimeout;
  if (typeof own === 'function') {
    (own as (ms: number) => void).call(coordinator, timeoutMs);
    return coordinator;
  }
  return boundCalls(coordinator, timeoutMs);
}

/** In-process serial access, plus the coordinator's lock when it has one (several processes). */
function serialAccessLocks(coordinator: Coordinator): SessionLocks | ClusterLocks {
  const local = new SessionLocks();
  if (!coordinator.acquireLock || !coordinator.renewLock || !coordinator.releaseLock) return local;
  return new ClusterLocks(local, coordinator as Coordinator & LockingCoordinator);
}
