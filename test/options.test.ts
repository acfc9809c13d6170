/**
 * Options (lib/manager/options.ts; the README's option tables): validated with class-validator when
 * the manager is built (app options when `middleware()` is called); a
 * `ConfigurationError` names every offending option at once; defaults.
 */
import type { Express } from 'express';
import request from 'supertest';
import {
  ConfigurationError,
  createSessionManager,
  LocalCoordinator,
  MemoryStore,
  sessionManagement,
  type SessionManager,
  type SessionManagementOptions,
  type SessionManagerOptions,
} from '../lib/index';
import { cookieFrom } from './support/cookies';
import { EXPRESS_FLAVOURS } from './support/express-flavours';

/** Options as a user might (wrongly) write them in plain JavaScript. */
type Untyped = Record<string, unknown>;

const managers: SessionManager[] = [];

/** `createSessionManager` on untyped options; the manager is closed after the test. */
function build(options: Untyped): SessionManager {
  const manager = createSessionManager(options as SessionManagerOptions);
  managers.push(manager);
  return manager;
}

/** The ConfigurationError `work` throws; fails the test when it throws nothing or something else. */
function configurationErrorOf(work: () => unknown): ConfigurationError {
  try {
    const result = work();
    if (result && typeof (result as { manager?: SessionManager }).manager?.close === 'function') {
      managers.push((result as { manager: SessionManager }).manager);
    }
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError, nothing was thrown');
}

/** The violations about `name`: those whose first word is exactly `name`. */
function about(error: ConfigurationError, name: string): string[] {
  return error.violations.filter((line) => line.split(' ')[0] === name);
}

afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.close()));
});

describe('createSessionManager', () => {
  it('lists every bad option in one ConfigurationError, naming each', () => {
    const error = configurationErrorOf(() =>
      build({
        reaperInterval: -5,
        invalidationTimeout: 1.5,
        tracking: 'link',
        invalidationTimout: 60,
        cookie: { sameSite: 'Lax', maxAge: 1.5 },
        store: { get() {} },
        storeTimeout: 0,
      }),
    );
    const named = [
      'reaperInterval',
      'invalidationTimeout',
      'tracking',
      'invalidationTimout',
      'cookie.sameSite',
      'cookie.maxAge',
      'store',
      'storeTimeout',
    ];
    for (const name of named) expect({ name, lines: about(error, name) }).toEqual({ name, lines: [expect.any(String)] });
    expect(error.violations).toHaveLength(named.length);
    for (const line of error.violations) expect(error.message).toContain(line);
    expect(error.code).toBe('ERR_CONFIGURATION');
    expect(error.name).toBe('ConfigurationError');
  });

  const badOptions: [string, Untyped, string][] = [
    ['invalidationTimeout 0 (use -1 for never)', { invalidationTimeout: 0 }, 'invalidationTimeout'],
    ['a non-integer invalidationTimeout', { invalidationTimeout: 60.5 }, 'invalidationTimeout'],
    ['a string invalidationTimeout', { invalidationTimeout: '1800' }, 'invalidationTimeout'],
    ['a NaN invalidationTimeout', { invalidationTimeout: Number.NaN }, 'invalidationTimeout'],
    ['a negative reaperInterval', { reaperInterval: -1 }, 'reaperInterval'],
    ['reaperInterval 0', { reaperInterval: 0 }, 'reaperInterval'],
    ['a non-integer reaperInterval', { reaperInterval: 1.5 }, 'reaperInterval'],
    ['an unknown tracking', { tracking: 'url-rewriting' }, 'tracking'],
    ['an unknown option name (typo)', { secrett: 'x' }, 'secrett'],
    ['a non-boolean strictExpiry', { strictExpiry: 'yes' }, 'strictExpiry'],
    ['an empty secret', { secret: '' }, 'secret'],
    ['an empty secret list', { secret: [] }, 'secret'],
    ['a secret list with a non-string', { secret: ['ok', 42] }, 'secret'],
    ['a header that is not a header name', { header: 'x session' }, 'header'],
    ['cookie options that are not an object', { cookie: 'JSESSIONID' }, 'cookie'],
    ['an unknown cookie option', { cookie: { maxage: 60 } }, 'cookie.maxage'],
    ['a cookie name that is not a token', { cookie: { name: 'my session' } }, 'cookie.name'],
    ["a cookie path without a leading '/'", { cookie: { path: 'app' } }, 'cookie.path'],
    ["a capitalised cookie.sameSite ('Lax')", { cookie: { sameSite: 'Lax' } }, 'cookie.sameSite'],
    ['sameSite true', { cookie: { sameSite: true } }, 'cookie.sameSite'],
    ['a non-integer cookie.maxAge', { cookie: { maxAge: 0.5 } }, 'cookie.maxAge'],
    ['a negative cookie.maxAge', { cookie: { maxAge: -1 } }, 'cookie.maxAge'],
    ['a non-boolean cookie.secure', { cookie: { secure: 'true' } }, 'cookie.secure'],
    ['a store without get/set/destroy', { store: { get() {}, set() {} } }, 'store'],
    ['a store that is a function', { store: () => undefined }, 'store'],
    ['a coordinator that is not one', { coordinator: {} }, 'coordinator'],
    ['storeTimeout 0', { storeTimeout: 0 }, 'storeTimeout'],
    ['a negative storeTimeout', { storeTimeout: -1 }, 'storeTimeout'],
    ['an infinite storeTimeout', { storeTimeout: Infinity }, 'storeTimeout'],
    ['a negative serialAccess.maxWaitTime', { serialAccess: { maxWaitTime: -1 } }, 'serialAccess.maxWaitTime'],
    ['an unknown serialAccess option', { serialAccess: { maxWait: 5 } }, 'serialAccess.maxWait'],
    ['a principal that is not a function', { principal: 'user' }, 'principal'],
    ['a clock without now()', { clock: { time: () => 0 } }, 'clock'],
  ];

  it.each(badOptions)('rejects %s, naming the option', (_what, options, name) => {
    const error = configurationErrorOf(() => build(options));
    expect(about(error, name)).toHaveLength(1);
    expect(error.violations).toHaveLength(1);
  });

  it('rejects options that are not an object', () => {
    const error = configurationErrorOf(() => createSessionManager('1800' as unknown as SessionManagerOptions));
    expect(error.violations).toEqual([expect.stringContaining('options must be an object')]);
  });

  it('accepts every option with valid values', () => {
    const manager = build({
      store: new MemoryStore(),
      invalidationTimeout: -1,
      reaperInterval: 30,
      strictExpiry: false,
      secret: ['new', 'old'],
      tracking: 'header',
      header: 'X-Session',
      cookie: { name: 'SID', path: '/app', domain: 'example.com', secure: true, sameSite: 'none', httpOnly: false, maxAge: 0 },
      serialAccess: { maxWaitTime: 0.5, accessOnTimeout: true },
      principal: () => undefined,
      storeTimeout: 0.05,
      clock: { now: () => Date.now() },
    });
    expect(manager.stats().reaper.interval).toBe(30);
  });

  it('accepts serialAccess true (the defaults of serial access), and per app', () => {
    const manager = build({ serialAccess: true });
    expect(() => manager.middleware({ serialAccess: { maxWaitTime: 2 } })).not.toThrow();
    expect(() => manager.middleware({ serialAccess: false })).not.toThrow();
    expect(() => manager.middleware({ serialAccess: 'yes' as unknown as boolean })).toThrow(/serialAccess must be true, false or an object/);
    expect(() => manager.middleware({ serialAccess: { maxWait: 1 } as unknown as boolean })).toThrow(/serialAccess.maxWait is not an option/);
  });

  it('accepts serialAccess: false, sameSite: false and a negative invalidationTimeout', () => {
    expect(() => build({ serialAccess: false, cookie: { sameSite: false }, invalidationTimeout: -5 })).not.toThrow();
  });

  it('accepts no options at all', () => {
    expect(() => build({})).not.toThrow();
    const manager = createSessionManager();
    managers.push(manager);
    expect(manager.stats().sessions).toEqual({ created: 0, invalidated: 0, expired: 0, killed: 0, evicted: 0 });
  });
});

describe('manager.middleware', () => {
  it('validates app options when called, not when the manager is built', () => {
    const manager = build({ invalidationTimeout: 600 });
    const error = configurationErrorOf(() => manager.middleware({ maxInactiveInterval: 1.5 }));
    expect(about(error, 'maxInactiveInterval')).toHaveLength(1);
  });

  const badAppOptions: [string, Untyped, string][] = [
    ['a non-integer maxInactiveInterval', { maxInactiveInterval: 1.5 }, 'maxInactiveInterval'],
    ['a string maxInactiveInterval', { maxInactiveInterval: '60' }, 'maxInactiveInterval'],
    ['an app name with a space', { app: 'my shop' }, 'app'],
    ["an app name with ':' (the store key separator)", { app: 'shop:eu' }, 'app'],
    ['an empty app name', { app: '' }, 'app'],
    ['an app name of 65 characters', { app: 'a'.repeat(65) }, 'app'],
    ['a non-boolean stateless', { stateless: 1 }, 'stateless'],
    ['an unknown app option', { maxInactiveIntervall: 60 }, 'maxInactiveIntervall'],
  ];

  it.each(badAppOptions)('rejects %s, naming the option', (_what, options, name) => {
    const manager = build({});
    const error = configurationErrorOf(() => manager.middleware(options as never));
    expect(about(error, name)).toHaveLength(1);
    expect(error.violations).toHaveLength(1);
  });

  it('lists every bad app option at once', () => {
    const manager = build({});
    const error = configurationErrorOf(() =>
      manager.middleware({ app: 'bad name!', maxInactiveInterval: 1.5, stateles: true } as never),
    );
    expect(about(error, 'app')).toHaveLength(1);
    expect(about(error, 'maxInactiveInterval')).toHaveLength(1);
    expect(about(error, 'stateles')).toHaveLength(1);
  });

  it('accepts valid app options', () => {
    const manager = build({});
    expect(() => manager.middleware({ app: 'shop.eu_2-b', maxInactiveInterval: -1 })).not.toThrow();
    expect(() => manager.middleware({ app: 'bank', maxInactiveInterval: 0, stateless: false })).not.toThrow();
    expect(() => manager.middleware({ stateless: true })).not.toThrow();
    expect(() => manager.middleware()).not.toThrow();
  });
});

describe('sessionManagement', () => {
  it('names bad manager options and bad app options in one ConfigurationError', () => {
    const error = configurationErrorOf(() =>
      sessionManagement({ reaperInterval: -1, tracking: 'link', maxInactiveInterval: 1.5, app: 'a b' } as Untyped as SessionManagementOptions),
    );
    expect(about(error, 'reaperInterval')).toHaveLength(1);
    expect(about(error, 'tracking')).toHaveLength(1);
    expect(about(error, 'maxInactiveInterval')).toHaveLength(1);
    expect(about(error, 'app')).toHaveLength(1);
  });

  it('rejects an unknown option name', () => {
    const error = configurationErrorOf(() => sessionManagement({ maxInactiveIntervl: 60 } as Untyped as SessionManagementOptions));
    expect(about(error, 'maxInactiveIntervl')).toHaveLength(1);
  });

  it('accepts valid options without throwing', () => {
    const middleware = sessionManagement({ invalidationTimeout: 600, app: 'shop', maxInactiveInterval: 120, secret: 's' });
    managers.push(middleware.manager);
    expect(typeof middleware).toBe('function');
  });

  describe.each(EXPRESS_FLAVOURS)('on %s', (_flavour, createExpress: () => Express) => {
    /** An app answering the session's app, timeout and id after a write. */
    function appWith(options: SessionManagementOptions): Express {
      const middleware = sessionManagement(options);
      managers.push(middleware.manager);
      const app = createExpress();
      app.use(middleware);
      app.post('/', (req, res) => {
        req.httpSession.setAttribute('a', 1);
        res.json({ app: req.httpSession.app, timeout: req.httpSession.getMaxInactiveInterval() });
      });
      return app;
    }

    it('applies manager and app options given together', async () => {
      const res = await request(appWith({ invalidationTimeout: 600, cookie: { name: 'SID' }, app: 'shop', maxInactiveInterval: 120 }))
        .post('/')
        .expect(200);
      expect(res.body).toEqual({ app: 'shop', timeout: 120 });
      expect(cookieFrom(res, 'SID')).toBeDefined();
    });

    it("falls back to the manager's invalidationTimeout for maxInactiveInterval 0", async () => {
      const res = await request(appWith({ invalidationTimeout: 600, maxInactiveInterval: 0 })).post('/').expect(200);
      expect(res.body).toEqual({ app: 'default', timeout: 600 });
    });

    it('uses 1800 s and the default app when nothing is given', async () => {
      const res = await request(appWith({})).post('/').expect(200);
      expect(res.body).toEqual({ app: 'default', timeout: 1800 });
      expect(cookieFrom(res)).toBeDefined();
    });

    it('reports -1 for an app that never expires', async () => {
      const res = await request(appWith({ maxInactiveInterval: -30 })).post('/').expect(200);
      expect(res.body).toEqual({ app: 'default', timeout: -1 });
    });
  });
});

describe('defaults', () => {
  /** The reaper intervals of `n` managers built with `options`. */
  function intervals(options: Untyped, n = 40): number[] {
    return Array.from({ length: n }, () => build(options).stats().reaper.interval);
  }

  it('sweeps every 300–360 s for the default 1800 s timeout', () => {
    for (const interval of intervals({})) {
      expect(Number.isInteger(interval)).toBe(true);
      expect(interval).toBeGreaterThanOrEqual(300);
      expect(interval).toBeLessThanOrEqual(360);
    }
  });

  it('sweeps every 60–90 s for a 600 s timeout', () => {
    for (const interval of intervals({ invalidationTimeout: 600 })) {
      expect(Number.isInteger(interval)).toBe(true);
      expect(interval).toBeGreaterThanOrEqual(60);
      expect(interval).toBeLessThanOrEqual(90);
    }
  });

  it('switches at 15 minutes: 899 s is short, 900 s is long', () => {
    for (const interval of intervals({ invalidationTimeout: 899 }, 10)) expect(interval).toBeLessThanOrEqual(90);
    for (const interval of intervals({ invalidationTimeout: 900 }, 10)) expect(interval).toBeGreaterThanOrEqual(300);
  });

  it('draws the interval at random per manager, so nodes do not sweep in step', () => {
    expect(new Set(intervals({}, 40)).size).toBeGreaterThan(1);
  });

  it('uses reaperInterval as given', () => {
    expect(build({ reaperInterval: 45 }).stats().reaper.interval).toBe(45);
    expect(build({ reaperInterval: 45 }).reaperInterval).toBe(45);
  });
});

describe('coordinator capabilities', () => {
  /** A coordinator with only the named methods of an in-process one. */
  function only(...methods: string[]): Untyped {
    const inner = new LocalCoordinator() as unknown as Record<string, (...args: unknown[]) => unknown>;
    return Object.fromEntries(methods.map((method) => [method, (...args: unknown[]) => inner[method](...args)]));
  }
  const BASE = ['enter', 'inspect', 'leave', 'remove', 'claim'];

  it('rejects a coordinator without claims at startup, naming what it lacks', () => {
    const error = configurationErrorOf(() => build({ coordinator: only('enter', 'inspect', 'leave', 'remove') }));
    expect(error.violations).toEqual([expect.stringMatching(/^coordinator lacks claims \(claim\), which every coordinator needs/)]);
  });

  it('rejects the principal option with a coordinator that has no session index', () => {
    const error = configurationErrorOf(() => build({ coordinator: only(...BASE), principal: () => 'ann' }));
    expect(error.violations).toEqual([expect.stringMatching(/lacks a session index \(keys, count, keysOf\), which the principal option needs/)]);
  });

  it('accepts the base alone; the reaper then says why it is inactive (no index, a store that cannot list)', async () => {
    const manager = build({ coordinator: only(...BASE), store: { get() {}, set() {}, destroy() {} } });
    expect(manager.stats().reaper).toMatchObject({ active: false, reason: expect.stringMatching(/due/) });
  });

  it('refuses the admin router and kills without the abilities they need', async () => {
    const manager = build({ coordinator: only(...BASE, 'due') });
    expect(() => manager.adminRouter({ authorize: () => true })).toThrow(/lacks a session index/);
    await expect(manager.sessions.list()).rejects.toThrow(/lacks a session index \(keys, count, keysOf\), which manager.sessions needs/);
    await expect(manager.sessions.kill('a'.repeat(43), { app: 'default' })).rejects.toThrow(/lacks kill signals \(kill, onKill\), which killing sessions needs/);
  });

  it('runs a coordinator with every ability but locks, as the in-process one has', () => {
    expect(() => build({ coordinator: new LocalCoordinator() })).not.toThrow();
  });
});

describe('options pasted from express-session', () => {
  it('are rejected with a line that says what replaces each', () => {
    const error = configurationErrorOf(() =>
      build({
        name: 'connect.sid',
        resave: false,
        saveUninitialized: false,
        rolling: true,
        unset: 'destroy',
        proxy: true,
        cookie: { expires: new Date(), maxAge: 60 },
      }),
    );
    expect(about(error, 'name')).toEqual([expect.stringMatching(/^name is an express-session option: use cookie: \{ name \}/)]);
    for (const option of ['resave', 'saveUninitialized']) {
      expect(about(error, option)).toEqual([
        `${option} is an express-session option: not needed: sessions are created by their first write and written only when changed`,
      ]);
    }
    expect(about(error, 'rolling')).toEqual([expect.stringMatching(/use cookie.maxAge \(seconds\): a persistent cookie is re-sent/)]);
    expect(about(error, 'unset')).toEqual([expect.stringMatching(/req.session.destroy\(\) ends the session/)]);
    expect(about(error, 'proxy')).toEqual([expect.stringMatching(/use cookie.secure: 'auto' with Express's `trust proxy`/)]);
    expect(about(error, 'cookie.expires')).toEqual([expect.stringMatching(/use cookie.maxAge \(whole seconds\)/)]);
    expect(error.violations).toHaveLength(7);
  });

  it("accepts genid, expressSessionCompat and cookie.secure 'auto'", () => {
    expect(() => build({ genid: () => 'x'.repeat(20), expressSessionCompat: false, cookie: { secure: 'auto' } })).not.toThrow();
  });

  it('rejects a genid that is not a function, and another cookie.secure', () => {
    const error = configurationErrorOf(() => build({ genid: 'abc', expressSessionCompat: 'yes', cookie: { secure: 'always' } }));
    expect(about(error, 'genid')).toEqual(['genid must be a function']);
    expect(about(error, 'expressSessionCompat')).toHaveLength(1);
    expect(about(error, 'cookie.secure')).toEqual(["cookie.secure must be true, false or 'auto'"]);
  });

  it('warns when cookie.maxAge looks like milliseconds (over 400 days)', () => {
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      build({ cookie: { maxAge: 30 * 24 * 3600 } });
      expect(warn.mock.calls.filter((call) => (call[1] as { code?: string })?.code === 'ESM_COOKIE_MAX_AGE')).toHaveLength(0);
      build({ cookie: { maxAge: 30 * 24 * 3600 * 1000 } });
      const said = warn.mock.calls.filter((call) => (call[1] as { code?: string })?.code === 'ESM_COOKIE_MAX_AGE');
      expect(said).toHaveLength(1);
      expect(String(said[0][0])).toMatch(/cookie.maxAge 2592000000 s is over 400 days .* milliseconds in express-session/);
    } finally {
      warn.mockRestore();
    }
  });
});
