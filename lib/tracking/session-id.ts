import { randomBytes } from 'node:crypto';
import { SESSION_ID } from '../storage/session-key';

/**
 * A new session id: 256 random bits from node:crypto, base64url (43
 * characters), as uid-safe makes them for express-session (which uses 192).
 */
export function generateSessionId(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Whether a client-sent id could name a session: base64url characters only,
 * at most 128 of them. Ids written by express-session (uid-safe) qualify.
 */
export function isWellFormedId(id: string): boolean {
  return SESSION_ID.test(id);
}
