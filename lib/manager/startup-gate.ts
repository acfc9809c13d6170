import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * Holds back requests, sweeps and admin calls until the manager has read its
 * snapshot (docs/architecture.md, "Persistence"), so to every caller the
 * saved sessions are there from the start. Once open, it costs one boolean
 * test a call.
 */
export class StartupGate {
  /** Resolves when the gate opens; never rejects. */
  readonly opened: Promise<void>;
  private open: boolean;

  /** `loading`: the work to wait for (must not reject); none: open from the start. */
  constructor(loading: Promise<void> | undefined) {
    this.open = loading === undefined;
    this.opened = loading === undefined ? Promise.resolve() : loading.then(() => {
      this.open = true;
    });
  }

  /** `handler`, called once the gate is open (at once when it is). */
  handler(handler: RequestHandler): RequestHandler {
    return (req: Request, res: Response, next: NextFunction): void => {
      if (this.open) {
        handler(req, res, next);
        return;
      }
      this.opened.then(() => handler(req, res, next)).catch(next);
    };
  }

  /** `work()`, started once the gate is open. */
  call<T>(work: () => Promise<T>): Promise<T> {
    return this.open ? work() : this.opened.then(work);
  }
}
