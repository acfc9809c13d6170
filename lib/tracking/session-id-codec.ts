import { sign, unsign } from 'cookie-signature';
import { isWellFormedId } from './session-id';

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
  constructor(private readonly secrets: string[] | undefined) {}

  /** The value to send for `id`. */
  encode(id: string): string {
    return this.secrets ? `s:${sign(id, this.secrets[0])}` : id;
  }

  /** The id inside a client's value; `null` when malformed or badly signed. */
  decode(value: string | undefined): DecodedId | null {
    if (!value || value.length > 512) return null;
    if (!this.secrets) return isWellFormedId(value) ? { id: value, stale: false } : null;
    if (!value.startsWith('s:')) return null;
    const signed = value.slice(2);
    for (let i = 0; i < this.secrets.length; i++) {
      const id = unsign(signed, this.secrets[i]);
      if (id !== false) return isWellFormedId(id) ? { id, stale: i > 0 } : null;
    }
    return null;
  }
}
