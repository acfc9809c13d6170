/**
 * Watches the worker's real `process` for unhandled rejections. Jest hands a
 * test file a copy of `process` whose events Node never emits, so a listener
 * registered on the global `process` would never fire; `vm.runInThisContext`
 * evaluates in the main context and reaches the real one.
 */
import { runInThisContext } from 'node:vm';

/** What {@link watchUnhandledRejections} returns. */
export interface RejectionWatch {
  /** Reasons of the unhandled rejections seen so far. */
  readonly reasons: unknown[];
  /** Removes the listener. */
  stop(): void;
}

/** The process the worker runs in (not jest's sandbox copy). */
export function realProcess(): NodeJS.Process {
  return runInThisContext('process') as NodeJS.Process;
}

/** Starts recording unhandled rejections until `stop()`. */
export function watchUnhandledRejections(): RejectionWatch {
  const target = realProcess();
  const reasons: unknown[] = [];
  const listener = (reason: unknown): void => {
    reasons.push(reason);
  };
  target.on('unhandledRejection', listener);
  return {
    reasons,
    stop: () => {
      target.off('unhandledRejection', listener);
    },
  };
}
