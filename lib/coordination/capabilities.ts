import { ConfigurationError } from '../errors';
import type {
  AccessTracking,
  BoundedCalls,
  CommitLocks,
  Coordinator,
  ExpiryIndex,
  KillSignals,
  RecordColocation,
  RequestLeases,
  SessionCaps,
  SessionClaims,
  SessionIndex,
  SessionLocking,
} from './coordinator';

/** The abilities a coordinator may have, each with the methods that make it up. */
const CAPABILITIES = {
  'access tracking': ['enter', 'inspect', 'leave', 'remove'],
  claims: ['claim'],
  'an expiry index': ['due'],
  'session locks': ['acquireLock', 'renewLock', 'releaseLock'],
  'commit locks': ['lockForCommit', 'unlockAfterCommit'],
  'kill signals': ['kill', 'onKill'],
  'a session index': ['keys', 'count', 'keysOf'],
  'bounded calls': ['setCallTimeout'],
  'request leases': ['useClock', 'renewLease'],
  'record colocation': ['colocate'],
  'session caps': ['admitSession', 'releaseSession', 'liveSessions', 'principalSessions', 'admitPrincipal'],
} as const satisfies Record<string, readonly string[]>;

/** The name of one ability, as error messages say it. */
export type Capability = keyof typeof CAPABILITIES;

/** What each ability adds to a coordinator's type. */
interface CapabilityTypes {
  'access tracking': AccessTracking;
  claims: SessionClaims;
  'an expiry index': ExpiryIndex;
  'session locks': SessionLocking;
  'commit locks': CommitLocks;
  'kill signals': KillSignals;
  'a session index': SessionIndex;
  'bounded calls': BoundedCalls;
  'request leases': RequestLeases;
  'record colocation': RecordColocation;
  'session caps': SessionCaps;
}

/** Whether `coordinator` has every method of `capability`. */
export function can<C extends Capability>(coordinator: object, capability: C): coordinator is CapabilityTypes[C] {
  const methods: readonly string[] = CAPABILITIES[capability];
  return methods.every((method) => typeof (coordinator as Record<string, unknown>)[method] === 'function');
}

/** Abilities something needs, and what (for the message). */
export type Need = [capabilities: Capability[], what: string];

/**
 * One line per need `coordinator` falls short of, naming what it lacks and
 * what needs it, e.g. `coordinator lacks claims (claim), which every
 * coordinator needs`; none when it can do all.
 */
export function missingCapabilities(coordinator: object, needs: readonly Need[]): string[] {
  const lines: string[] = [];
  for (const [capabilities, what] of needs) {
    const missing = capabilities.filter((capability) => !can(coordinator, capability));
    if (missing.length === 0) continue;
    const named = missing.map((capability) => `${capability} (${CAPABILITIES[capability].join(', ')})`).join(' and ');
    lines.push(`coordinator lacks ${named}, which ${what}`);
  }
  return lines;
}

/** What every coordinator must be able to do (expiry, kills and cascades are claimed once). */
export const BASE_NEED: Need = [['access tracking', 'claims'], 'every coordinator needs'];

/** Narrows an object that passed the {@link BASE_NEEDS} check. */
export function isCoordinator(coordinator: object): coordinator is Coordinator {
  return can(coordinator, 'access tracking') && can(coordinator, 'claims');
}

/** `coordinator`, if it has `capability`; else a `ConfigurationError` saying what needs it. */
export function needs(coordinator: Coordinator, capability: Capability, what: string): Coordinator {
  const missing = missingCapabilities(coordinator, [[[capability], `${what} needs`]]);
  if (missing.length > 0) throw new ConfigurationError(missing);
  return coordinator;
}
