/**
 * The JSON rules of attributes (lib/session/attribute-values.ts): copies of
 * what an application is handed, and how a change made in place is noticed
 * at commit (docs/architecture.md, "Sessions").
 */
import { assertStorable, copyValue, sameValue } from '../lib/session/attribute-values';
import { seededRandom } from './support/seeded-random';

/** Random JSON data: nested objects and arrays of strings, numbers, booleans and null. */
function randomJson(random: () => number, depth = 0): unknown {
  const kind = Math.floor(random() * (depth > 3 ? 4 : 6));
  if (kind === 0) return Math.floor(random() * 10);
  if (kind === 1) return ['a', 'b', ''][Math.floor(random() * 3)];
  if (kind === 2) return random() < 0.5;
  if (kind === 3) return null;
  if (kind === 4) return Array.from({ length: Math.floor(random() * 4) }, () => randomJson(random, depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, (_, i) => [`k${i}`, randomJson(random, depth + 1)]));
}

describe('copyValue', () => {
  it('copies JSON data deeply: equal as JSON, sharing no object', () => {
    const random = seededRandom(3);
    for (let i = 0; i < 500; i++) {
      const value = randomJson(random);
      const copy = copyValue(value);
      expect(JSON.stringify(copy)).toBe(JSON.stringify(value));
      if (typeof value === 'object' && value !== null) expect(copy).not.toBe(value);
    }
  });

  it('copies what is not plain data as JSON keeps it (a Date becomes its ISO string)', () => {
    expect(copyValue({ at: new Date(0) })).toEqual({ at: '1970-01-01T00:00:00.000Z' });
  });
});

describe('sameValue', () => {
  it('finds a copy the same, and any change made in place to it different', () => {
    const random = seededRandom(5);
    for (let i = 0; i < 500; i++) {
      const original = { data: randomJson(random) };
      const copy = copyValue(original);
      expect(sameValue(copy, original)).toBe(true);
      // A leaf deep inside changed in place.
      let node: Record<string, unknown> = copy;
      let key = 'data';
      while (typeof node[key] === 'object' && node[key] !== null && Object.keys(node[key] as object).length > 0) {
        node = node[key] as Record<string, unknown>;
        key = Object.keys(node)[0];
      }
      node[key] = 'changed in place';
      expect(sameValue(copy, original)).toBe(JSON.stringify(copy) === JSON.stringify(original));
    }
  });

  it('never calls data the same when JSON would store something else', () => {
    expect(sameValue({ a: [1, 2] }, { a: [1, 2, 3] })).toBe(false);
    expect(sameValue({ a: { b: 1 } }, { a: { b: '1' } })).toBe(false);
    expect(sameValue([1], { 0: 1 })).toBe(false);
    expect(sameValue({ a: 1 }, { b: 1 })).toBe(false);
    // Not plain data counts as changed: a write too many is harmless, one too few is not.
    const date = new Date(0);
    expect(sameValue({ at: date }, { at: date })).toBe(false);
  });
});

describe('assertStorable', () => {
  it('accepts JSON data, however nested', () => {
    const random = seededRandom(7);
    for (let i = 0; i < 500; i++) expect(() => assertStorable('a', { data: randomJson(random) })).not.toThrow();
    const shared = { x: 1 };
    expect(() => assertStorable('a', { one: shared, two: shared, list: [shared, shared] })).not.toThrow(); // shared, not a cycle
  });

  it('accepts what JSON keeps through toJSON, and valueBound/valueUnbound on the value itself', () => {
    expect(() => assertStorable('a', { at: new Date(0), nested: { at: new Date(1) } })).not.toThrow();
    expect(() => assertStorable('a', { toJSON: () => ({ kept: true }) })).not.toThrow();
    expect(() => assertStorable('a', { n: 1, valueBound() {}, valueUnbound() {} })).not.toThrow();
  });

  it('refuses, with the reason, what JSON would lose or cannot write, at any depth', () => {
    const cyclic: Record<string, unknown> = { a: { b: {} } };
    ((cyclic.a as Record<string, unknown>).b as Record<string, unknown>).back = cyclic;
    const cases: [unknown, RegExp][] = [
      [{ a: { f() {} } }, /"f" is a function/],
      [{ a: [1, () => 2] }, /"1" is a function/],
      [{ a: { valueBound() {} } }, /"valueBound" is a function/], // only on the value itself
      [{ a: { s: Symbol('s') } }, /"s" is a symbol/],
      [{ a: { n: 1n } }, /cannot be stored as JSON/],
      [{ a: { m: new Map() } }, /"m" is a Map/],
      [[new Set([1])], /"0" is a Set/],
      [cyclic, /cannot be stored as JSON/],
    ];
    for (const [value, reason] of cases) expect(() => assertStorable('cart', value)).toThrow(reason);
    expect(() => assertStorable('cart', () => 1)).toThrow(/a function cannot be stored/);
  });
});
