import { StoreUnavailableError } from '../errors';

/**
 * Settles like `work`, or rejects with `StoreUnavailableError(operation)`
 * once `ms` have passed without an answer. The timer is cleared as soon as
 * `work` settles and never keeps the process alive. What `work` does after
 * the bound is not our business any more; its late rejection is swallowed.
 */
export function withinBound<T>(work: Promise<T>, ms: number, operation: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new StoreUnavailableError(operation, new Error(`no answer within ${ms} ms`)));
    }, ms);
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof StoreUnavailableError ? error : new StoreUnavailableError(operation, error));
      },
    );
  });
}

/**
 * A view of `target` whose methods that return promises are bounded by
 * {@link withinBound}: for a coordinator that does not bound its own calls
 * (a third-party one), so that a Redis outage still turns into 503s within
 * `storeTimeout` (see docs/architecture.md, "Faults").
 */
export function boundCalls<T extends object>(target: T, ms: number): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      return function bounded(this: unknown, ...args: unknown[]): unknown {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(object, args);
        if (!(result instanceof Promise)) return result;
        return withinBound(result, ms, `coordinator ${String(property)}`);
      };
    },
  });
}
