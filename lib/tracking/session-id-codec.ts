import { sign, unsign } from 'cookie-signature';
import { isWellFormedId } from './session-id';

/** How many verified signed values the codec remembers (a few hundred kB at most). */
const VERIFIED_CACHE_SIZE = 4096;

/** An id read from a client, and whether its value should be re-issued. */
export interface DecodedId {
  id: string;
  /** Signed with a secret other than the first: send it again, freshly signed. */
  stale: boolean;
}

/**
 * Turns ids into what travels in the cookie or header and back. With secrets
 * the value is express-session's `s:<id>.<signature>` (the first secret signs,
 * every secret verifies, so secrets can be rotated); without, the bare id.
 */
export class SessionIdCodec {
  /**
   * Signed values verified lately, with what they decode to: the value is
   * its own proof (only a holder of the secret can make one), so a value seen
   * before needs no second HMAC. Only verified values go in, the oldest out
   * first, so a client sending garbage cannot grow it.
   */
  private readonly verified = new Map<string, DecodedId>();

  constructor(private readonly secrets: string[] | undefined) {}

  /** The value to send for `id`. */
  encode(id: string): string {
    return this.secrets ? `s:${sign(id, this.secrets[0])}` : id;
  }

  /**
   * The id inside a client's raw value (%-encoded as cookies and headers
   * carry it); `null` when malformed or badly signed.
   */
  decode(raw: string | undefined): DecodedId | null {
    if (!raw || raw.length > 512) return null;
    const known = this.verified.get(raw);
    if (known) return known;
    const value = raw.includes('%') ? percentDecoded(raw) : raw;
    if (value === undefined) return null;
    if (!this.secrets) return isWellFormedId(value) ? { id: value, stale: false } : null;
    const decoded = this.verify(value, this.secrets);
    if (decoded) {
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(raw, decoded);
    }
    return decoded;
  }

  /** The id inside `s:<id>.<signature>` if a secret signed it (the first: not stale). */
  private verify(value: string, secrets: string[]): DecodedId | null {
    if (!value.startsWith('s:')) return null;
    const signed = value.slice(2);
    for (let i = 0; i < secrets.length; i++) {
      const id = unsign(signed, secrets[i]);
      if (id !== false) return isWellFormedId(id) ? { id, stale: i > 0 } : null;
    }
    return null;
  }
}

/** `decodeURIComponent`, or `undefined` for a malformed escape (no session, never a 500). */
function percentDecoded(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}
