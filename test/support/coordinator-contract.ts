/**
 * The coordinator contract: what each ability of lib/coordination/coordinator.ts
 * promises, asserted against any coordinator (docs/architecture.md,
 * "Coordinators"), as the store contract runs on every store. A coordinator
 * declares the abilities it has; the suite checks the declaration (so a
 * change shows) and runs the checks of each.
 *
 * Two coordinators stand for two processes sharing one state (for the
 * in-process coordinator, the same object twice): what must happen exactly
 * once is asked of both at the same time.
 */
import { can, type Capability } from '../../lib/coordination/capabilities';
import type {
  AccessEntry,
  AccessTracking,
  CommitLocks,
  ExpiryIndex,
  KillSignals,
  LeaveUpdate,
  RequestLeases,
  SessionClaims,
  SessionIndex,
  SessionCaps,
  SessionLocking,
} from '../../lib/coordination/coordinator';
import { sessionKey, subsessionKey } from '../../lib/storage/session-key';
import { FakeClock } from './fake-clock';
import { eventually } from './test-app';

/** The abilities the contract checks (the optional ones besides the base). */
export type ContractAbility = Extract<
  Capability,
  'an expiry index' | 'session locks' | 'commit locks' | 'kill signals' | 'a session index' | 'request leases' | 'session caps'
>;

/** A coordinator as a fixture gives it: the base, and whichever abilities it declares. */
export type ContractCoordinator = AccessTracking &
  SessionClaims &
  Partial<ExpiryIndex & SessionLocking & CommitLocks & KillSignals & SessionIndex & RequestLeases & SessionCaps>;

/** Two coordinators on one shared state: two processes. */
export type CoordinatorPair = [ContractCoordinator, ContractCoordinator];

/**
 * A coordinator as the checks call it: with every ability. The checks of an
 * ability run only for a coordinator that declares it, and the first check
 * asserts that the declaration is true.
 */
type Able = AccessTracking & SessionClaims & ExpiryIndex & SessionLocking & CommitLocks & KillSignals & SessionIndex & RequestLeases & SessionCaps;

/** How the contract gets coordinators for one test, and what it may expect of them. */
export interface CoordinatorFixture {
  /** Abilities beyond access tracking and claims; asserted, so a change shows. */
  abilities: ContractAbility[];
  /** A fresh pair on an empty state, for one test. */
  create(): CoordinatorPair | Promise<CoordinatorPair>;
  /** Releases what `create` made (after each test). */
  cleanUp?(): Promise<void>;
  /** `describe`, or a guard such as `describeRedis` for coordinators needing a service. */
  describe?: (name: string, fn: () => void) => void;
}

const ALL_ABILITIES: ContractAbility[] = ['an expiry index', 'session locks', 'commit locks', 'kill signals', 'a session index', 'request leases', 'session caps'];

/** Idle timeout of the contract's sessions, ms. */
const TIMEOUT_MS = 60_000;
/** When the sessions of a test are created (ms since epoch; any fixed time). */
const T0 = 1_000_000;

/** A leave of a request that did not enter: how a request that created the session makes its entry. */
export function creation(now: number, extra: Partial<LeaveUpdate> = {}): LeaveUpdate {
  return { now, timeoutMs: TIMEOUT_MS, storeExpires: null, entered: false, lastAccessedTime: now, request: 'creator', ...extra };
}

/** A leave of request `request` that entered at `started`. */
function departure(request: string, started: number, now: number, extra: Partial<LeaveUpdate> = {}): LeaveUpdate {
  return { now, timeoutMs: TIMEOUT_MS, storeExpires: null, entered: true, lastAccessedTime: started, request, ...extra };
}

/** How many of `results` are not `undefined` / `false`. */
function winners(results: unknown[]): number {
  return results.filter((result) => result !== undefined && result !== false).length;
}

/** Runs the contract on the coordinators of `fixture`, under `name`. */
export function coordinatorContract(name: string, fixture: CoordinatorFixture): void {
  const describeSuite = fixture.describe ?? describe;
  describeSuite(`coordinator contract: ${name}`, () => {
    let a: Able;
    let b: Able;
    /** The clock a coordinator with leases counts them by (the manager's, as `useClock` gives it). */
    let clock: FakeClock;

    beforeEach(async () => {
      [a, b] = (await fixture.create()) as [Able, Able];
      clock = new FakeClock(T0);
      if (can(a, 'request leases')) for (const coordinator of new Set([a, b])) coordinator.useClock(clock);
    });

    afterEach(async () => {
      await fixture.cleanUp?.();
    });

    /** `describe` of checks needing `abilities`: only for a coordinator that declares them all. */
    const withAbilities = (abilities: ContractAbility[], fn: () => void): void => {
      if (abilities.every((ability) => fixture.abilities.includes(ability))) describe(abilities.join(' and '), fn);
    };

    const create = (coordinator: Able, key: string, extra?: Partial<LeaveUpdate>) =>
      coordinator.leave(key, creation(T0, extra));

    it('has exactly the abilities it declares, besides access tracking and claims', () => {
      expect(can(a, 'access tracking')).toBe(true);
      expect(can(a, 'claims')).toBe(true);
      expect(ALL_ABILITIES.filter((ability) => can(a, ability))).toEqual(ALL_ABILITIES.filter((ability) => fixture.abilities.includes(ability)));
    });

    describe('access tracking', () => {
      it('creates an entry when a request that did not enter leaves, with the deadline of its timeout', async () => {
        // When the store's copy expires: real time ahead, as a remote coordinator forgets the entry then.
        const storeExpires = Date.now() + 3_600_000;
        await expect(create(a, 'k', { storeExpires })).resolves.toBe(false);
        await expect(b.inspect('k')).resolves.toEqual({
          lastAccessedTime: T0,
          deadline: T0 + TIMEOUT_MS,
          storeExpires,
          active: 0,
          claimed: false,
          killed: false,
          version: 0,
        } satisfies AccessEntry);
      });

      it('answers enter() of an unknown session undefined and records nothing', async () => {
        await expect(a.enter('unknown', T0, false, 'r1')).resolves.toBeUndefined();
        await expect(a.enter('unknown', T0, true, 'r2')).resolves.toBeUndefined();
        await expect(b.inspect('unknown')).resolves.toBeUndefined();
      });

      it('answers enter() with the entry as it was, and counts the request as active from now', async () => {
        await create(a, 'k');
        const before = await b.enter('k', T0 + 5000, false, 'r1');
        expect(before).toEqual({ lastAccessedTime: T0, deadline: T0 + TIMEOUT_MS, storeExpires: null, active: 0, claimed: false, killed: false, version: 0 });
        await expect(a.inspect('k')).resolves.toMatchObject({ lastAccessedTime: T0 + 5000, active: 1 });
        await expect(a.enter('k', T0 + 6000, false, 'r2')).resolves.toMatchObject({ lastAccessedTime: T0 + 5000, active: 1 });
        await expect(b.inspect('k')).resolves.toMatchObject({ lastAccessedTime: T0 + 6000, active: 2 });
      });

      it('inspect() changes nothing', async () => {
        await create(a, 'k');
        await a.inspect('k');
        await b.inspect('k');
        await expect(a.inspect('k')).resolves.toMatchObject({ lastAccessedTime: T0, active: 0 });
      });

      it('does not count a strict enter() of a session idle past its deadline', async () => {
        await create(a, 'k');
        const due = T0 + TIMEOUT_MS;
        const seen = await Promise.all([a.enter('k', due, true, 'r1'), b.enter('k', due, true, 'r2')]);
        expect(seen.map((entry) => entry?.active)).toEqual([0, 0]);
        await expect(a.inspect('k')).resolves.toMatchObject({ lastAccessedTime: T0, active: 0 });
      });

      it('counts a strict enter() of a session past its deadline while another request uses it', async () => {
        await create(a, 'k');
        await a.enter('k', T0 + 30_000, true, 'r1');
        await b.enter('k', T0 + 70_000, true, 'r2');
        await expect(a.inspect('k')).resolves.toMatchObject({ active: 2 });
      });

      it('counts a non-strict enter() of a session past its deadline (served until the reaper runs)', async () => {
        await create(a, 'k');
        await a.enter('k', T0 + TIMEOUT_MS, false, 'r1');
        await expect(b.inspect('k')).resolves.toMatchObject({ active: 1 });
        await expect(b.claim('k', T0 + TIMEOUT_MS, false)).resolves.toBeUndefined(); // nothing claims it while in use
      });

      it('restarts the idle clock when the last request leaves, and not before', async () => {
        await create(a, 'k');
        await a.enter('k', T0 + 1000, false, 'r1');
        await b.enter('k', T0 + 2000, false, 'r2');
        await expect(a.leave('k', departure('r1', T0 + 1000, T0 + 3000))).resolves.toBe(false);
        await expect(a.inspect('k')).resolves.toMatchObject({ active: 1, deadline: T0 + TIMEOUT_MS });
        await expect(b.leave('k', departure('r2', T0 + 2000, T0 + 4000))).resolves.toBe(false);
        await expect(a.inspect('k')).resolves.toMatchObject({ active: 0, deadline: T0 + 4000 + TIMEOUT_MS, lastAccessedTime: T0 + 2000 });
      });

      it('leaves once per request token: a second leave, or one whose enter never happened, changes nothing', async () => {
        await create(a, 'k');
        await a.enter('k', T0 + 1000, false, 'r1');
        await a.enter('k', T0 + 1000, false, 'r2');
        await expect(b.leave('k', departure('never-entered', T0 + 1000, T0 + 2000))).resolves.toBe(false);
        await expect(a.inspect('k')).resolves.toMatchObject({ active: 2, deadline: T0 + TIMEOUT_MS });
        await a.leave('k', departure('r1', T0 + 1000, T0 + 2000));
        await b.leave('k', departure('r1', T0 + 1000, T0 + 2000));
        await expect(a.inspect('k')).resolves.toMatchObject({ active: 1, deadline: T0 + TIMEOUT_MS });
        await a.leave('k', departure('r2', T0 + 1000, T0 + 3000));
        await expect(a.inspect('k')).resolves.toMatchObject({ active: 0, deadline: T0 + 3000 + TIMEOUT_MS });
        await a.leave('k', departure('r2', T0 + 1000, T0 + 9000));
        await expect(a.inspect('k')).resolves.toMatchObject({ deadline: T0 + 3000 + TIMEOUT_MS });
      });

      it('keeps the deadline for a leave without a timeout, and drops it for a null timeout', async () => {
        await create(a, 'k');
        await a.enter('k', T0 + 1000, false, 'r1');
        await a.leave('k', departure('r1', T0 + 1000, T0 + 2000, { timeoutMs: undefined }));
        await expect(a.inspect('k')).resolves.toMatchObject({ active: 0, deadline: T0 + TIMEOUT_MS });
        await a.enter('k', T0 + 3000, false, 'r2');
        await a.leave('k', departure('r2', T0 + 3000, T0 + 4000, { timeoutMs: null }));
        await expect(a.inspect('k')).resolves.toMatchObject({ active: 0, deadline: null });
      });

      it('does not bring back a session removed while a request that entered it ran', async () => {
        await create(a, 'k');
        await a.enter('k', T0 + 1000, false, 'r1');
        await b.remove('k');
        await expect(a.leave('k', departure('r1', T0 + 1000, T0 + 2000))).resolves.toBe(false);
        await expect(a.inspect('k')).resolves.toBeUndefined();
      });

      it('answers remove() true to exactly one of two concurrent callers', async () => {
        const keys = Array.from({ length: 10 }, (_, i) => `remove-${i}`);
        for (const key of keys) await create(a, key);
        for (const key of keys) {
          expect(winners(await Promise.all([a.remove(key), b.remove(key)]))).toBe(1);
          await expect(a.inspect(key)).resolves.toBeUndefined();
        }
        await expect(a.remove('remove-0')).resolves.toBe(false);
        await expect(a.remove('unknown')).resolves.toBe(false);
      });
    });

    describe('claims', () => {
      it('claims a session only once due, for exactly one of two concurrent callers', async () => {
        await create(a, 'k');
        await expect(a.claim('k', T0 + TIMEOUT_MS - 1, false)).resolves.toBeUndefined();
        const claims = await Promise.all([a.claim('k', T0 + TIMEOUT_MS, false), b.claim('k', T0 + TIMEOUT_MS, false)]);
        expect(winners(claims)).toBe(1);
        expect(claims.find((claim) => claim !== undefined)).toMatchObject({ lastAccessedTime: T0, claimed: false, active: 0 });
        await expect(a.claim('k', T0 + TIMEOUT_MS + 1, false)).resolves.toBeUndefined();
      });

      it('leaves a tombstone: enter() reports it claimed and does not count the request, until remove()', async () => {
        await create(a, 'k');
        await a.claim('k', T0 + TIMEOUT_MS, false);
        await expect(b.enter('k', T0 + TIMEOUT_MS + 1, false, 'r1')).resolves.toMatchObject({ claimed: true, active: 0 });
        await expect(a.inspect('k')).resolves.toMatchObject({ claimed: true, killed: false, active: 0 });
        await expect(b.remove('k')).resolves.toBe(true);
        await expect(a.inspect('k')).resolves.toBeUndefined();
      });

      it('lets exactly one of the strict requests that found a session expired claim it', async () => {
        await create(a, 'k');
        const due = T0 + TIMEOUT_MS;
        await Promise.all([a.enter('k', due, true, 'r1'), b.enter('k', due, true, 'r2')]);
        expect(winners(await Promise.all([a.claim('k', due, true), b.claim('k', due, true)]))).toBe(1);
      });

      it('does not claim a session another request uses; the caller may use it itself (entered)', async () => {
        await create(a, 'k');
        const due = T0 + TIMEOUT_MS;
        await a.enter('k', due, false, 'r1');
        await expect(b.claim('k', due, false)).resolves.toBeUndefined();
        await b.enter('k', due, false, 'r2');
        await expect(a.claim('k', due, true)).resolves.toBeUndefined();
        await b.leave('k', departure('r2', due, due, { timeoutMs: undefined }));
        await expect(a.claim('k', due, true)).resolves.toMatchObject({ active: 1 });
      });

      it('claims any session at now = Infinity (a cascade from its parent), a never-expiring one too, each once', async () => {
        await create(a, 'k');
        await create(a, 'forever', { timeoutMs: null });
        await expect(a.claim('k', Infinity, false)).resolves.toMatchObject({ deadline: T0 + TIMEOUT_MS });
        await expect(b.claim('forever', Infinity, false)).resolves.toMatchObject({ deadline: null });
        await expect(a.claim('forever', Infinity, false)).resolves.toBeUndefined();
        await expect(a.claim('unknown', Infinity, false)).resolves.toBeUndefined();
      });

      it('claims a session again for the token it was claimed under (a retry after a lost answer), for no other, until removed', async () => {
        await create(a, 'k');
        const due = T0 + TIMEOUT_MS;
        await expect(a.claim('k', due, false, 'sweep-1')).resolves.toMatchObject({ claimed: false });
        // The same caller, from any process, whatever the time: it won.
        await expect(b.claim('k', due - 1, false, 'sweep-1')).resolves.toMatchObject({ lastAccessedTime: T0 });
        await expect(a.claim('k', due, false, 'sweep-2')).resolves.toBeUndefined();
        await expect(a.claim('k', due, false)).resolves.toBeUndefined();
        await expect(a.remove('k')).resolves.toBe(true);
        await expect(a.claim('k', due, false, 'sweep-1')).resolves.toBeUndefined();
      });
    });

    withAbilities(['an expiry index'], () => {
            it('lists the keys whose deadline has come, up to a limit, and no other', async () => {
        const keys = Array.from({ length: 12 }, (_, i) => `d${i}`);
        for (const key of keys) await create(a, key);
        await create(a, 'later', { now: T0 + 5000 });
        await create(a, 'forever', { timeoutMs: null });
        await expect(b.due(T0 + TIMEOUT_MS - 1, 100)).resolves.toEqual([]);
        expect((await b.due(T0 + TIMEOUT_MS, 100)).sort()).toEqual([...keys].sort());
        const batch = await a.due(T0 + TIMEOUT_MS, 5);
        expect(batch).toHaveLength(5);
        expect(keys).toEqual(expect.arrayContaining(batch));
        expect((await a.due(Number.MAX_SAFE_INTEGER, 100)).sort()).toEqual([...keys, 'later'].sort());
      });

      it('moves a key with its deadline, and drops it once claimed or removed', async () => {
        await create(a, 'moved');
        await create(a, 'claimed');
        await create(a, 'removed');
        await a.enter('moved', T0 + 1000, false, 'r1');
        await a.leave('moved', departure('r1', T0 + 1000, T0 + 2000));
        await a.claim('claimed', T0 + TIMEOUT_MS, false);
        await b.remove('removed');
        await expect(b.due(T0 + TIMEOUT_MS, 100)).resolves.toEqual([]);
        await expect(b.due(T0 + 2000 + TIMEOUT_MS, 100)).resolves.toEqual(['moved']);
      });
    });

    withAbilities(['session locks'], () => {
      it('grants a lock to one owner at a time; only the owner renews or releases it', async () => {
        const taken = await Promise.all([a.acquireLock('k', 't1', 10_000), b.acquireLock('k', 't2', 10_000)]);
        expect(winners(taken)).toBe(1);
        const [owner, other] = taken[0] ? ['t1', 't2'] : ['t2', 't1'];
        await expect(b.renewLock('k', owner, 10_000)).resolves.toBe(true);
        await expect(a.renewLock('k', other, 10_000)).resolves.toBe(false);
        await b.releaseLock('k', other);
        await expect(a.acquireLock('k', other, 10_000)).resolves.toBe(false);
        await a.releaseLock('k', owner);
        await expect(b.renewLock('k', owner, 10_000)).resolves.toBe(false);
        await expect(b.acquireLock('k', other, 10_000)).resolves.toBe(true);
        await expect(a.acquireLock('another', owner, 10_000)).resolves.toBe(true);
      });
    });

    withAbilities(['commit locks'], () => {
      it('grants a commit lock to one owner at a time; only the owner releases it', async () => {
        const taken = await Promise.all([a.lockForCommit('k', 't1', 10_000), b.lockForCommit('k', 't2', 10_000)]);
        expect(winners(taken)).toBe(1);
        const [owner, other] = taken[0] ? ['t1', 't2'] : ['t2', 't1'];
        await a.unlockAfterCommit('k', other);
        await expect(b.lockForCommit('k', 't3', 10_000)).resolves.toBe(false);
        await b.unlockAfterCommit('k', owner);
        await expect(a.lockForCommit('k', 't3', 10_000)).resolves.toBe(true);
        await expect(b.lockForCommit('another', owner, 10_000)).resolves.toBe(true);
      });
    });

    withAbilities(['commit locks', 'session locks'], () => {
      it('keeps commit locks apart from session locks', async () => {
        await expect(a.acquireLock('k', 't1', 10_000)).resolves.toBe(true);
        await expect(b.lockForCommit('k', 't2', 10_000)).resolves.toBe(true);
      });
    });

    withAbilities(['session caps'], () => {
      it('counts sessions per app up to the cap across both, renews, releases, and lets lapsed counts go', async () => {
        await expect(a.admitSession('shop', 's1', 2, T0 + 10_000, T0)).resolves.toBe(true);
        await expect(b.admitSession('shop', 's2', 2, T0 + 20_000, T0)).resolves.toBe(true);
        await expect(a.admitSession('shop', 's3', 2, T0 + 20_000, T0)).resolves.toBe(false);
        await expect(b.admitSession('bank', 's3', 2, T0 + 20_000, T0)).resolves.toBe(true); // per app
        await expect(b.admitSession('shop', 's1', 2, T0 + 30_000, T0)).resolves.toBe(true); // counted already: renewed
        await expect(a.liveSessions(['shop', 'bank', 'none'], T0)).resolves.toEqual({ shop: 2, bank: 1, none: 0 });
        await b.releaseSession('shop', 's2');
        await expect(a.admitSession('shop', 's3', 2, T0 + 20_000, T0)).resolves.toBe(true);
        // s1 was renewed to T0 + 30 s; s3 lapses at T0 + 20 s.
        await expect(b.liveSessions(['shop'], T0 + 25_000)).resolves.toEqual({ shop: 1 });
        await expect(b.admitSession('shop', 's4', 2, T0 + 40_000, T0 + 25_000)).resolves.toBe(true);
      });

      it('admits a user\'s sessions up to the cap; beyond it evicts the least recently used, or refuses', async () => {
        await expect(a.admitPrincipal('ann', 'k1', 2, true, [], T0)).resolves.toEqual({ admitted: true, evicted: [] });
        await expect(b.admitPrincipal('ann', 'k2', 2, true, [], T0 + 1)).resolves.toEqual({ admitted: true, evicted: [] });
        // k1 seen used after k2: k2 is the least recently used.
        await expect(a.admitPrincipal('ann', 'k3', 2, true, [['k1', T0 + 5], ['k2', T0 + 1]], T0 + 6)).resolves.toEqual({ admitted: true, evicted: ['k2'] });
        await expect(b.admitPrincipal('ann', 'k4', 2, false, [], T0 + 7)).resolves.toEqual({ admitted: false, evicted: [] });
        await expect(b.admitPrincipal('ann', 'k3', 2, false, [], T0 + 7)).resolves.toEqual({ admitted: true, evicted: [] }); // counted already
        // A session found gone stops counting: room again.
        await expect(a.admitPrincipal('ann', 'k4', 2, false, [['k1', null]], T0 + 8)).resolves.toEqual({ admitted: true, evicted: [] });
        expect((await b.principalSessions('ann')).map(([key]) => key).sort()).toEqual(['k3', 'k4']);
        await expect(b.principalSessions('bob')).resolves.toEqual([]);
      });

      it('never passes a user\'s cap when both admit at the same moment', async () => {
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).admitPrincipal('ann', `k${i}`, 3, true, [], T0 + i)));
        expect(results.every((r) => r.admitted)).toBe(true);
        expect(results.flatMap((r) => r.evicted)).toHaveLength(5);
        await expect(a.principalSessions('ann')).resolves.toHaveLength(3);
      });
    });

    withAbilities(['kill signals'], () => {
      it('lets no claimer token take a killed session (the kill holds its claim)', async () => {
        await create(a, 'killed');
        await a.kill('killed');
        await expect(b.claim('killed', Infinity, false, 'sweep-1')).resolves.toBeUndefined();
        await expect(b.claim('killed', Infinity, false)).resolves.toBeUndefined();
      });

      it('keeps the note a kill was given with its mark', async () => {
        await create(a, 'noted');
        await a.kill('noted', 'evicted');
        await expect(b.inspect('noted')).resolves.toMatchObject({ claimed: true, killed: true, killNote: 'evicted' });
        await create(a, 'plain');
        await a.kill('plain');
        expect((await b.inspect('plain'))?.killNote).toBeUndefined();
      });

      /** Kills heard by each of the pair's listeners, and how to stop listening. */
      async function listen(): Promise<{ heardA: string[]; heardB: string[]; close(): Promise<void> }> {
        const heardA: string[] = [];
        const heardB: string[] = [];
        const subscriptions = [a.onKill((key) => heardA.push(key)), b.onKill((key) => heardB.push(key))];
        await Promise.all(subscriptions.map((subscription) => subscription.ready));
        return { heardA, heardB, close: async () => void (await Promise.all(subscriptions.map((s) => s.close()))) };
      }

      it('marks an idle session killed and claimed, out of the expiry index, and tells every listener once', async () => {
        const listeners = await listen();
        try {
          await create(a, 'k');
          await create(a, 'j');
          await expect(a.kill('k')).resolves.toMatchObject({ active: 0, claimed: false, killed: false });
          await expect(b.inspect('k')).resolves.toMatchObject({ claimed: true, killed: true });
          if (fixture.abilities.includes('an expiry index')) await expect(b.due(Infinity, 10)).resolves.toEqual(['j']);
          // Killed again: the answer shows the mark, and nobody is told again
          // (the kill of `j`, heard after, shows the second of `k` was not).
          await expect(b.kill('k')).resolves.toMatchObject({ claimed: true, killed: true });
          await b.kill('j');
          await eventually(() => {
            expect(listeners.heardA).toEqual(['k', 'j']);
            expect(listeners.heardB).toEqual(['k', 'j']);
          });
          await expect(a.claim('k', Infinity, false)).resolves.toBeUndefined();
          await expect(a.kill('unknown')).resolves.toBeUndefined();
        } finally {
          await listeners.close();
        }
      });

      it('answers true to the last request that entered a killed session as it leaves, and only once', async () => {
        await create(a, 'k');
        await a.enter('k', T0 + 1000, true, 'r1');
        await b.enter('k', T0 + 1000, true, 'r2');
        await expect(a.kill('k')).resolves.toMatchObject({ active: 2, claimed: false });
        await expect(b.enter('k', T0 + 1500, true, 'r3')).resolves.toMatchObject({ claimed: true }); // not counted
        await expect(b.leave('k', departure('r3', T0 + 1500, T0 + 2000))).resolves.toBe(false);
        await expect(a.leave('k', departure('r1', T0 + 1000, T0 + 2000))).resolves.toBe(false);
        await expect(b.leave('k', departure('r2', T0 + 1000, T0 + 2000))).resolves.toBe(true);
        await expect(a.leave('k', departure('r2', T0 + 1000, T0 + 2000))).resolves.toBe(false);
      });

      it('does not mark a session claimed for expiry killed', async () => {
        await create(a, 'k');
        await a.claim('k', T0 + TIMEOUT_MS, false);
        await expect(b.kill('k')).resolves.toMatchObject({ claimed: true, killed: false });
        await expect(a.inspect('k')).resolves.toMatchObject({ claimed: true, killed: false });
      });

      it('stops telling a listener whose subscription is closed', async () => {
        const closed: string[] = [];
        const open: string[] = [];
        const closing = a.onKill((key) => closed.push(key));
        const staying = b.onKill((key) => open.push(key));
        await Promise.all([closing.ready, staying.ready]);
        try {
          await closing.close();
          await create(a, 'k');
          await a.kill('k');
          await eventually(() => expect(open).toEqual(['k']));
          expect(closed).toEqual([]);
        } finally {
          await staying.close();
        }
      });
    });

    withAbilities(['kill signals', 'session locks'], () => {
      it('drops the session lock of a killed session, so requests queued behind it go on', async () => {
        await create(a, 'k');
        await a.acquireLock('k', 'holder', 10_000);
        await b.kill('k');
        await expect(b.acquireLock('k', 'queued', 10_000)).resolves.toBe(true);
      });
    });

    withAbilities(['request leases'], () => {
      it('stops counting a request once its lease has run out (its leave lost), so the session can expire', async () => {
        await create(a, 'k');
        await a.enter('k', T0 + 1000, false, 'r1');
        clock.advance(1000 + a.leaseMs - 1);
        await expect(b.inspect('k')).resolves.toMatchObject({ active: 1 });
        await expect(b.claim('k', T0 + TIMEOUT_MS, false)).resolves.toBeUndefined();
        clock.advance(1);
        await expect(b.inspect('k')).resolves.toMatchObject({ active: 0 });
        await expect(b.claim('k', T0 + TIMEOUT_MS, false)).resolves.toMatchObject({ active: 0 });
      });

      it('extends the lease of a request still using the session, and of no other', async () => {
        await create(a, 'k');
        await a.enter('k', T0 + 1000, false, 'r1');
        await b.renewLease('k', 'r1', T0 + 40_000);
        await a.renewLease('k', 'never-entered', T0 + 40_000);
        clock.advance(1000 + a.leaseMs);
        await expect(a.inspect('k')).resolves.toMatchObject({ active: 1 });
        await expect(a.claim('k', T0 + TIMEOUT_MS, false)).resolves.toBeUndefined();
        clock.advance(40_000 - 1000);
        await expect(a.inspect('k')).resolves.toMatchObject({ active: 0 });
        await a.enter('k', T0 + 50_000, false, 'r2');
        await a.leave('k', departure('r2', T0 + 50_000, T0 + 50_000));
        await b.renewLease('k', 'r2', T0 + 50_000);
        await expect(b.inspect('k')).resolves.toMatchObject({ active: 0 });
      });
    });

    withAbilities(['a session index'], () => {
      it('pages through top-level keys in key order, each once, while sessions come and go', async () => {
        for (const key of ['c', 'a', subsessionKey('b', 'sub'), 'b', sessionKey('shop', 'd')]) await create(a, key);
        await expect(b.keys(null, 2)).resolves.toEqual(['a', 'b']);
        await expect(b.keys('b', 10)).resolves.toEqual(['c', 'd:shop']);
        await expect(b.count()).resolves.toBe(4);
        await a.remove('c');
        await create(a, 'bb');
        await a.remove('a');
        await create(b, 'a'); // gone and back before the next page: listed once
        await expect(a.keys(null, 10)).resolves.toEqual(['a', 'b', 'bb', 'd:shop']);
        await expect(a.keys('b', 10)).resolves.toEqual(['bb', 'd:shop']);
        await expect(a.count()).resolves.toBe(4);
      });

      it('pages through many keys in order, and counts them all', async () => {
        const all = Array.from({ length: 60 }, (_, i) => `k${String(i).padStart(3, '0')}`);
        for (const key of [...all].reverse()) await create(a, key);
        const seen: string[] = [];
        for (let page = await b.keys(null, 7); page.length > 0; page = await b.keys(page[page.length - 1], 7)) seen.push(...page);
        expect(seen).toEqual(all);
        await expect(b.count()).resolves.toBe(60);
      });

      it('indexes the sessions bound to a user, moving a rebound one and forgetting a removed one', async () => {
        await create(a, 'a', { principal: 'ann' });
        await create(b, sessionKey('shop', 'd'), { principal: 'ann' });
        await create(a, 'bb', { principal: 'bob' });
        await create(a, 'c');
        await expect(b.keysOf('ann')).resolves.toEqual(['a', 'd:shop']);
        await a.enter('a', T0 + 1000, false, 'r1');
        await a.leave('a', departure('r1', T0 + 1000, T0 + 2000, { principal: 'bob' })); // bound again elsewhere: moves
        await expect(b.keysOf('ann')).resolves.toEqual(['d:shop']);
        await b.remove('d:shop');
        await expect(a.keysOf('ann')).resolves.toEqual([]);
        await expect(a.keysOf('bob')).resolves.toEqual(['a', 'bb']);
        await expect(a.keysOf('nobody')).resolves.toEqual([]);
      });
    });
  });
}
