/**
 * Session ids (lib/tracking/session-id.ts, lib/tracking/session-id-codec.ts): 256 random bits
 * in base64url, and whatever a client sends that names no live session —
 * malformed, unsigned when signing is on, badly signed, oversized, unknown —
 * is simply "no session": a 200 with a fresh pending session, never a 500.
 */
import { sign } from 'cookie-signature';
import type { Express } from 'express';
import request from 'supertest';
import { MemoryStore, sessionManagement, type SessionManager, type SessionManagementOptions } from '../lib/index';
import { generateSessionId } from '../lib/tracking/session-id';
import { cookieFrom } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { probeApp, type ProbeState } from './support/probe-app';

const SECRET = 'id-secret';

describe('generateSessionId', () => {
  it('makes 43-character base64url ids of 256 random bits', () => {
    const id = generateSessionId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(32);
    expect(Buffer.from(id, 'base64url').toString('base64url')).toBe(id);
  });

  it('makes a different id every time', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => generateSessionId()));
    expect(ids.size).toBe(10_000);
  });
});

describe.each(EXPRESS_FLAVOURS)('requested session ids on %s', (_flavour, createExpress: () => Express) => {
  const managers: SessionManager[] = [];

  /** A probe app and a store that counts its reads. */
  function build(options?: SessionManagementOptions): { app: Express; store: MemoryStore; reads: () => number } {
    const store = new MemoryStore();
    let reads = 0;
    const get = store.get.bind(store);
    store.get = (sid, callback) => {
      reads++;
      return get(sid, callback);
    };
    const middleware = sessionManagement({ store, ...options });
    managers.push(middleware.manager);
    return { app: probeApp(createExpress, middleware).app, store, reads: () => reads };
  }

  /** The number of records in a MemoryStore. */
  function sizeOf(store: MemoryStore): Promise<number> {
    return new Promise((resolve, reject) =>
      store.length((err, n) => (err ? reject(err as Error) : resolve(n ?? 0))),
    );
  }

  afterEach(async () => {
    await Promise.all(managers.splice(0).map((manager) => manager.close()));
  });

  it('sends a 256-bit base64url id for a new session', async () => {
    const { app } = build();
    const res = await request(app).post('/set/a/1').expect(200);
    const id = (res.body as ProbeState).id!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookieFrom(res)).toBe(`JSESSIONID=${id}`);
  });

  describe('without a secret', () => {
    const malformed: [string, string][] = [
      ['a non-base64url id', 'abc$def!'],
      ['an id with a dot', 'abc.def'],
      ['a standard-base64 id with + and /', 'ab+cd/ef=='],
      ['an oversized (10 kB) cookie', 'a'.repeat(10_000)],
      ['an id one character too long (129)', 'a'.repeat(129)],
      ['a signed-looking value', `s:${sign('abc', 'some-secret')}`],
      ['an empty value', ''],
    ];

    it.each(malformed)('treats %s as no session: 200, requested id null, store not read', async (_what, value) => {
      const { app, reads } = build();
      const res = await request(app).get('/state').set('Cookie', `JSESSIONID=${encodeURIComponent(value)}`).expect(200);
      const state = res.body as ProbeState;
      expect(state.hasSession).toBe(false);
      expect(state.requestedId).toBeNull();
      expect(state.requestedIdValid).toBe(false);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(reads()).toBe(0);
    });

    it.each(malformed)('gives a request with %s a fresh pending session that its first write creates', async (_what, value) => {
      const { app, store } = build();
      const res = await request(app).post('/set/a/1').set('Cookie', `JSESSIONID=${encodeURIComponent(value)}`).expect(200);
      const state = res.body as ProbeState;
      expect(state.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(state.isNew).toBe(true);
      expect(state.attributes).toEqual({ a: '1' });
      expect(cookieFrom(res)).toBe(`JSESSIONID=${state.id}`);
      expect(await sizeOf(store)).toBe(1);
    });

    it('treats an unknown well-formed id as no session but reports it as the requested id', async () => {
      const { app, store, reads } = build();
      const unknown = generateSessionId();
      const res = await request(app).get('/state').set('Cookie', `JSESSIONID=${unknown}`).expect(200);
      const state = res.body as ProbeState;
      expect(state.hasSession).toBe(false);
      expect(state.requestedId).toBe(unknown);
      expect(state.requestedIdValid).toBe(false);
      expect(reads()).toBe(1);
      expect(await sizeOf(store)).toBe(0);
    });

    it('never adopts an unknown id: the session a write creates gets a new one', async () => {
      const { app } = build();
      const unknown = generateSessionId();
      const res = await request(app).post('/set/a/1').set('Cookie', `JSESSIONID=${unknown}`).expect(200);
      const state = res.body as ProbeState;
      expect(state.id).not.toBe(unknown);
      expect(state.requestedId).toBe(unknown);
      expect(cookieFrom(res)).toBe(`JSESSIONID=${state.id}`);
    });

    it('survives a garbage Cookie header', async () => {
      const { app } = build();
      const created = await request(app).post('/set/a/1').expect(200);
      const garbage = [
        ';;; =; JSESSIONID; %%%; JSESSIONID=%E0%A4%A; foo=bar=baz; ="; \\',
        'JSESSIONID="unterminated',
        'JSESSIONID=%',
        '=',
        `${'x'.repeat(5000)}=${'y'.repeat(5000)}`,
      ];
      for (const header of garbage) {
        const res = await request(app).get('/state').set('Cookie', header).expect(200);
        expect((res.body as ProbeState).hasSession).toBe(false);
        expect((res.body as ProbeState).requestedId).toBeNull();
      }
      // The server is unharmed: a good cookie still works afterwards.
      const good = await request(app).get('/state').set('Cookie', cookieFrom(created)!).expect(200);
      expect((good.body as ProbeState).requestedIdValid).toBe(true);
    });
  });

  describe('with a secret', () => {
    /** A live session's id and the correctly signed cookie for it. */
    async function liveSession(app: Express): Promise<{ id: string; cookie: string }> {
      const res = await request(app).post('/set/a/1').expect(200);
      return { id: (res.body as ProbeState).id!, cookie: cookieFrom(res)! };
    }

    const badValues: [string, (id: string) => string][] = [
      ['the bare (unsigned) id of a live session', (id) => id],
      ['a value with a wrong signature', (id) => `s:${id}.${'A'.repeat(43)}`],
      ['a value signed with another secret', (id) => `s:${sign(id, 'other-secret')}`],
      ['a signature without the s: prefix', (id) => sign(id, SECRET)],
      ['a truncated signature', (id) => `s:${sign(id, SECRET).slice(0, -5)}`],
      ['just s:', () => 's:'],
      ['a correctly signed non-base64url id', () => `s:${sign('not an id!', SECRET)}`],
      ['a correctly signed oversized id', () => `s:${sign('a'.repeat(10_000), SECRET)}`],
    ];

    it.each(badValues)('treats %s as no session, with requested id null', async (_what, valueFor) => {
      const { app } = build({ secret: SECRET });
      const { id } = await liveSession(app);
      const value = encodeURIComponent(valueFor(id));
      const res = await request(app).get('/state').set('Cookie', `JSESSIONID=${value}`).expect(200);
      const state = res.body as ProbeState;
      expect(state.hasSession).toBe(false);
      expect(state.requestedId).toBeNull();
      expect(state.requestedIdValid).toBe(false);
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it.each(badValues)('gives a request with %s a fresh session with a new id on write', async (_what, valueFor) => {
      const { app } = build({ secret: SECRET });
      const { id } = await liveSession(app);
      const value = encodeURIComponent(valueFor(id));
      const res = await request(app).post('/set/b/2').set('Cookie', `JSESSIONID=${value}`).expect(200);
      const state = res.body as ProbeState;
      expect(state.id).not.toBe(id);
      expect(state.attributes).toEqual({ b: '2' });
      expect(state.isNew).toBe(true);
    });

    it('reports the id inside a correctly signed value that names no session', async () => {
      const { app } = build({ secret: SECRET });
      const unknown = generateSessionId();
      const value = encodeURIComponent(`s:${sign(unknown, SECRET)}`);
      const res = await request(app).get('/state').set('Cookie', `JSESSIONID=${value}`).expect(200);
      expect((res.body as ProbeState).requestedId).toBe(unknown);
      expect((res.body as ProbeState).hasSession).toBe(false);
    });

    it('still serves the live session to its correctly signed cookie', async () => {
      const { app } = build({ secret: SECRET });
      const { id, cookie } = await liveSession(app);
      const res = await request(app).get('/state').set('Cookie', cookie).expect(200);
      expect((res.body as ProbeState).id).toBe(id);
      expect((res.body as ProbeState).requestedIdValid).toBe(true);
    });
  });

  describe('header tracking', () => {
    const garbage = ['%zz', 's%3A%zz', 's:', 'a'.repeat(10_000), 'not an id', 's%3Aabc.def'];

    it.each(garbage)('treats the header value %p as no session', async (value) => {
      const { app } = build({ tracking: 'header', secret: SECRET });
      const res = await request(app).get('/state').set('x-session-id', value).expect(200);
      expect((res.body as ProbeState).hasSession).toBe(false);
      expect((res.body as ProbeState).requestedId).toBeNull();
    });
  });
});
