import type { IncomingMessage } from 'node:http';
import type { SessionRuntime } from '../manager/runtime';

/**
 * The `principal` option's answer for a request: a non-empty string, or
 * `undefined` (anonymous). Sessions are bound to the first user seen on
 * them (docs/architecture.md, "Principals"), when the request that logged in
 * commits (`session-caps.ts`).
 */
export function requestUser(runtime: SessionRuntime, req: IncomingMessage): string | undefined {
  const user: unknown = runtime.principal!(req);
  return user === undefined || user === null || user === '' ? undefined : String(user);
}
