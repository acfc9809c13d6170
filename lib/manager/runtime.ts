import type { IncomingMessage } from 'node:http';
import type { Clock } from '../clock';
import type { Instruments } from '../instruments';
import type { ColocatedRecords, Coordinator } from '../coordination/coordinator';
import type { EventSink } from './events';
import type { ResolvedManagerOptions } from './options';
import type { SessionIdCodec } from '../tracking/session-id-codec';
import type { StoreAdapter } from '../storage/store-adapter';
import type { SessionTracking } from '../tracking/tracking';
import type { SerialAccessSetting, SerialLocks } from '../locking/serial-slot';
import type { RunningRequests } from '../killing/running-requests';
import type { SessionDestroyer } from '../session/destruction';
import type { CommitOrder } from '../locking/commit-order';

/** Counters of `manager.stats().sessions`. */
export interface SessionCounters {
  created: number;
  invalidated: number;
  expired: number;
  killed: number;
  /** Killed by `maxSessionsPerPrincipal` (`'evict-oldest'`). */
  evicted: number;
}

/**
 * What the request path shares with the manager that built it: the parts
 * wired once at startup. Internal; one per manager.
 */
export interface SessionRuntime {
  readonly store: StoreAdapter;
  readonly coordinator: Coordinator;
  readonly codec: SessionIdCodec;
  readonly tracking: SessionTracking;
  readonly events: EventSink;
  readonly clock: Clock;
  readonly strictExpiry: boolean;
  /** The global idle timeout in seconds (`-1` never). */
  readonly invalidationTimeout: number;
  readonly counters: SessionCounters;
  /** The one path by which sessions no request holds are destroyed. */
  readonly destroyer: SessionDestroyer;
  /** Commits (and deletes) of one session, one at a time. */
  readonly commits: CommitOrder;
  /** The store's records as the coordinator reaches them itself, when it can (colocated records). */
  readonly records: ColocatedRecords | undefined;
  /** `storeTimeout` in ms. */
  readonly storeTimeoutMs: number;
  /** The locks of serial access, for the apps that have it on. */
  readonly locks: SerialLocks;
  /** The requests using each session in this process (kills reach them). */
  readonly running: RunningRequests;
  /** How long the store keeps a record past its idle deadline (ms), for a timeout. */
  graceMs(timeoutMs: number): number;
  /** The `principal` option: the authenticated user of a request. */
  readonly principal: ((req: IncomingMessage) => string | undefined) | undefined;
  /** Names of the manager's other apps (web modules sharing the session id). */
  otherApps(app: string): readonly string[];
  /** Registers work `close()` must wait for. */
  track(work: Promise<unknown>): void;
  /** The id of a new session (the `genid` option, checked, or ours). */
  newId(req: IncomingMessage): string;
  /** The manager's `cookie.maxAge` in ms, with cookie tracking; `undefined`: browser-session cookies. */
  readonly cookieMaxAgeMs: number | undefined;
  /** The manager's cookie settings (what `req.session.cookie` shows). */
  readonly cookieOptions: ResolvedManagerOptions['cookie'];
  /** Cookies carry the id (a session's own cookie lifetime applies). */
  readonly cookieTracking: boolean;
  /** `expressSessionCompat`: the default app also sets `req.session`. */
  readonly expressSessionCompat: boolean;
  /** The caps, the lifetime, rotation at login. */
  readonly caps: CapPolicy;
  /** What is measured for metrics (inactive until `collectMetrics`). */
  readonly instruments: Instruments;
  /** Kills sessions of a user for `maxSessionsPerPrincipal` (reason `evicted`); resolves how many. */
  evict(keys: readonly string[]): Promise<number>;
}

/**
 * The caps and the lifetime (docs/architecture.md, "Caps"), as the request
 * path applies them. `countApps` may be turned on after startup (metrics
 * count live sessions per app too).
 */
export interface CapPolicy {
  /** Sessions are counted per app in the coordinator (`maxActiveSessions`, or the live gauge of the metrics). */
  countApps: boolean;
  /** `maxActiveSessions`; `Infinity` none. */
  readonly maxActive: number;
  /** `maxSessionsPerPrincipal`; `undefined` none. */
  readonly maxPerPrincipal: number | undefined;
  /** `onMaxSessions: 'evict-oldest'`. */
  readonly evictOldest: boolean;
  /** `maxLifetime` in ms; `null` none. */
  readonly maxLifetimeMs: number | null;
  /** `rotateOnLogin` (with `principal`). */
  readonly rotateOnLogin: boolean;
}

/** One app (web module) as the request path sees it. */
export interface AppContext {
  readonly name: string;
  /** The app's effective default idle timeout in seconds (`-1` never). */
  readonly timeout: number;
  /** Serial access of this app's requests (the app's setting, else the manager's). */
  readonly serialAccess: SerialAccessSetting | false;
}
