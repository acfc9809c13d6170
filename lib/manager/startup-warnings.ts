import { MemoryStore as ExpressMemoryStore, type Store } from 'express-session';
import { can } from '../coordination/capabilities';
import type { Coordinator } from '../coordination/coordinator';
import { LocalCoordinator } from '../coordination/local/local-coordinator';
import { MemoryStore } from '../storage/memory-store';
import { MAX_COOKIE_AGE_SECONDS } from './express-session-options';
import type { ResolvedManagerOptions } from './options';

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
 * Settings that work but are probably not what was meant, said once at
 * startup through `process.emitWarning`.
 */
export function warnAtStartup(options: ResolvedManagerOptions, store: Store, reaperInterval: number): void {
  if (!options.coordinator && !isInProcess(store)) {
    warn(
      'an external store with the in-process coordinator is right for one process only; ' +
        'when several processes share the store, pass coordinator: redisCoordinator({ client }) so expiry stays exact',
      'ESM_LOCAL_COORDINATOR',
    );
  }
  const maxAge = options.cookie.maxAge;
  if (maxAge !== undefined && maxAge > MAX_COOKIE_AGE_SECONDS) {
    warn(
      `cookie.maxAge ${maxAge} s is over 400 days (browsers keep cookies 400 days at most): ` +
        'cookie.maxAge is in seconds here, milliseconds in express-session',
      'ESM_COOKIE_MAX_AGE',
    );
  }
  if (reaperInterval < 10) {
    warn(`reaperInterval ${reaperInterval} s is under 10 s; every sweep costs store and coordinator calls`, 'ESM_REAPER_INTERVAL');
  }
}

/** Serial access with a remote coordinator that cannot lock sessions holds within each process only. */
export function warnAboutSerialAccess(coordinator: Coordinator): void {
  if (coordinator instanceof LocalCoordinator || can(coordinator, 'session locks')) return;
  warn(
    'serialAccess with a coordinator that cannot lock sessions (acquireLock, renewLock, releaseLock) holds within each process only',
    'ESM_SERIAL_ACCESS_LOCAL',
  );
}

/** An in-process store (ours or express-session's): right with the in-process coordinator. */
function isInProcess(store: Store): boolean {
  if (store instanceof MemoryStore || store instanceof ExpressMemoryStore) return true;
  // The application's own copy of express-session (another version, another install) fails instanceof.
  return store.constructor?.name === 'MemoryStore';
}

function warn(message: string, code: string): void {
  process.emitWarning(`express-session-management: ${message}`, { code });
}
