/**
 * What may be stored as an attribute (docs/architecture.md, "Sessions"):
 * string names that are not prototype keys, and values JSON keeps whole.
 */

const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/** Attribute names must be strings and must not be prototype keys. */
export function assertAttributeName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new TypeError('attribute names must be strings');
  if (RESERVED_NAMES.has(name)) throw new TypeError(`"${name}" cannot be an attribute name`);
}

/**
 * A value is storable when JSON keeps it whole: no functions, symbols or
 * BigInt anywhere, no cycles, no Map/Set (JSON turns them into `{}`).
 * `valueBound` / `valueUnbound` methods on the value itself are allowed (they
 * are not stored).
 */
export function assertStorable(name: string, value: unknown): void {
  const type = typeof value;
  if (type === 'function' || type === 'symbol' || type === 'bigint') {
    throw new TypeError(`setAttribute("${name}"): a ${type} cannot be stored as JSON`);
  }
  if (type !== 'object') return;
  try {
    JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
      const t = typeof v;
      if (t === 'function' || t === 'symbol') {
        if (this === value && (key === 'valueBound' || key === 'valueUnbound')) return undefined;
        throw new TypeError(`"${key}" is a ${t}`);
      }
      if (v instanceof Map || v instanceof Set || v instanceof WeakMap || v instanceof WeakSet) {
        throw new TypeError(`"${key}" is a ${v.constructor.name}, which JSON turns into {}`);
      }
      return v;
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TypeError(`setAttribute("${name}"): the value cannot be stored as JSON (${reason})`);
  }
}
