/**
 * A coordinator that can be broken on demand: every call answers with an
 * error, or never answers, until repaired. It forwards to a real
 * `LocalCoordinator` and, being a plain object without `setCallTimeout`,
 * stands for a third-party coordinator: the manager must bound its calls
 * itself (docs/architecture.md, "Faults").
 */
import { LocalCoordinator, type Coordinator } from '../../lib/index';
import type { Breakage } from './store-breaker';

/** A coordinator patched by {@link breakableCoordinator}, with its switches. */
export interface CoordinatorBreaker {
  coordinator: Coordinator;
  /** Breaks every call but `onKill` the given way. */
  break(how: Breakage): void;
  repair(): void;
  /** Calls answered with an error or left unanswered so far. */
  readonly failedCalls: number;
}

/** A breakable coordinator over a fresh `LocalCoordinator`. */
export function breakableCoordinator(): CoordinatorBreaker {
  const inner = new LocalCoordinator();
  let broken: Breakage | undefined;
  let failedCalls = 0;
  function guarded<A extends unknown[], R>(call: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return (...args: A) => {
      if (broken === undefined) return call(...args);
      failedCalls++;
      return broken === 'hang' ? new Promise<R>(() => undefined) : Promise.reject(new Error('coordinator failed on purpose'));
    };
  }
  const coordinator: Coordinator = {
    enter: guarded((...args) => inner.enter(...args)),
    inspect: guarded((...args) => inner.inspect(...args)),
    leave: guarded((...args) => inner.leave(...args)),
    remove: guarded((...args) => inner.remove(...args)),
    claim: guarded((...args) => inner.claim(...args)),
    kill: guarded((...args) => inner.kill(...args)),
    onKill: (listener) => inner.onKill(listener),
    keys: guarded((...args) => inner.keys(...args)),
    count: guarded(() => inner.count()),
    keysOf: guarded((...args) => inner.keysOf(...args)),
    due: guarded((...args) => inner.due(...args)),
  };
  return {
    coordinator,
    break(how) {
      broken = how;
    },
    repair() {
      broken = undefined;
    },
    get failedCalls() {
      return failedCalls;
    },
  };
}
