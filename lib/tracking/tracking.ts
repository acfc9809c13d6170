import type { IncomingMessage, ServerResponse } from 'node:http';
import { serialize as serializeCookie } from 'cookie';
import type { ResolvedManagerOptions } from '../manager/options';

/** How a session id travels between client and server. */
export interface SessionTracking {
  /**
   * The raw value the client sent, if any (still %-encoded: the codec
   * decodes it). URL tracking also takes the id out of `req.url`, and marks
   * `res` (docs/url-tracking.md).
   */
  read(req: IncomingMessage, res?: ServerResponse): string | undefined;
  /**
   * Tells the client the (encoded) id. `lifetimeMs`: the cookie's own
   * lifetime (`null` a browser-session cookie); absent: the configured one.
   */
  write(res: ServerResponse, value: string, lifetimeMs?: number | null): void;
  /** Tells the client to forget the id. */
  clear(res: ServerResponse): void;
}

/** The id in a cookie (default `JSESSIONID`), like a servlet container. */
export class CookieTracking implements SessionTracking {
  private readonly attributes: NonNullable<Parameters<typeof serializeCookie>[2]>;
  /** `secure: 'auto'`: Secure exactly when the request is (`req.secure` honours `trust proxy`). */
  private readonly autoSecure: boolean;

  constructor(private readonly cookie: ResolvedManagerOptions['cookie']) {
    this.autoSecure = cookie.secure === 'auto';
    this.attributes = {
      path: cookie.path,
      domain: cookie.domain,
      secure: cookie.secure === true,
      httpOnly: cookie.httpOnly,
      sameSite: cookie.sameSite === false ? undefined : cookie.sameSite,
      maxAge: cookie.maxAge,
    };
  }

  read(req: IncomingMessage): string | undefined {
    const header = req.headers.cookie;
    if (!header?.includes(this.cookie.name)) return undefined;
    return cookieValue(header, this.cookie.name);
  }

  write(res: ServerResponse, value: string, lifetimeMs?: number | null): void {
    let attributes = this.attributesFor(res);
    if (lifetimeMs !== undefined) attributes = { ...attributes, maxAge: lifetimeMs === null ? undefined : Math.floor(lifetimeMs / 1000) };
    appendSetCookie(res, serializeCookie(this.cookie.name, value, attributes));
  }

  clear(res: ServerResponse): void {
    appendSetCookie(
      res,
      serializeCookie(this.cookie.name, '', { ...this.attributesFor(res), maxAge: undefined, expires: new Date(0) }),
    );
  }

  /** Whether the cookie goes out Secure on this response. */
  isSecure(res: ServerResponse): boolean {
    return this.autoSecure ? isSecureRequest(res) : this.attributes.secure === true;
  }

  private attributesFor(res: ServerResponse): NonNullable<Parameters<typeof serializeCookie>[2]> {
    return this.autoSecure ? { ...this.attributes, secure: isSecureRequest(res) } : this.attributes;
  }
}

/** The id in a request header, returned in the same response header (cookieless clients). */
export class HeaderTracking implements SessionTracking {
  constructor(private readonly header: string) {}

  read(req: IncomingMessage): string | undefined {
    const value = req.headers[this.header];
    if (typeof value !== 'string' || value.length === 0) return undefined;
    return value;
  }

  write(res: ServerResponse, value: string): void {
    res.setHeader(this.header, value);
  }

  clear(res: ServerResponse): void {
    res.setHeader(this.header, '');
  }
}

/**
 * The raw value of the first cookie called `name` in a Cookie header, as
 * the cookie package's `parse` finds it (trimmed; not %-decoded, which the
 * codec does), without parsing every other cookie of the header.
 */
export function cookieValue(header: string, name: string): string | undefined {
  for (let at = 0; at < header.length; ) {
    let end = header.indexOf(';', at);
    if (end < 0) end = header.length;
    const eq = header.indexOf('=', at);
    if (eq >= 0 && eq < end && header.slice(at, eq).trim() === name) {
      return header.slice(eq + 1, end).trim();
    }
    at = end + 1;
  }
  return undefined;
}

/** Whether the response's request came over TLS, as Express says (`req.secure`, honouring `trust proxy`). */
function isSecureRequest(res: ServerResponse): boolean {
  const req = (res as ServerResponse & { req?: IncomingMessage & { secure?: boolean } }).req;
  return req?.secure === true;
}

/** Adds a Set-Cookie line without dropping ones already set. */
function appendSetCookie(res: ServerResponse, line: string): void {
  const previous = res.getHeader('Set-Cookie');
  if (previous === undefined) res.setHeader('Set-Cookie', line);
  else res.setHeader('Set-Cookie', [...(Array.isArray(previous) ? previous : [String(previous)]), line]);
}
