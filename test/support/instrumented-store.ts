/**
 * Wrappers that patch an express-session store instance in place: count its
 * calls, slow its answers, or make it fail. Patch before building the
 * manager or after: the manager looks the methods up on every call.
 */
import type { Store } from 'express-session';

/** The store methods the wrappers know. */
export type StoreMethod = 'get' | 'set' | 'touch' | 'destroy';

/** Calls per method since the counter was installed (or last reset). */
export interface StoreCallCounts extends Record<StoreMethod, number> {
  /** Sets every count back to 0. */
  reset(): void;
}

const METHODS: StoreMethod[] = ['get', 'set', 'touch', 'destroy'];

/** A callback-style store method, loosely typed. */
type AnyMethod = (...args: unknown[]) => unknown;

/** Counts calls of `get`, `set`, `touch` and `destroy` on `store`. */
export function countCalls(store: Store): StoreCallCounts {
  const counts: StoreCallCounts = {
    get: 0,
    set: 0,
    touch: 0,
    destroy: 0,
    reset() {
      for (const method of METHODS) counts[method] = 0;
    },
  };
  for (const method of METHODS) {
    wrap(store, method, (original, args) => {
      counts[method]++;
      return original(...args);
    });
  }
  return counts;
}

/**
 * Delays the given methods by `ms` before the store even starts them: a store
 * on a slow network, whose write is not there until it has answered.
 */
export function delayAnswers(store: Store, ms: number, methods: StoreMethod[] = METHODS): void {
  for (const method of methods) {
    wrap(store, method, (original, args) => {
      setTimeout(() => original(...args), ms);
      return undefined;
    });
  }
}

/** Switches for {@link failCalls}: a method fails while its switch is on. */
export type StoreFailures = Record<StoreMethod, boolean>;

/** Makes the given methods answer with an error while their switch is on (all off at first). */
export function failCalls(store: Store): StoreFailures {
  const failures: StoreFailures = { get: false, set: false, touch: false, destroy: false };
  for (const method of METHODS) {
    wrap(store, method, (original, args) => {
      if (!failures[method]) return original(...args);
      const callback = args[args.length - 1];
      if (typeof callback === 'function') queueMicrotask(() => (callback as AnyMethod)(new Error(`${method} failed on purpose`)));
      return undefined;
    });
  }
  return failures;
}

/** Replaces `store[method]` (when it has one) by `replacement(original, args)`. */
function wrap(store: Store, method: StoreMethod, replacement: (original: AnyMethod, args: unknown[]) => unknown): void {
  const target = store as unknown as Record<string, unknown>;
  const current = target[method];
  if (typeof current !== 'function') return;
  const original: AnyMethod = (...args) => (current as AnyMethod).apply(store, args);
  target[method] = (...args: unknown[]) => replacement(original, args);
}
