/**
 * Breaks an express-session store on demand, in place: chosen methods answer
 * with an error, never answer at all (the callback is never called), or
 * start only after a delay (a slow store), until repaired. For the store-failure suites; patch before or after building the
 * manager (it looks methods up on every call).
 */
import type { Store } from 'express-session';

/** The store methods a breaker can break. */
export type BreakableMethod = 'get' | 'set' | 'touch' | 'destroy';

/** How a broken method behaves: call back with an error, or never call back. */
export type Breakage = 'error' | 'hang';

/** Switches of a store patched by {@link breakableStore}. */
export interface StoreBreaker {
  /** Breaks `methods` (default: all four) the given way. */
  break(how: Breakage, methods?: BreakableMethod[]): void;
  /** Makes `methods` (default: all four) start `ms` late, and then work. */
  slow(ms: number, methods?: BreakableMethod[]): void;
  /** Makes every method work again. */
  repair(): void;
  /** Calls answered with an error or left unanswered so far. */
  readonly failedCalls: number;
}

const METHODS: BreakableMethod[] = ['get', 'set', 'touch', 'destroy'];

/** A callback-style store method, loosely typed. */
type AnyMethod = (...args: unknown[]) => unknown;

/** Patches `store` so that its methods can be broken and repaired. */
export function breakableStore(store: Store): StoreBreaker {
  const broken = new Map<BreakableMethod, Breakage | { slowMs: number }>();
  let failedCalls = 0;
  const target = store as unknown as Record<string, unknown>;
  for (const method of METHODS) {
    const original = target[method];
    if (typeof original !== 'function') continue;
    target[method] = (...args: unknown[]): unknown => {
      const how = broken.get(method);
      if (how === undefined) return (original as AnyMethod).apply(store, args);
      if (typeof how === 'object') {
        setTimeout(() => (original as AnyMethod).apply(store, args), how.slowMs);
        return undefined;
      }
      failedCalls++;
      const callback = args[args.length - 1];
      if (how === 'error' && typeof callback === 'function') {
        setImmediate(() => (callback as AnyMethod)(new Error(`store.${method} failed on purpose`)));
      }
      return undefined;
    };
  }
  return {
    break(how, methods = METHODS) {
      for (const method of methods) broken.set(method, how);
    },
    slow(ms, methods = METHODS) {
      for (const method of methods) broken.set(method, { slowMs: ms });
    },
    repair() {
      broken.clear();
    },
    get failedCalls() {
      return failedCalls;
    },
  };
}
