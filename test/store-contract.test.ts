/**
 * The express-session store contract as this library uses it, run against
 * every store we support: required get/set/destroy, recommended touch,
 * optional all/length/clear, and expiry by `cookie.expires`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import createSqliteStore from 'better-sqlite3-session-store';
import createMemorystore from 'memorystore';
import createFileStore from 'session-file-store';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore } from 'connect-redis';
import session, { type Store } from 'express-session';
import { MemoryStore } from '../lib/storage/memory-store';
import { closeTopologyClient, connectTopology, deleteKeys, topologyAvailable, type Topology } from './support/redis-topology';
import { createPgPool, describePg, uniquePrefix } from './support/services';
import {
  makeRecord,
  promisifyStore,
  type OptionalStoreMethod,
  type PromiseStore,
  type StoreRecord,
} from './support/store-promises';

/** A store under test and the means to move its time. */
interface StoreFixture {
  store: Store;
  /** The store's idea of now, in ms (records' `cookie.expires` are built from it). */
  now(): number;
  /** Lets `ms` pass for the store: a fake clock jump or a real wait. */
  elapse(ms: number): Promise<void>;
  /** Releases connections and deletes what the suite wrote. */
  close(): Promise<void>;
}

/** What a store is known to offer beyond get/set/destroy. */
interface ContractOptions {
  /** Whether the store has the recommended `touch`. */
  touch: boolean;
  /** Which optional methods the store has; asserted, so a change shows. */
  optional: OptionalStoreMethod[];
  /** Whether the store forgets a record by itself once `cookie.expires` has passed. */
  honoursExpiry: boolean;
  /** `describe`, or a guard such as `describePg` for stores needing a service. */
  describe?: (name: string, fn: () => void) => void;
  /**
   * The store reports an unknown id with an `ENOENT` error instead of
   * nothing (session-file-store), from `get` and from `touch`: the library
   * takes such a `get` as "no session", as express-session does.
   */
  enoentForUnknown?: boolean;
  /** Fields the store adds to every record of its own (session-file-store's `__lastAccess`). */
  ownFields?: string[];
}

/** Lifetimes of the records in the expiry checks. */
const SHORT_LIFETIME_MS = 1500;
const LONG_LIFETIME_MS = 60_000;
const EXPIRY_WAIT_MS = 2500;

/** Data with nesting, unicode, null, empty containers: what must survive a round trip. */
const NESTED_DATA = {
  cart: { items: [{ sku: 'A-1', qty: 2, price: 9.99 }], coupon: null },
  user: { name: 'Zoë 🚀', roles: ['admin', 'buyer'] },
  visits: 3,
  remember: true,
  empty: {},
  list: [],
};

/**
 * `describe` when the store has the capability, else nothing at all: what a
 * store lacks is asserted by the "methods" test, not reported as skipped.
 */
const describeIf = (ok: boolean) => (ok ? describe : (_name: string, _fn: () => void): void => undefined);

/** `it` when the store has the capability, else nothing (see describeIf). */
const itIf = (ok: boolean) => (ok ? it : (_name: string, _fn: () => unknown): void => undefined);

/** A fresh session id, unique across workers and runs. */
function newSid(label: string): string {
  return `${label}-${randomBytes(8).toString('hex')}`;
}

/** Asserts a store answered "no record": `null` or `undefined`, whichever the store uses. */
function expectNothing(value: unknown): void {
  expect([null, undefined]).toContain(value);
}

/** The data of a record without its cookie (`undefined` when there is no record). */
function withoutCookie(record: StoreRecord | null | undefined): Record<string, unknown> | undefined {
  if (!record) return undefined;
  const { cookie: _cookie, ...data } = record;
  return data;
}

/** Resolves after `ms` of real time. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Defines the contract suite for one store. `makeStore` runs once, before
 * the suite's tests; its fixture is closed after them.
 */
function describeStoreContract(name: string, makeStore: () => Promise<StoreFixture>, options: ContractOptions): void {
  const describeStore = options.describe ?? describe;
  describeStore(name, () => {
    let fixture: StoreFixture;
    let store: PromiseStore;

    /** Asserts the store holds nothing under `sid`: no record (or, for such a store, an ENOENT error). */
    const expectAbsent = async (sid: string): Promise<void> => {
      const found: unknown = await store.get(sid).catch((error: unknown) => error);
      // (Node's errors are of another realm under Jest: no `instanceof Error`.)
      if (options.enoentForUnknown && typeof found === 'object' && found !== null && 'code' in found) expect(found).toMatchObject({ code: 'ENOENT' });
      else expectNothing(found);
    };

    /** A record expiring `lifetimeMs` after the store's now. */
    const record = (lifetimeMs: number, data: Record<string, unknown> = {}): StoreRecord =>
      makeRecord(fixture.now() + lifetimeMs, fixture.now(), data);

    beforeAll(async () => {
      fixture = await makeStore();
      store = promisifyStore(fixture.store);
    });

    afterAll(async () => {
      await fixture?.close();
    });

    describe('methods', () => {
      const expected = [...(options.touch ? ['touch'] : []), ...options.optional];
      it(`has get, set, destroy and ${expected.length ? expected.join(', ') : 'no other contract method'}`, () => {
        expect(typeof fixture.store.get).toBe('function');
        expect(typeof fixture.store.set).toBe('function');
        expect(typeof fixture.store.destroy).toBe('function');
        expect(typeof fixture.store.touch === 'function').toBe(options.touch);
        expect(store.optionalMethods.sort()).toEqual([...options.optional].sort());
      });
    });

    describe('get()', () => {
      itIf(options.enoentForUnknown === true)('reports an unknown id with an ENOENT error', async () => {
        await expect(store.get(newSid('unknown'))).rejects.toMatchObject({ code: 'ENOENT' });
      });

      itIf(options.enoentForUnknown !== true)('calls back with nothing (null or undefined) and no error for an unknown id', async () => {
        await expectAbsent(newSid('unknown'));
      });

      it('hands out a copy the caller may change without changing the stored record', async () => {
        const sid = newSid('copy');
        await store.set(sid, record(LONG_LIFETIME_MS, { user: { name: 'ann' } }));
        const first = await store.get(sid);
        (first?.user as { name: string }).name = 'changed';
        expect(((await store.get(sid))!.user as { name: string }).name).toBe('ann');
      });
    });

    describe('set()', () => {
      it('stores a record that get() returns equal, nested JSON and ISO cookie.expires included', async () => {
        const sid = newSid('round-trip');
        const written = record(LONG_LIFETIME_MS, NESTED_DATA);
        await store.set(sid, written);
        const read = await store.get(sid);
        expect(read).toEqual(written);
        expect(read?.cookie.expires).toBe(written.cookie.expires);
      });

      it('keeps a snapshot: changing the object after set() changes nothing stored', async () => {
        const sid = newSid('snapshot');
        const written = record(LONG_LIFETIME_MS, { visits: 1 });
        await store.set(sid, written);
        written.visits = 2;
        expect((await store.get(sid))?.visits).toBe(1);
      });

      it('replaces the whole previous record of the same id', async () => {
        const sid = newSid('replace');
        await store.set(sid, record(LONG_LIFETIME_MS, { before: 1, shared: 'old' }));
        const replacement = record(LONG_LIFETIME_MS, { after: 2, shared: 'new' });
        await store.set(sid, replacement);
        expect(await store.get(sid)).toEqual(replacement);
      });
    });

    describe('destroy()', () => {
      it('removes the record', async () => {
        const sid = newSid('destroy');
        await store.set(sid, record(LONG_LIFETIME_MS, { doomed: true }));
        await store.destroy(sid);
        await expectAbsent(sid);
      });

      it('accepts an unknown id', async () => {
        await expect(store.destroy(newSid('never-stored'))).resolves.toBeUndefined();
      });
    });

    describeIf(options.touch)('touch()', () => {
      it('does not create a record for an unknown id', async () => {
        const sid = newSid('touch-unknown');
        const touching = store.touch!(sid, record(LONG_LIFETIME_MS));
        if (options.enoentForUnknown) await expect(touching).rejects.toMatchObject({ code: 'ENOENT' });
        else await touching;
        await expectAbsent(sid);
      });

      it('leaves the data of the record alone', async () => {
        const sid = newSid('touch-data');
        await store.set(sid, record(LONG_LIFETIME_MS, NESTED_DATA));
        await store.touch?.(sid, record(2 * LONG_LIFETIME_MS, { ignored: true }));
        const data = withoutCookie(await store.get(sid));
        for (const field of options.ownFields ?? []) delete data?.[field];
        expect(data).toEqual(NESTED_DATA);
      });
    });

    describe('expiry by cookie.expires', () => {
      const sids = { short: newSid('short'), touched: newSid('touched'), long: newSid('long') };

      // One wait for all three checks: the store's time passes once.
      beforeAll(async () => {
        await store.set(sids.short, record(SHORT_LIFETIME_MS, { life: 'short' }));
        await store.set(sids.touched, record(SHORT_LIFETIME_MS, { life: 'touched' }));
        if (options.touch) await store.touch?.(sids.touched, record(LONG_LIFETIME_MS));
        await store.set(sids.long, record(LONG_LIFETIME_MS, { life: 'long' }));
        await fixture.elapse(EXPIRY_WAIT_MS);
      });

      itIf(options.honoursExpiry)('forgets a record by itself once its cookie.expires has passed', async () => {
        await expectAbsent(sids.short);
      });

      itIf(options.touch)('keeps a record whose cookie.expires touch() moved forward', async () => {
        expect((await store.get(sids.touched))?.life).toBe('touched');
      });

      it('keeps a record whose cookie.expires is still ahead', async () => {
        expect((await store.get(sids.long))?.life).toBe('long');
      });
    });

    const works = (method: OptionalStoreMethod) => options.optional.includes(method);

    describeIf(works('all'))('all()', () => {
      it('returns every stored record, keyed by id', async () => {
        const a = newSid('all-a');
        const b = newSid('all-b');
        await store.set(a, record(LONG_LIFETIME_MS, { name: 'a' }));
        await store.set(b, record(LONG_LIFETIME_MS, { name: 'b', nested: { deep: [1] } }));
        const all = (await store.all?.()) ?? {};
        expect(all[a]).toEqual(await store.get(a));
        expect(all[b]).toEqual(await store.get(b));
      });
    });

    describeIf(works('length'))('length()', () => {
      it('counts the stored records', async () => {
        const before = (await store.length?.()) ?? NaN;
        await store.set(newSid('length-a'), record(LONG_LIFETIME_MS));
        await store.set(newSid('length-b'), record(LONG_LIFETIME_MS));
        await expect(store.length?.()).resolves.toBe(before + 2);
      });
    });

    describeIf(works('clear'))('clear()', () => {
      it('deletes every record', async () => {
        const sid = newSid('clear');
        await store.set(sid, record(LONG_LIFETIME_MS));
        await store.clear?.();
        await expectAbsent(sid);
        if (store.length) await expect(store.length()).resolves.toBe(0);
      });
    });
  });
}

/** Our MemoryStore on a fake clock. */
async function makeOurMemoryStore(): Promise<StoreFixture> {
  let now = Date.now();
  const clock = { now: () => now };
  return {
    store: new MemoryStore({ clock }),
    now: clock.now,
    elapse: async (ms) => {
      now += ms;
    },
    close: async () => undefined,
  };
}

/** express-session's MemoryStore; it reads `Date.now()`, which elapse() moves forward. */
async function makeExpressSessionMemoryStore(): Promise<StoreFixture> {
  let offset = 0;
  let dateNow: jest.SpiedFunction<typeof Date.now> | undefined;
  const realNow = Date.now.bind(Date);
  return {
    store: new session.MemoryStore(),
    now: () => realNow() + offset,
    elapse: async (ms) => {
      offset += ms;
      dateNow ??= jest.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    },
    close: async () => {
      dateNow?.mockRestore();
    },
  };
}

/**
 * A store that reads `Date.now()` (express-session's MemoryStore,
 * memorystore, session-file-store): `elapse()` moves `Date.now()` forward.
 */
function dateNowFixture(store: Store, close: () => Promise<void> = async () => undefined): StoreFixture {
  let offset = 0;
  let dateNow: jest.SpiedFunction<typeof Date.now> | undefined;
  const realNow = Date.now.bind(Date);
  return {
    store,
    now: () => realNow() + offset,
    elapse: async (ms) => {
      offset += ms;
      dateNow ??= jest.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    },
    close: async () => {
      dateNow?.mockRestore();
      await close();
    },
  };
}

/** memorystore: its TTL comes from `cookie.maxAge`, which the library's records carry (non-enumerable, as express-session's). */
async function makeMemorystore(): Promise<StoreFixture> {
  const Memorystore = createMemorystore(session);
  const store = new Memorystore({ checkPeriod: 3600_000 });
  return dateNowFixture(store, async () => (store as unknown as { stopInterval(): void }).stopInterval());
}

/** session-file-store in a directory of its own, with no retries and no reaper; it reads `new Date()`, so time passes for real. */
async function makeFileStore(): Promise<StoreFixture> {
  const FileStore = createFileStore(session);
  const path = mkdtempSync(join(tmpdir(), 'esm-file-store-'));
  return {
    store: new FileStore({ path, retries: 0, reapInterval: -1, logFn: () => undefined }),
    now: () => Date.now(),
    elapse: sleep,
    close: async () => rmSync(path, { recursive: true, force: true }),
  };
}

/** better-sqlite3-session-store on an in-memory database; SQLite's own clock decides expiry, so time passes for real. */
async function makeSqliteStore(): Promise<StoreFixture> {
  const SqliteStore = createSqliteStore(session);
  const client = new Database(':memory:');
  // It always starts a timer to delete expired rows, and keeps no handle to stop it: catch it here.
  const realSetInterval = globalThis.setInterval;
  let timer: ReturnType<typeof setInterval> | undefined;
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => (timer = realSetInterval(...args))) as typeof setInterval;
  let store: Store;
  try {
    store = new SqliteStore({ client });
  } finally {
    globalThis.setInterval = realSetInterval;
  }
  return {
    store,
    now: () => Date.now(),
    elapse: sleep,
    close: async () => {
      clearInterval(timer);
      client.close();
    },
  };
}

/** connect-redis on the run's Redis of `topology`, under a key prefix of its own. */
function makeRedisStore(topology: Topology): () => Promise<StoreFixture> {
  return async () => {
    const client = await connectTopology(topology);
    const prefix = uniquePrefix('store-contract');
    return {
      store: new RedisStore({ client, prefix }),
      now: () => Date.now(),
      elapse: sleep,
      close: async () => {
        await deleteKeys(client, prefix);
        await closeTopologyClient(client);
      },
    };
  };
}

/** connect-pg-simple on the run's PostgreSQL database, without its prune timer. */
async function makePgStore(): Promise<StoreFixture> {
  const pool = createPgPool();
  const PGStore = connectPgSimple(session);
  const store = new PGStore({ pool, pruneSessionInterval: false, createTableIfMissing: true });
  return {
    store,
    now: () => Date.now(),
    elapse: sleep,
    close: async () => {
      store.close();
      await pool.end();
    },
  };
}

describeStoreContract('MemoryStore (ours)', makeOurMemoryStore, {
  touch: true,
  optional: ['all', 'length', 'clear'],
  honoursExpiry: true,
});

describeStoreContract("express-session's MemoryStore", makeExpressSessionMemoryStore, {
  touch: true,
  optional: ['all', 'length', 'clear'],
  honoursExpiry: true,
});

describeStoreContract('memorystore', makeMemorystore, {
  touch: true,
  optional: ['all', 'length', 'clear'],
  honoursExpiry: true,
});

describeStoreContract('session-file-store', makeFileStore, {
  touch: true,
  optional: ['length', 'clear'],
  honoursExpiry: true,
  enoentForUnknown: true,
  ownFields: ['__lastAccess'],
});

describeStoreContract('better-sqlite3-session-store', makeSqliteStore, {
  touch: true,
  optional: ['all', 'length', 'clear'],
  honoursExpiry: true,
});

/** `describe` when the run has `topology`, a skipped `describe` otherwise. */
const describeOn = (topology: Topology) => (topologyAvailable(topology) ? describe : describe.skip);

describeStoreContract('connect-redis RedisStore (single)', makeRedisStore('single'), {
  touch: true,
  optional: ['all', 'length', 'clear'],
  honoursExpiry: true,
  describe: describeOn('single'),
});

// On a cluster, connect-redis 9 reads and deletes many records in one command
// (MGET, DEL); node-redis 6's cluster client serves them across slots.
describeStoreContract('connect-redis RedisStore (cluster)', makeRedisStore('cluster'), {
  touch: true,
  optional: ['all', 'length', 'clear'],
  honoursExpiry: true,
  describe: describeOn('cluster'),
});

// On Sentinel, connect-redis 9 scans with `client.scanIterator`, which
// node-redis 6's sentinel client has (node-redis 5's lacked it).
describeStoreContract('connect-redis RedisStore (sentinel)', makeRedisStore('sentinel'), {
  touch: true,
  optional: ['all', 'length', 'clear'],
  honoursExpiry: true,
  describe: describeOn('sentinel'),
});

describeStoreContract('connect-pg-simple PGStore', makePgStore, {
  touch: true,
  optional: [],
  honoursExpiry: true,
  describe: describePg,
});
