import type { AccessTracking, SessionIndex } from '../coordination/coordinator';
import type { Clock } from '../clock';
import { DEFAULT_APP, parseSessionKey, sessionKey } from '../storage/session-key';
import { readRecord } from '../storage/session-record';
import type { StoreAdapter } from '../storage/store-adapter';
import { TimeSlices } from '../expiry/time-slices';
import { appInput, cursorAfter, idInput, listInput, type ListOptions } from './admin-input';

/** A live session as administrators see it. */
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

/** What listing sessions needs from the manager. */
export interface ListingDeps {
  store: StoreAdapter;
  coordinator: AccessTracking;
  /** The coordinator's session index; listing throws without one. */
  index: () => SessionIndex;
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
export const KEY_BATCH = 5000;
/** Index keys read at a time when looking for the apps that hold an id. */
const APPS_BATCH = 8;

/**
 * Listing sessions (docs/architecture.md, "Administration"): pages come from
 * the coordinator's index (keys in order, a page at a time; a user's keys
 * from the principal index), so only the sessions shown are loaded. Bad
 * input throws `BadRequestError` (400).
 */
export class SessionListing {
  constructor(private readonly deps: ListingDeps) {}

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
    if (app === undefined) return this.deps.index().count();
    let count = 0;
    for await (const keys of this.keyBatches(null, KEY_BATCH, app)) count += keys.length;
    return count;
  }

  /** Keys of the session index after `after`, fetched `batch` at a time, each batch filtered to `app`. */
  async *keyBatches(after: string | null, batch: number, app?: string): AsyncGenerator<string[]> {
    const index = this.deps.index();
    const slices = new TimeSlices();
    for (;;) {
      await slices.yieldIfDue();
      const keys = await index.keys(after, batch);
      yield keys.filter((key) => inApp(key, app));
      if (keys.length < batch) return;
      after = keys[keys.length - 1];
    }
  }

  /** Keys of the sessions bound to `principal`, every app. */
  keysOf(principal: string): Promise<string[]> {
    return this.deps.index().keysOf(principal);
  }

  /**
   * The apps to look in for `id`: the one given; else, by name, those of
   * this process and those the index holds the id in (an admin process may
   * mount no app at all).
   */
  async appsOf(id: string, app: string | undefined): Promise<string[]> {
    if (app !== undefined) return [app];
    const index = this.deps.index();
    const apps = new Set(this.deps.apps());
    apps.add(DEFAULT_APP);
    // The keys `<id>:<app>` follow `<id>:` in key order, together.
    for (let after = `${id}:`; ; ) {
      const keys = await index.keys(after, APPS_BATCH);
      const ours = keys.filter((key) => key.startsWith(`${id}:`));
      for (const key of ours) apps.add(parseSessionKey(key).app);
      if (ours.length < APPS_BATCH) return [...apps].sort();
      after = keys[keys.length - 1];
    }
  }

  /**
   * Live sessions after the key `after`, in key order, loaded `batch` at a
   * time: from the principal index, or the session index.
   */
  private async *live(after: string | null, batch: number, app?: string, principal?: string): AsyncGenerator<SessionInfo> {
    if (principal !== undefined) {
      const keys = (await this.keysOf(principal)).filter((key) => inApp(key, app) && (after === null || key > after));
      for (let i = 0; i < keys.length; i += batch) yield* await this.infos(keys.slice(i, i + batch));
      return;
    }
    for await (const keys of this.keyBatches(after, batch, app)) yield* await this.infos(keys);
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
}

/** Whether a top-level key belongs to `app` (any app when undefined). */
function inApp(key: string, app: string | undefined): boolean {
  return app === undefined || parseSessionKey(key).app === app;
}
