import type { ServerResponse } from 'node:http';
import onHeaders from 'on-headers';
import createDebug from 'debug';
import { TooManySessionsError } from '../errors';
import type { RequestContext } from './request-context';

const debug = createDebug('express-session-management');

/** The lifetime a session's cookie is written with: its own (`-1`: none), or `undefined` for the configured one. */
function ownLifetime(cookieMaxAge: number | undefined): number | null | undefined {
  if (cookieMaxAge === undefined) return undefined;
  return cookieMaxAge < 0 ? null : cookieMaxAge;
}

/** The hooks of the requests' apps on a response (one, or one per app mounted), for {@link responseClosed}. */
const kHooks = Symbol('express-session-management.hooks');

type HookedResponse = ServerResponse & { [kHooks]?: ResponseHooks | ResponseHooks[] };

/** Every response's `close` listener. */
function responseClosed(this: HookedResponse): void {
  const held = this[kHooks];
  if (Array.isArray(held)) for (const hooks of held) hooks.closed();
  else held?.closed();
}

/**
 * The response seam of a request (Jetty gives it a class of its own): the
 * session id goes out with the headers, the commit happens before the
 * response ends (and its failure turns the response into a 503), and a
 * client that goes away is noticed (docs/architecture.md, "The request
 * path").
 */
export class ResponseHooks {
  /** `res.end` waits for the commit. */
  endHooked = false;
  private headersHooked = false;
  /** The commit failed: the response is a 503 and must not carry a session id. */
  private failed = false;
  /** Listening for the response's `close` (see `listen`). */
  private watching = false;
  /** Told when the client goes away (`watchClient`). */
  private onGone: (() => void) | undefined;
  /** The client went away before its response was complete. */
  private gone = false;
  /** Behind `goneSignal`; made on first use. */
  private goneController: AbortController | undefined;

  constructor(readonly context: RequestContext) {}

  private get res(): ServerResponse {
    return this.context.res;
  }

  /** The client went away before its response was complete. */
  get clientGone(): boolean {
    return this.gone || this.res.destroyed;
  }

  /**
   * Notices the client going away before its response is complete, and
   * calls `onGone` then: a request whose client left stops waiting (for its
   * serial-access turn, a lock) and holds nothing.
   */
  watchClient(onGone?: () => void): void {
    this.onGone = onGone;
    this.listen();
  }

  /**
   * Listens for the response's `close`, once per request: one listener
   * function for every response (no closure, no `once` wrapper), which finds
   * the hooks on the response.
   */
  private listen(): void {
    if (this.watching) return;
    this.watching = true;
    const res = this.res as HookedResponse;
    this.gone = res.destroyed;
    if (this.gone) return;
    const held = res[kHooks];
    if (held === undefined) {
      res[kHooks] = this;
      res.on('close', responseClosed);
    } else {
      res[kHooks] = Array.isArray(held) ? [...held, this] : [held, this]; // several apps on one request
    }
  }

  /** The response closed: complete, or cut short by the client going away. */
  closed(): void {
    if (!this.res.writableFinished) {
      this.gone = true;
      this.goneController?.abort();
      this.onGone?.();
    }
    if (this.endHooked) this.commitAfterAbort();
  }

  /** Aborts when the client goes away (made only for a wait that needs it: few requests wait). */
  get goneSignal(): AbortSignal {
    if (!this.goneController) {
      this.goneController = new AbortController();
      if (this.clientGone) this.goneController.abort();
    }
    return this.goneController.signal;
  }

  /** Defers `res.end` until the commit is done, and commits on a client abort too. */
  hookEnd(): void {
    if (this.endHooked) return;
    this.endHooked = true;
    const res = this.res;
    const end = res.end as (...args: unknown[]) => ServerResponse;
    const hooks = this;
    res.end = function endAfterCommit(this: ServerResponse, ...args: unknown[]): ServerResponse {
      res.end = end as ServerResponse['end'];
      if (hooks.context.commitNow()) {
        end.apply(res, args); // nothing to store: no wait
        hooks.context.finish();
        return res;
      }
      hooks.trackCommit().then(
        () => {
          end.apply(res, args);
          hooks.context.finish();
        },
        (error: unknown) => {
          hooks.failResponse(error, end, args);
          hooks.context.finish();
        },
      );
      return res;
    } as ServerResponse['end'];
    this.listen(); // a client that goes away still gets its commit
  }

  /** Writes the session id (or its removal) as the headers go out. */
  hookHeaders(): void {
    if (this.headersHooked) return;
    this.headersHooked = true;
    onHeaders(this.res, () => this.writeTracking());
  }

  /** Finishes the session work of a request whose client went away (nothing else will end it). */
  commitAfterAbort(): void {
    if (this.context.committing) return;
    this.trackCommit()
      .catch((error: unknown) => debug('commit after abort failed: %O', error))
      .finally(() => this.context.finish());
  }

  private trackCommit(): Promise<void> {
    const work = this.context.commit();
    this.context.runtime.track(work);
    return work;
  }

  /** Sends the id (new, changed, re-signed) or clears it. */
  private writeTracking(): void {
    const { runtime, session, loaded, requestedId } = this.context;
    const { tracking, codec } = runtime;
    const res = this.res;
    if (this.failed) return;
    if (this.context.forgetId) {
      if (requestedId !== null) tracking.clear(res);
    } else if (this.context.killed && session === loaded) {
      if (!this.context.sharedId) tracking.clear(res);
    } else if (session.state.status === 'live') {
      const id = session.getId();
      const { state } = session;
      if (state.fresh || id !== requestedId || this.context.staleSignature || state.cookieDue) {
        tracking.write(res, codec.encode(id), ownLifetime(state.cookieMaxAge));
      }
    } else if (loaded !== null && loaded.state.status === 'invalid' && !this.context.sharedId) {
      tracking.clear(res); // only when no other app holds a session on the id
    }
  }

  /**
   * A failed commit must not look like success: a 503 (or the status of a
   * cap that refused the session: `TooManySessionsError`), or a cut
   * connection if headers are out.
   */
  private failResponse(error: unknown, end: (...args: unknown[]) => ServerResponse, args: unknown[]): void {
    debug('commit failed: %O', error);
    const res = this.res;
    if (res.headersSent) {
      res.destroy(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.failed = true;
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    const { instruments } = this.context.runtime;
    if (instruments.active) instruments.rejected(error instanceof TooManySessionsError ? error.status : 503);
    const callback = args.find((a) => typeof a === 'function');
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    if (error instanceof TooManySessionsError) {
      res.statusCode = error.status;
      if (error.retryAfter !== undefined) res.setHeader('Retry-After', String(error.retryAfter));
      end.call(res, error.message, callback);
      return;
    }
    res.statusCode = 503;
    end.call(res, 'Service Unavailable: the session store did not accept the session', callback);
  }
}
