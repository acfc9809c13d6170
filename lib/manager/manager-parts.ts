import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import { can } from '../coordination/capabilities';
import type { Instruments, MetricsSource } from '../instruments';
import type { ResolvedManagerOptions } from './options';
import type { CapPolicy, SessionCounters, SessionRuntime } from './runtime';

/**
 * Small pieces of the manager's face that need none of its state but what
 * they are given: its stats' shape, the caps it shows, the admin's
 * principal, the metrics' source, how the id travels (docs/architecture.md,
 * "Caps" and "Metrics").
 */

/** The caps in force (`manager.caps()`, the admin page); `null`: none. */
export interface CapsInForce {
  /** Seconds. */
  maxLifetime: number | null;
  maxActiveSessions: number | null;
  maxSessionsPerPrincipal: number | null;
  onMaxSessions: 'evict-oldest' | 'reject' | null;
}

export function capsInForce(options: ResolvedManagerOptions): CapsInForce {
  const { maxLifetimeMs, maxActiveSessions, maxSessionsPerPrincipal, onMaxSessions } = options;
  return {
    maxLifetime: maxLifetimeMs === null ? null : maxLifetimeMs / 1000,
    maxActiveSessions: maxActiveSessions ?? null,
    maxSessionsPerPrincipal: maxSessionsPerPrincipal ?? null,
    onMaxSessions: maxSessionsPerPrincipal === undefined ? null : onMaxSessions,
  };
}

/** The admin's principal, read with the `principal` option (the `by` of a kill); one that throws reads as nobody. */
export function principalReader(principal: ResolvedManagerOptions['principal']): (req: IncomingMessage) => string | undefined {
  return (req) => {
    try {
      const user: unknown = principal?.(req as Request);
      return user === undefined || user === null || user === '' ? undefined : String(user);
    } catch {
      return undefined;
    }
  };
}

/**
 * Turns the hooks on and says how live sessions are counted: by the
 * coordinator's session caps (counted from now on), else from the session
 * index per app.
 */
export function metricsSource(runtime: SessionRuntime, apps: () => string[], count: (app: string) => Promise<number>): MetricsSource {
  const { coordinator, instruments, caps } = runtime;
  instruments.active = true;
  if (can(coordinator, 'session caps')) caps.countApps = true;
  const observed = coordinator as { observeCalls?: (instruments: Instruments) => void };
  if (typeof observed.observeCalls === 'function') observed.observeCalls(instruments);
  return {
    instruments,
    liveSessions: async () => {
      if (can(coordinator, 'session caps')) return coordinator.liveSessions(apps(), runtime.clock.now());
      return Object.fromEntries(await Promise.all(apps().map(async (app) => [app, await count(app)] as const)));
    },
  };
}

/** The caps as the request path applies them; apps are counted from the start with `maxActiveSessions`. */
export function capPolicy(options: ResolvedManagerOptions): CapPolicy {
  return {
    countApps: options.maxActiveSessions !== undefined,
    maxActive: options.maxActiveSessions ?? Infinity,
    maxPerPrincipal: options.maxSessionsPerPrincipal,
    evictOldest: options.onMaxSessions === 'evict-oldest',
    maxLifetimeMs: options.maxLifetimeMs,
    rotateOnLogin: options.rotateOnLogin,
  };
}

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

/** Whether the id travels in a cookie (alone or with URL rewriting). */
export function usesCookie(options: ResolvedManagerOptions): boolean {
  return options.tracking === 'cookie' || options.tracking === 'cookie+url';
}
