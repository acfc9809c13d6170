import type { RequestHandler } from 'express';
import type { Store } from 'express-session';
import { createAdminRouter, type AdminRouterOptions } from '../admin/admin-router';
import { SessionAdmin } from '../admin/session-admin';
import { SessionListing } from '../admin/session-listing';
import { systemClock, type Clock } from '../clock';
import { boundedCoordinator } from '../coordination/bounded-coordinator';
import { can, needs } from '../coordination/capabilities';
import type { Coordinator, KillSignals, KillSubscription, SessionIndex } from '../coordination/coordinator';
import { LocalCoordinator } from '../coordination/local/local-coordinator';
import { Reaper, type SweepResult } from '../expiry/reaper';
import { LeaseRenewal } from '../killing/lease-renewal';
import { withSharedStanding } from '../coordination/shared-standing';
import { RunningRequests } from '../killing/running-requests';
import { SessionKilling } from '../killing/session-killing';
import { CommitOrder } from '../locking/commit-order';
import { createSerialLocks } from '../locking/serial-locks';
import { createDisconnect, createMiddleware, createStatelessMiddleware } from '../request/middleware';
import { SessionDestroyer } from '../session/destruction';
import { createPersistence, type Persistence } from '../persistence/persistence';
import { MemoryStore } from '../storage/memory-store';
import { StoreAdapter } from '../storage/store-adapter';
import { SessionIdCodec } from '../tracking/session-id-codec';
import { sessionIdMaker } from '../tracking/session-id';
import { createTracking, createUrlTrackingMiddleware } from '../tracking/url-tracking';
import { Instruments, kMetricsSource, type MetricsSource } from '../instruments';
import {
  capPolicy,
  capsInForce,
  metricsSource,
  principalReader,
  usesCookie,
  type CapsInForce,
  type SessionManagerStats,
} from './manager-parts';

export type { SessionManagerStats } from './manager-parts';
import { ManagerEvents } from './manager-events';
import { resolveAppOptions, resolveManagerOptions } from './option-resolution';
import type { AppOptions, ResolvedManagerOptions, SessionManagerOptions } from './options';
import type { AppContext, SessionCounters, SessionRuntime } from './runtime';
import { StartupGate } from './startup-gate';
import { defaultReaperInterval, warnAboutSerialAccess, warnAtStartup } from './startup-warnings';

const NO_APPS: readonly string[] = [];

/**
 * The session manager: options, wiring, lifecycle; one per process
 * (docs/architecture.md, "Layers"). Mount `manager.middleware()` once per
 * application.
 */
export class SessionManager extends ManagerEvents {
  /** The express-session store holding session data. */
  readonly store: Store;
  /** Where access times, the expiry index, locks, kill signals and the indexes live. */
  readonly coordinator: Coordinator;
  /** Effective reaper interval in seconds (WebSphere's ReaperInterval). */
  readonly reaperInterval: number;
  /** Look at and kill sessions. */
  readonly sessions: SessionAdmin;
  /**
   * Resolves once the manager is fully started: with `persist`, once the
   * snapshot is read (requests, sweeps and admin calls wait for that); with
   * a remote coordinator, once kills issued in other processes reach this
   * one (Redis may be down at startup; it keeps trying; requests do not wait
   * for that).
   */
  readonly ready: Promise<void>;
  private readonly options: ResolvedManagerOptions;
  private readonly runtime: SessionRuntime;
  private readonly counters: SessionCounters = { created: 0, invalidated: 0, expired: 0, killed: 0, evicted: 0 };
  /** Work `close()` waits for: how much is running, and who waits for none to be. */
  private inflight = 0;
  private idle: (() => void)[] = [];
  private readonly reaper: Reaper;
  /** Default idle timeout (seconds, -1 never) of each app mounted so far. */
  private readonly appTimeouts = new Map<string, number>();
  /** An app with serial access was mounted (its warning, if any, said). */
  private serialAccessSeen = false;
  /** Listening for kills (in any process) to reach this process's requests. */
  private readonly kills: KillSubscription | undefined;
  /** Renews the coordinator's leases of long requests, when it counts requests by lease. */
  private readonly leases: LeaseRenewal | undefined;
  /** Saves the in-process sessions across restarts (`persist`). */
  private readonly persistence: Persistence | undefined;
  /** Holds back what arrives while the snapshot is read. */
  private readonly gate: StartupGate;

  constructor(options?: SessionManagerOptions) {
    super();
    this.options = resolveManagerOptions(options);
    const clock: Clock = this.options.clock ?? systemClock;
    this.store = this.options.store ?? new MemoryStore({ clock });
    this.coordinator = this.options.coordinator ?? new LocalCoordinator();
    const coordinator = withSharedStanding(boundedCoordinator(this.coordinator, this.options.storeTimeoutMs));
    this.reaperInterval = this.options.reaperInterval ?? defaultReaperInterval(this.options.invalidationTimeoutMs);
    const instruments = new Instruments();
    const store = new StoreAdapter(this.store, this.options.storeTimeoutMs, instruments);
    const records = can(coordinator, 'record colocation') ? coordinator.colocate(this.store) : undefined;
    const caps = capPolicy(this.options);
    const destroyer = new SessionDestroyer({ store, coordinator, records, events: this, counters: this.counters, caps });
    const invalidationTimeout = this.options.invalidationTimeoutMs === null ? -1 : this.options.invalidationTimeoutMs / 1000;
    const appTimeout = (app: string): number => this.appTimeouts.get(app) ?? invalidationTimeout;
    const track = (work: Promise<unknown>): void => this.track(work);
    const reaperMs = this.reaperInterval * 1000;
    // Made below, once the listing it pages through exists; evictions happen only after startup.
    let killing: SessionKilling;
    this.runtime = {
      store,
      coordinator,
      destroyer,
      // Colocated records guard their merges with versions; other stores, across processes, with commit locks.
      commits: new CommitOrder(!records && can(coordinator, 'commit locks') ? coordinator : undefined, this.options.storeTimeoutMs),
      records,
      storeTimeoutMs: this.options.storeTimeoutMs,
      codec: new SessionIdCodec(this.options.secrets),
      tracking: createTracking(this.options),
      events: this,
      clock,
      strictExpiry: this.options.strictExpiry,
      invalidationTimeout,
      counters: this.counters,
      locks: createSerialLocks(coordinator),
      running: new RunningRequests(),
      principal: this.options.principal as SessionRuntime['principal'],
      graceMs: (timeoutMs) => Math.max(timeoutMs, 4 * reaperMs), // docs/architecture.md, "Records"
      track,
      newId: sessionIdMaker(this.options.genid),
      cookieMaxAgeMs: usesCookie(this.options) ? this.options.cookieMaxAgeMs : undefined,
      cookieTracking: usesCookie(this.options),
      cookieOptions: this.options.cookie,
      expressSessionCompat: this.options.expressSessionCompat,
      otherApps: (app) => (this.appTimeouts.size < 2 ? NO_APPS : [...this.appTimeouts.keys()].filter((a) => a !== app)),
      caps,
      instruments,
      evict: (keys) => killing.evict(keys),
    };
    if (can(coordinator, 'request leases')) {
      coordinator.useClock(clock);
      this.leases = new LeaseRenewal(coordinator, this.runtime.running, clock, track);
    }
    const index = can(coordinator, 'an expiry index') ? coordinator : undefined;
    this.reaper = new Reaper({ store, coordinator, index, destroyer, clock, appTimeout, instruments }, this.reaperInterval);
    const listing = new SessionListing({
      store,
      coordinator,
      index: () => needs(coordinator, 'a session index', 'manager.sessions') as SessionIndex,
      clock,
      strictExpiry: this.options.strictExpiry,
      apps: () => [...this.appTimeouts.keys()],
      appTimeout,
      track,
    });
    killing = new SessionKilling({
      store,
      kills: () => needs(coordinator, 'kill signals', 'killing sessions') as KillSignals,
      destroyer,
      listing,
      clock,
      track,
    });
    // A record of a session that fell due while the process was down is kept for two sweeps from the restart.
    this.persistence = createPersistence(this.options.persist, this.store, this.coordinator, clock, 2 * reaperMs);
    this.gate = new StartupGate(this.persistence?.load().then(() => this.persistence!.start()));
    this.sessions = new SessionAdmin(listing, killing, (call) => this.gate.call(call));
    this.kills = this.listenForKills(coordinator);
    this.ready = this.kills ? Promise.all([this.kills.ready, this.gate.opened]).then(() => undefined) : this.gate.opened;
    // Whoever awaits `ready` sees its failure; a manager nobody asks (closed before its channel opened) must not
    // leave an unhandled rejection behind.
    this.ready.catch(() => undefined);
    warnAtStartup(this.options, this.store, this.reaperInterval);
    if (this.persistence) void this.gate.opened.then(() => this.reaper.start());
    else this.reaper.start();
    this.leases?.start();
  }

  /**
   * The middleware of one application (web module). Apps of one manager share
   * the session id and never each other's data.
   */
  middleware(appOptions?: AppOptions): RequestHandler {
    const app = resolveAppOptions(appOptions);
    if (app.stateless) return createStatelessMiddleware(this.runtime.tracking);
    const context: AppContext = {
      name: app.app,
      timeout: app.maxInactiveInterval === 0 ? this.runtime.invalidationTimeout : app.maxInactiveInterval,
      serialAccess: app.serialAccess ?? this.options.serialAccess,
    };
    if (context.serialAccess && !this.serialAccessSeen) {
      this.serialAccessSeen = true;
      warnAboutSerialAccess(this.coordinator);
    }
    this.appTimeouts.set(context.name, context.timeout);
    return this.gate.handler(createMiddleware(this.runtime, context));
  }

  /**
   * With `tracking: 'url'` or `['cookie', 'url']`: takes the id out of
   * `req.url` for routers mounted before `middleware()` (the session
   * middleware does it too, for the routes after it). Mount it first:
   * `app.use(manager.urlTracking())`. Without URL tracking it passes through.
   */
  urlTracking(): RequestHandler {
    return createUrlTrackingMiddleware(this.runtime.tracking) as RequestHandler;
  }

  /**
   * The admin page and its JSON API; mount it anywhere:
   * `app.use('/admin', manager.adminRouter({ authorize: (req) => isAdmin(req) }))`.
   * Needs a coordinator with a session index and kill signals.
   */
  adminRouter(options: AdminRouterOptions): RequestHandler {
    needs(this.runtime.coordinator, 'a session index', 'adminRouter()');
    needs(this.runtime.coordinator, 'kill signals', 'adminRouter()');
    const deps = { sessions: this.sessions, stats: () => this.stats(), reap: () => this.reap(), caps: () => this.caps() };
    return createAdminRouter({ ...deps, principalOf: principalReader(this.options.principal) }, options);
  }

  /** The caps in force, as options give them (`null`: none). */
  caps(): CapsInForce {
    return capsInForce(this.options);
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
   * What `collectMetrics` reaches (docs/architecture.md, "Metrics"): the
   * hooks, turned on, and the live sessions per app — counted from now on
   * by a coordinator with session caps, so metrics are collected from
   * startup on.
   */
  [kMetricsSource](): MetricsSource {
    return metricsSource(this.runtime, () => [...this.appTimeouts.keys()], (app) => this.sessions.count({ app }));
  }

  /** Runs a reaper sweep now: idle sessions are destroyed with reason `expired`. */
  reap(): Promise<SweepResult> {
    return this.gate.call(() => this.reaper.sweep());
  }

  /**
   * Stops the reaper and the kill channel and waits for in-flight commits;
   * with `persist`, then writes the snapshot (rejecting if it cannot). Stop
   * the server first: what requests change after the snapshot is not saved.
   * The store and coordinator stay open: they are the caller's.
   */
  async close(): Promise<void> {
    await this.gate.opened;
    await this.reaper.stop();
    this.leases?.stop();
    await this.kills?.close();
    while (this.inflight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    await this.persistence?.close();
  }

  /**
   * A session killed anywhere: its requests running here see their `signal`
   * abort, and those queued here behind them go on (to a new session). A
   * coordinator that cannot listen yet (Redis down at startup) keeps trying;
   * until it can, a session killed in another process stays usable by the
   * requests already running here until they end. Without kill signals no
   * session can be killed, so there is nothing to hear.
   */
  private listenForKills(coordinator: Coordinator): KillSubscription | undefined {
    if (!can(coordinator, 'kill signals')) return undefined;
    const { running, locks } = this.runtime;
    return coordinator.onKill((key) => {
      running.kill(key);
      locks.drain(key);
    });
  }

  /** Registers work `close()` must wait for (its failure is the caller's to report). */
  private track(work: Promise<unknown>): void {
    this.inflight++;
    work.then(this.settled, this.settled);
  }

  /** One piece of tracked work settled; with none left, `close()` goes on. */
  private readonly settled = (): void => {
    if (--this.inflight > 0) return;
    for (const resolve of this.idle.splice(0)) resolve();
  };
}

