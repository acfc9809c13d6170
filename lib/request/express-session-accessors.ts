import type { IncomingMessage } from 'node:http';
import type { Store } from 'express-session';
import { ConfigurationError } from '../errors';
import type { RequestContext } from './request-context';
import { sessionIdOf, sessionView } from './express-session-facade';

/**
 * Where the default app's middleware puts its context for `req.session`
 * (docs/architecture.md, "express-session compatibility"). `Symbol.for`: one
 * key however many copies of the package a process loaded.
 */
export const kCompat: unique symbol = Symbol.for('express-session-management.compat') as never;

/** A request as the accessors see it. */
type CompatRequest = IncomingMessage & { [kCompat]?: RequestContext };

/** The express-session properties, as accessors: nothing is made until one is read. */
const ACCESSORS: PropertyDescriptorMap = {
  session: { get: getSession, set: setOwn('session'), configurable: true, enumerable: false },
  sessionID: { get: getSessionId, set: setOwn('sessionID'), configurable: true, enumerable: false },
  sessionStore: { get: getSessionStore, set: setOwn('sessionStore'), configurable: true, enumerable: false },
};

/**
 * Puts `req.session`, `req.sessionID` and `req.sessionStore` on `target`
 * (Express's request prototype, beside the Servlet methods). A request that
 * never reads them pays for nothing but the one property the middleware
 * sets. Other middleware may still assign them (express-session does): the
 * value then becomes the request's own, and wins.
 */
export function installSessionAccessors(target: object): void {
  Object.defineProperties(target, ACCESSORS);
}

function getSession(this: CompatRequest): object | undefined {
  const context = this[kCompat];
  return context && sessionView(context);
}

function getSessionId(this: CompatRequest): string | undefined {
  const context = this[kCompat];
  return context && sessionIdOf(context);
}

function getSessionStore(this: CompatRequest): Store | undefined {
  return this[kCompat]?.runtime.store.store;
}

/** An assignment makes the property the request's own (as on a plain object). */
function setOwn(name: string): (this: object, value: unknown) => void {
  return function set(this: object, value: unknown): void {
    Object.defineProperty(this, name, { value, writable: true, enumerable: true, configurable: true });
  };
}

/** Whether the warning about another `req.session` was given (once per process). */
let warned = false;

/**
 * Whether this library may provide `req.session` on `req`: not when other
 * middleware (express-session mounted too) set one already — it is left
 * alone, with one warning. Both on the same store and the same id is two
 * writers of one record, each overwriting the other's data: an error.
 */
export function mayProvideSession(req: IncomingMessage, store: Store, requestedId: string | undefined): boolean {
  if (!Object.hasOwn(req, 'session')) return true;
  const other = req as IncomingMessage & { sessionStore?: unknown; sessionID?: unknown };
  if (other.sessionStore === store && requestedId !== undefined && other.sessionID === requestedId) {
    throw new ConfigurationError([
      'express-session and express-session-management both serve this request with the same store and session id: ' +
        'each overwrites the data of the other; mount one of them (see "Migrating from express-session" in the README)',
    ]);
  }
  if (!warned) {
    warned = true;
    process.emitWarning(
      'express-session-management: req.session was already set by other middleware (express-session?); it is left alone. ' +
        'Running both on one cookie name and store loses data.',
      { code: 'ESM_REQ_SESSION_TAKEN' },
    );
  }
  return false;
}
