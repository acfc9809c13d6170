/**
 * How MemoryStore keeps a record (lib/storage/memory-record.ts): one string
 * that gives back an equal record, whatever its cookie.
 */
import { expiresAtOf, pack, unpack, withCookie } from '../lib/storage/memory-record';
import type { SessionData } from 'express-session';

const record = (cookie: unknown): SessionData =>
  ({ cookie, esm: { v: 2, c: 1, a: 2 }, attributes: { user: { id: 42, roles: ['a'] }, n: 0 } }) as unknown as SessionData;

describe('pack and unpack', () => {
  it('give back an equal record for the cookie the manager writes, and fold that cookie away', () => {
    const expires = Date.UTC(2030, 0, 1);
    const usual = record({ originalMaxAge: 60_000, expires: new Date(expires).toISOString(), httpOnly: true, path: '/' });
    const kept = pack(usual);
    expect(unpack(kept)).toEqual(usual);
    expect(kept).not.toContain('httpOnly');
    expect(kept).not.toContain('attributes');
    expect(expiresAtOf(kept)).toBe(expires);
  });

  it('keep the field names of a record that is not exactly the manager\'s, and its field order', () => {
    const cookie = { originalMaxAge: 60_000, expires: '2030-01-01T00:00:00.000Z', httpOnly: true, path: '/' };
    const esm = { v: 2, c: 1, a: 2 };
    for (const other of [
      { cookie, user: 'ann', n: 1 }, // express-session's own, under the usual cookie
      { cookie, esm, attributes: { n: 1 }, extra: true },
      { cookie, attributes: { n: 1 }, esm },
      { cookie, esm, attributes: null },
      { cookie, esm: 'x', attributes: {} },
    ]) {
      const back = unpack(pack(other as unknown as SessionData));
      expect(back).toEqual(other);
      expect(Object.keys(back)).toEqual(Object.keys(other));
    }
    const usual = record(cookie);
    expect(Object.keys(unpack(pack(usual)))).toEqual(['cookie', 'esm', 'attributes']);
  });

  it('keep any other cookie as it is', () => {
    for (const cookie of [
      { originalMaxAge: null, expires: null, httpOnly: true, path: '/' },
      { originalMaxAge: 1000, expires: '2030-01-01T00:00:00.000Z', secure: true, httpOnly: true, path: '/' },
      { originalMaxAge: null, httpOnly: true, path: '/' },
      undefined,
    ]) {
      const kept = pack(record(cookie));
      expect(unpack(kept)).toEqual(record(cookie));
    }
    expect(expiresAtOf(pack(record({ originalMaxAge: null, expires: null, httpOnly: true, path: '/' })))).toBe(Infinity);
    expect(expiresAtOf(pack(record({ expires: '2030-01-01T00:00:00.000Z', path: '/x' })))).toBe(Date.UTC(2030, 0, 1));
  });

  it('share nothing with the record packed, and replace the cookie on a touch', () => {
    const original = record({ originalMaxAge: 60_000, expires: '2030-01-01T00:00:00.000Z', httpOnly: true, path: '/' });
    const kept = pack(original);
    (original as unknown as { attributes: { n: number } }).attributes.n = 99;
    expect((unpack(kept) as unknown as { attributes: { n: number } }).attributes.n).toBe(0);
    const touched = withCookie(kept, { originalMaxAge: 120_000, expires: '2031-01-01T00:00:00.000Z', httpOnly: true, path: '/' } as never);
    expect(unpack(touched).cookie).toEqual({ originalMaxAge: 120_000, expires: '2031-01-01T00:00:00.000Z', httpOnly: true, path: '/' });
    expect(expiresAtOf(touched)).toBe(Date.UTC(2031, 0, 1));
  });
});
