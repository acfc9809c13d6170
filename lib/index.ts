/**
 * express-session-management: the Servlet HttpSession API for Express over
 * any express-session store. This file only re-exports.
 */
import './request/express-request';
import type { RequestHandler } from 'express';
import { splitOptions } from './manager/option-resolution';
import type { SessionManagementOptions, SessionManagerOptions } from './manager/options';
import { SessionManager } from './manager/session-manager';

export { SessionManager, type SessionManagerStats } from './manager/session-manager';
export { MemoryStore, type MemoryStoreOptions } from './storage/memory-store';
export { LocalCoordinator } from './coordination/local/local-coordinator';
export type { SweepResult } from './expiry/reaper';
export type { SessionAdmin, SessionInfo, KillResult } from './admin/session-admin';
export type { ListOptions } from './admin/admin-input';
export type { AdminRouterOptions } from './admin/admin-router';
export type { Coordinator, AccessEntry, LeaveUpdate } from './coordination/coordinator';
export type { HttpSession } from './session/http-session';
export type { Clock } from './clock';
export type {
  AppOptions,
  CookieOptions,
  PersistOptions,
  SerialAccessOptions,
  SessionManagerOptions,
  SessionManagementOptions,
  UrlOptions,
} from './manager/options';
export type {
  AttributeEvent,
  AttributeReplacedEvent,
  BindingEvent,
  DestroyReason,
  ListenerErrorEvent,
  SessionBindingListener,
  SessionCreatedEvent,
  SessionDestroyedEvent,
  SessionEventBase,
  SessionIdChangedEvent,
  SessionManagerEvents,
} from './manager/events';
export {
  BadRequestError,
  ConfigurationError,
  IllegalStateError,
  SessionAccessTimeoutError,
  SessionManagementError,
  StoreUnavailableError,
  TooManySessionsError,
  UnauthorizedSessionRequestError,
} from './errors';

/** Builds a session manager (one per process). */
export function createSessionManager(options?: SessionManagerOptions): SessionManager {
  return new SessionManager(options);
}

/** `app.use(sessionManagement())`: a manager and its middleware in one call; the manager is on `.manager`. */
export function sessionManagement(options?: SessionManagementOptions): RequestHandler & { manager: SessionManager } {
  const { manager: managerOptions, app } = splitOptions(options);
  const manager = new SessionManager(managerOptions);
  return Object.assign(manager.middleware(app), { manager });
}
