import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ConfigurationError } from '../errors';
import { SESSION_ID } from '../storage/session-key';

/** Fewest characters an id made by the `genid` option may have (96 bits of base64url). */
const MIN_GENERATED_LENGTH = 16;

/** Bytes of one id: 256 random bits. */
const ID_BYTES = 32;
/** Ids drawn from node:crypto at once (one call per 64 sessions, as `crypto.randomUUID` keeps 128 ahead). */
const IDS_PER_DRAW = 64;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/**
 * A new session id: 256 random bits from node:crypto, base64url (43
 * characters), as uid-safe makes them for express-session (which uses 192).
 * The bytes are drawn for 64 ids at once, each used once: one system call
 * per 64 new sessions instead of one each.
 */
export function generateSessionId(): string {
  if (poolOffset >= pool.length) {
    pool = randomBytes(ID_BYTES * IDS_PER_DRAW);
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + ID_BYTES);
  poolOffset += ID_BYTES;
  return id;
}

/**
 * Whether a client-sent id could name a session: base64url characters only,
 * at most 128 of them. Ids written by express-session (uid-safe) qualify.
 */
export function isWellFormedId(id: string): boolean {
  return SESSION_ID.test(id);
}

/**
 * What makes the ids of new sessions: ours, or the `genid` option's, whose
 * every answer is checked — an id the codec would refuse as malformed when
 * the client sends it back is a session lost at once.
 */
export function sessionIdMaker(genid: ((req: never) => string) | undefined): (req: IncomingMessage) => string {
  if (!genid) return generateSessionId;
  return (req) => {
    const id: unknown = (genid as (req: IncomingMessage) => unknown)(req);
    if (typeof id === 'string' && id.length >= MIN_GENERATED_LENGTH && isWellFormedId(id)) return id;
    const shown = typeof id === 'string' ? `"${id.slice(0, 40)}"` : typeof id;
    throw new ConfigurationError([`genid returned ${shown}: an id must be ${MIN_GENERATED_LENGTH}-128 characters of A-Z a-z 0-9 _ -`]);
  };
}
