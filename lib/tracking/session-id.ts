import { randomBytes } from 'node:crypto';

/** Longest id accepted from a client; anything longer is "no session". */
const MAX_ID_LENGTH = 128;
const ID_PATTERN = /^[A-Za-z0-9_-]+$/;

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
  return id.length > 0 && id.length <= MAX_ID_LENGTH && ID_PATTERN.test(id);
}
