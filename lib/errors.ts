/**
 * Errors thrown or passed to `next(err)` by the library. Every class has a
 * stable `code`; the ones that reach HTTP carry a `status` that Express error
 * handlers (and finalhandler) use as the response status.
 */

/** Base class: keeps `name` equal to the subclass name in stack traces. */
export class SessionManagementError extends Error {
  /** Stable machine-readable code, e.g. `ERR_ILLEGAL_STATE`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A method was called on an invalidated session, or there is no session. */
export class IllegalStateError extends SessionManagementError {
  constructor(message: string) {
    super('ERR_ILLEGAL_STATE', message);
  }
}

/** Bad options; `violations` lists every offending option, one line each. */
export class ConfigurationError extends SessionManagementError {
  readonly violations: string[];

  constructor(violations: string[]) {
    super('ERR_CONFIGURATION', `Invalid session management options:\n  - ${violations.join('\n  - ')}`);
    this.violations = violations;
  }
}

/**
 * The store or the coordinator failed or did not answer within
 * `storeTimeout`. The message names the operation only (it may reach the
 * client: `expose`); what the store said is the `cause`, for logs — a store's
 * own message may carry file paths, hosts or keys.
 */
export class StoreUnavailableError extends SessionManagementError {
  readonly status = 503;
  readonly statusCode = 503;
  readonly expose = true;

  constructor(operation: string, cause?: unknown) {
    super('ERR_STORE_UNAVAILABLE', `Session store unavailable (${operation})`, { cause });
  }
}

/** A request waited longer than `serialAccess.maxWaitTime` for its session. */
export class SessionAccessTimeoutError extends SessionManagementError {
  readonly status = 503;
  readonly statusCode = 503;
  readonly expose = true;

  constructor(waitedMs: number) {
    super('ERR_SESSION_ACCESS_TIMEOUT', `Timed out after ${waitedMs} ms waiting for the session`);
  }
}

/** The session is bound to another principal than the request's. */
export class UnauthorizedSessionRequestError extends SessionManagementError {
  readonly status = 403;
  readonly statusCode = 403;
  readonly expose = true;

  constructor() {
    super('ERR_UNAUTHORIZED_SESSION_REQUEST', 'The session belongs to another user');
  }
}

/** An administration input (id, app, principal, limit, cursor) is malformed: 400, with every violation. */
export class BadRequestError extends SessionManagementError {
  readonly status = 400;
  readonly statusCode = 400;
  readonly expose = true;

  constructor(readonly violations: string[]) {
    super('ERR_BAD_REQUEST', violations.join('; '));
  }
}

/**
 * A cap on sessions was reached: `maxActiveSessions` (503, with
 * `retryAfter` seconds for a `Retry-After` header: the request that would
 * create one more session is refused, existing sessions go on) or
 * `maxSessionsPerPrincipal` with `onMaxSessions: 'reject'` (403: the login
 * is refused, its session not kept).
 */
export class TooManySessionsError extends SessionManagementError {
  readonly status: 403 | 503;
  readonly statusCode: 403 | 503;
  readonly expose = true;
  /** Seconds to wait before trying again (the 503 only). */
  readonly retryAfter: number | undefined;

  constructor(cap: 'maxActiveSessions' | 'maxSessionsPerPrincipal') {
    super(
      'ERR_TOO_MANY_SESSIONS',
      cap === 'maxActiveSessions' ? 'Too many sessions: try again later' : 'Too many sessions for this user: log out elsewhere first',
    );
    this.status = cap === 'maxActiveSessions' ? 503 : 403;
    this.statusCode = this.status;
    this.retryAfter = cap === 'maxActiveSessions' ? 60 : undefined;
  }
}
