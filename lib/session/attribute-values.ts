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
  if (type !== 'object' || value === null || plainData(value as object, value as object, [])) return;
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

/**
 * Whether `value` is plain data JSON keeps whole — plain objects and arrays
 * of strings, numbers, booleans and null, no `toJSON`, no cycle — checked
 * without JSON (the common case of {@link assertStorable}). `false`: let
 * `JSON.stringify` decide, and say why.
 */
function plainData(value: object, top: object, ancestors: object[]): boolean {
  if (!isPlain(value) || ancestors.includes(value)) return false;
  ancestors.push(value);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const member = record[key];
    const type = typeof member;
    if (type === 'object') {
      if (member !== null && !plainData(member as object, top, ancestors)) return false;
    } else if (type === 'function' || type === 'symbol' || type === 'bigint') {
      if (!(value === top && type === 'function' && (key === 'valueBound' || key === 'valueUnbound'))) return false;
    }
  }
  ancestors.pop();
  return true;
}

/** An object whose JSON is its own enumerable properties: a plain object or an array. */
function isPlain(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * A deep copy of an attribute's JSON data: plain objects and arrays copied
 * member by member, anything else through JSON (what storing would keep).
 */
export function copyValue<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (!isPlain(value)) return JSON.parse(JSON.stringify(value)) as T;
  if (Array.isArray(value)) return value.map(copyValue) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key] = copyValue((value as Record<string, unknown>)[key]);
  return copy as T;
}

/**
 * Whether `current` would be stored as `original` is: deep equality of plain
 * JSON data. Anything that is not plain data (a `Date`, a class instance)
 * counts as changed: an extra write is harmless, a lost one is not.
 */
export function sameValue(current: unknown, original: unknown): boolean {
  if (current === original) return typeof current !== 'object' || current === null || isPlain(current);
  if (typeof current !== 'object' || typeof original !== 'object' || current === null || original === null) return false;
  if (!isPlain(current) || !isPlain(original) || Array.isArray(current) !== Array.isArray(original)) return false;
  const a = current as Record<string, unknown>;
  const b = original as Record<string, unknown>;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(b, key) || !sameValue(a[key], b[key])) return false;
  }
  return true;
}
