import type { Clock } from '../clock';
import type { Coordinator } from '../coordination/coordinator';
import { destroyClaimed } from '../expiry/destruction';
import type { EventSink } from '../manager/events';
import type { SessionCounters } from '../manager/runtime';
import { appInput, cursorAfter, idInput, listInput, principalInput, type ListOptions } from './admin-input';
import { parseSessionKey, sessionKey } from '../storage/session-key';
import { readRecord } from '../storage/session-record';
import type { StoreAdapter } from '../storage/store-adapter';
import { TimeSlices } from '../expiry/time-slices';

/** A live session as administrators see it (DESIGN §6). */
export interface SessionInfo {
  id: string;
  app: string;
  /** The user the session is bound to, `null` when anonymous. */
  principal: string | null;
  creationTime: number;
  lastAccessedTime: number;
  /** Effective idle timeout in seconds; `-1` never. */
  maxInactiveInterval: number;
  /** Idle deadline (ms), `null` when it never expires. */
  expiresAt: number | null;
  /** Requests using it now, in every process. */
  activeRequests: number;
  /** Killed while in use: it goes when its running request ends. */
  markedForDeletion: boolean;
  attributeNames: string[];
  /** Names of its subsessions. */
  subsessions: string[];
  /** Bytes of the stored record (its JSON). */
  size: number;
}

/** What `kill()` did. */
export interface KillResult {
  /** A session was found and is gone, or will be when its running request ends. */
  killed: boolean;
  /** It was servicing a request: marked for deletion, deleted when the request ends. */
  deferred: boolean;
}

/** What the admin API needs from the manager. */
export interface SessionAdminDeps {
  store: StoreAdapter;
  coordinator: Coordinator;
  events: EventSink;
  counters: SessionCounters;
  clock: Clock;
  strictExpiry: boolean;
  /** The apps mounted in this process. */
  apps(): string[];
  /** An app's default idle timeout in seconds (`-1` never). */
  appTimeout(app: string): number;
  /** Registers work `close()` must wait for. */
  track(work: Promise<unknown>): void;
}

/** Sessions loaded at a time by a listing (at most one page and one more). */
const BATCH = 500;
/** Keys fetched from the index at a time by a count or a killAll (keys only, no session loaded). */
const KEY_BATCH = 5000;
/** Sessions killed at once by killAll and killByPrincipal (as the reaper destroys them). */
const KILL_CONCURRENCY = 16;
/** Index keys read at a time when looking for the apps that hold an id. */
const APPS_BATCH = 8;

/**
 * `manager.sessions`: look at and kill sessions (DESIGN §6). Pages come from
 * the coordinator's index (keys in order, a page at a time; a user's keys
 * from the principal index), so only the sessions shown are loaded. Bad
 * input throws `BadRequestError` (400).
 */
export class SessionAdmin {
  constructor(private readonly deps: SessionAdminDeps) {}

  /** A page of live sessions in key order; `cursor` is absent on the last page. */
  async list(options: ListOptions = {}): Promise<{ sessions: SessionInfo[]; cursor?: string }> {
    const { app, principal, limit, after } = listInput(options);
    const sessions: SessionInfo[] = [];
    // One more than the page, to know whether another page follows.
    for await (const info of this.live(after, Math.min(BATCH, limit + 1), app, principal)) {
      if (sessions.length === limit) return { sessions, cursor: cursorAfter(sessionKey(sessions[limit - 1].app, sessions[limit - 1].id)) };
      sessions.push(info);
    }
    return { sessions };
  }

  /** A live session of `app`; without `app` the first app (by name) that holds the id. */
  async get(id: string, options: { app?: string } = {}): Promise<SessionInfo | null> {
    const input = idInput(id, options.app);
    for (const app of await this.appsOf(input.id, input.app)) {
      const info = await this.info(sessionKey(app, input.id));
      if (info) return info;
    }
    return null;
  }

  /**
   * How many sessions the index holds (of `app`): live ones, and expired ones
   * the reaper has not swept yet. No session is loaded; without `app` one
   * coordinator call.
   */
  async count(options: { app?: string } = {}): Promise<number> {
    const app = appInput(options.app);
    if (app === undefined) return this.deps.coordinator.count();
    let count = 0;
    for await (const keys of this.keyBatches(null, KEY_BATCH, app)) count += keys.length;
    return count;
  }

  /**
   * Kills a session: an idle one is deleted now (`sessionDestroyed`, reason
   * `killed`); one servicing a request is marked for deletion — its
   * `signal` aborts, nothing that request changes is kept, no request may
   * use it any more, and it is deleted when the request ends. Without
   * `app`, in every app.
   */
  async kill(id: string, options: { app?: string } = {}): Promise<KillResult> {
    const input = idInput(id, options.app);
    const result: KillResult = { killed: false, deferred: false };
    for (const app of await this.appsOf(input.id, input.app)) {
      const one = await this.killKey(sessionKey(app, input.id));
      result.killed ||= one.killed;
      result.deferred ||= one.deferred;
    }
    return result;
  }

  /** Kills every session (of `app`); resolves how many were killed. */
  async killAll(options: { app?: string } = {}): Promise<number> {
    const app = appInput(options.app);
    let killed = 0;
    for await (const keys of this.keyBatches(null, KEY_BATCH, app)) killed += await this.killKeys(keys);
    return killed;
  }

  /** Kills every session of a user (every app); resolves how many were killed. */
  async killByPrincipal(principal: string): Promise<number> {
    return this.killKeys(await this.deps.coordinator.keysOf(principalInput(principal)));
  }

  /** Kills `keys`, `KILL_CONCURRENCY` at a time; resolves how many were killed. */
  private async killKeys(keys: string[]): Promise<number> {
    const slices = new TimeSlices();
    let killed = 0;
    for (let i = 0; i < keys.length; i += KILL_CONCURRENCY) {
      const results = await Promise.all(keys.slice(i, i + KILL_CONCURRENCY).map((key) => this.killKey(key)));
      killed += results.filter((result) => result.killed).length;
      await slices.yieldIfDue();
    }
    return killed;
  }

  private async killKey(key: string): Promise<KillResult> {
    const { coordinator, store } = this.deps;
    const entry = await coordinator.kill(key);
    if (entry?.claimed) return { killed: entry.killed, deferred: entry.killed && entry.active > 0 };
    if (entry && entry.active > 0) return { killed: true, deferred: true };
    // Idle, or a record the coordinator never saw (written by express-session): delete it now.
    if (!entry && !(await store.get(key))) return { killed: false, deferred: false };
    const { announced } = await destroyClaimed(this.deps, key, 'killed', this.deps.clock.now(), entry?.lastAccessedTime);
    if (announced) this.deps.track(announced);
    return { killed: true, deferred: false };
  }

  /**
   * Live sessions after the key `after`, in key order, loaded `batch` at a
   * time: from the principal index, or the session index.
   */
  private async *live(after: string | null, batch: number, app?: string, principal?: string): AsyncGenerator<SessionInfo> {
    if (principal !== undefined) {
      const keys = (await this.deps.coordinator.keysOf(principal)).filter((key) => inApp(key, app) && (after === null || key > after));
      for (let i = 0; i < keys.length; i += batch) yield* await this.infos(keys.slice(i, i + batch));
      return;
    }
    for await (const keys of this.keyBatches(after, batch, app)) yield* await this.infos(keys);
  }

  /** Keys of the session index after `after`, fetched `batch` at a time, each batch filtered to `app`. */
  private async *keyBatches(after: string | null, batch: number, app?: string): AsyncGenerator<string[]> {
    const slices = new TimeSlices();
    for (;;) {
      await slices.yieldIfDue();
      const keys = await this.deps.coordinator.keys(after, batch);
      yield keys.filter((key) => inApp(key, app));
      if (keys.length < batch) return;
      after = keys[keys.length - 1];
    }
  }

  private async infos(keys: string[]): Promise<SessionInfo[]> {
    const found = await Promise.all(keys.map((key) => this.info(key)));
    return found.filter((info): info is SessionInfo => info !== null);
  }

  /** The session stored under `key` as administrators see it; `null` unless live (or marked for deletion). */
  private async info(key: string): Promise<SessionInfo | null> {
    const { store, coordinator, clock } = this.deps;
    const { id, app } = parseSessionKey(key);
    const [record, entry] = await Promise.all([store.get(key), coordinator.inspect(key)]);
    if (!record) {
      // Neither record nor entry: the index outlived both (they expired by their TTL). Forget it.
      if (!entry) this.deps.track(coordinator.remove(key).catch(() => undefined));
      return null;
    }
    if (entry?.claimed && !entry.killed) return null;
    const now = clock.now();
    const { meta, attributes } = readRecord(record, app, now);
    const timeout = meta.timeout ?? this.deps.appTimeout(app);
    const expiresAt = entry ? entry.deadline : timeout > 0 ? meta.accessed + timeout * 1000 : null;
    const active = entry?.active ?? 0;
    if (this.deps.strictExpiry && active === 0 && expiresAt !== null && expiresAt <= now) return null;
    return {
      id,
      app,
      principal: meta.principal ?? null,
      creationTime: meta.created,
      lastAccessedTime: entry?.lastAccessedTime ?? meta.accessed,
      maxInactiveInterval: timeout <= 0 ? -1 : timeout,
      expiresAt,
      activeRequests: active,
      markedForDeletion: entry?.killed ?? false,
      attributeNames: Object.keys(attributes),
      subsessions: meta.subsessions ?? [],
      size: Buffer.byteLength(JSON.stringify(record)),
    };
  }

  /**
   * The apps to look in for `id`: the one given; else, by name, those of
   * this process and those the index holds the id in (an admin process may
   * mount no app at all).
   */
  private async appsOf(id: string, app: string | undefined): Promise<string[]> {
    if (app !== undefined) return [app];
    const apps = new Set(this.deps.apps());
    apps.add('default');
    // The keys `<id>:<app>` follow `<id>:` in key order, together.
    for (let after = `${id}:`; ; ) {
      const keys = await this.deps.coordinator.keys(after, APPS_BATCH);
      const ours = keys.filter((key) => key.startsWith(`${id}:`));
      for (const key of ours) apps.add(parseSessionKey(key).app);
      if (ours.length < APPS_BATCH) return [...apps].sort();
      after = keys[keys.length - 1];
    }
  }
}

/** Whether a top-level key belongs to `app` (any app when undefined). */
function inApp(key: string, app: string | undefined): boolean {
  return app === undefined || parseSessionKey(key).app === app;
}
