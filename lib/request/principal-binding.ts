import type { IncomingMessage } from 'node:http';
import createDebug from 'debug';
import type { SessionRuntime } from '../manager/runtime';
import type { ServletSession } from '../session/http-session';

const debug = createDebug('express-session-management');

/**
 * The `principal` option's answer for a request: a non-empty string, or
 * `undefined` (anonymous). Sessions are bound to the first user seen on
 * them (docs/architecture.md, "Principals").
 */
export function requestUser(runtime: SessionRuntime, req: IncomingMessage): string | undefined {
  const user: unknown = runtime.principal!(req);
  return user === undefined || user === null || user === '' ? undefined : String(user);
}

/**
 * Binds an unbound top-level session to the request's user, once known (at
 * login: the request that logged in ends with a user). A `principal` option
 * that throws here binds nothing.
 */
export function bindPrincipal(runtime: SessionRuntime, req: IncomingMessage, session: ServletSession): void {
  if (!runtime.principal || session.parent || session.state.principal !== undefined) return;
  let user: string | undefined;
  try {
    user = requestUser(runtime, req);
  } catch (error) {
    debug('the principal option threw at commit: %O', error);
    return;
  }
  if (user === undefined) return;
  session.state.principal = user;
  session.state.principalBound = true;
  session.state.dirty = true;
}
