/**
 * Events (docs/architecture.md, "Events") as a request causes them (reaper expiry aside):
 * creation, invalidation and expiry found by a request, attribute changes,
 * id changes, value binding, failing listeners; and what `setAttribute`
 * accepts.
 */
import type { Express } from 'express';
import type { SessionManagerEvents } from '../lib';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { cookieFor, createTestApp, sessionIdFrom, type TestApp, type TestAppOptions } from './support/test-app';

type EventName = keyof SessionManagerEvents;

/** An event as a listener saw it. */
interface Seen {
  event: EventName;
  payload: Record<string, unknown>;
}

const SESSION_EVENTS: EventName[] = [
  'sessionCreated',
  'sessionDestroyed',
  'attributeAdded',
  'attributeReplaced',
  'attributeRemoved',
  'sessionIdChanged',
];

/** A value that tells `log` when it is bound and unbound. */
function bindingListener(label: string, log: string[]): Record<string, unknown> {
  return {
    label,
    valueBound: (e: { name: string }) => log.push(`bound ${label} as ${e.name}`),
    valueUnbound: (e: { name: string }) => log.push(`unbound ${label} from ${e.name}`),
  };
}

/** Calls `fn` and reports the name of the error it throws, or 'none'. */
function thrownName(fn: () => unknown): string {
  try {
    fn();
    return 'none';
  } catch (error) {
    return error instanceof Error ? error.constructor.name : 'non-error';
  }
}

describe.each(EXPRESS_FLAVOURS)('events on %s', (_name, flavour) => {
  let t: TestApp;
  /** Handler steps and events, in the order they happened. */
  let log: string[];
  /** Every session event with its payload. */
  let seen: Seen[];

  afterEach(async () => {
    await t?.close();
  });

  /** Builds the app, records every session event in `log` and `seen`, then adds `routes`. */
  async function start(routes: (app: Express) => void, options: TestAppOptions = {}): Promise<TestApp> {
    log = [];
    seen = [];
    t = await createTestApp(flavour, options, (app, { manager }) => {
      for (const event of SESSION_EVENTS) {
        manager.on(event, (payload) => {
          const p = payload as unknown as Record<string, unknown>;
          seen.push({ event, payload: p });
          log.push(typeof p.name === 'string' ? `${event} ${p.name}` : event);
        });
      }
      app.post('/set', (req, res) => {
        for (const [name, value] of Object.entries(req.query)) req.httpSession.setAttribute(name, value);
        res.json({ id: req.httpSession.getId() });
      });
      app.get('/read', (req, res) => {
        const s = req.httpSession;
        const attributes = Object.fromEntries(s.getAttributeNames().map((n) => [n, s.getAttribute(n)]));
        res.json({ id: s.getId(), valid: req.isRequestedSessionIdValid(), attributes });
      });
      routes(app);
    });
    return t;
  }

  /** Creates a session holding `attributes` (string values) and returns its id. */
  async function createSession(attributes: Record<string, string>): Promise<string> {
    const res = await t.http().post('/set').query(attributes).expect(200);
    return sessionIdFrom(res)!;
  }

  /** Forgets what was logged so far. */
  function clearLog(): void {
    log.length = 0;
    seen.length = 0;
  }

  describe('sessionCreated', () => {
    it('fires once, inside the first write that creates the session', async () => {
      await start((app) => {
        app.post('/create', (req, res) => {
          log.push('before');
          req.httpSession.setAttribute('a', 1);
          log.push('after first write');
          req.httpSession.setAttribute('b', 2);
          req.getSession();
          log.push('after');
          res.json({ id: req.httpSession.getId() });
        });
      });
      const res = await t.http().post('/create').expect(200);
      expect(log).toEqual([
        'before',
        'sessionCreated',
        'attributeAdded a',
        'after first write',
        'attributeAdded b',
        'after',
      ]);
      const created = seen.find((s) => s.event === 'sessionCreated')!.payload;
      expect(created).toMatchObject({ id: res.body.id, app: 'default' });
      expect(created.subsession).toBeUndefined();
      expect((created.session as { getId(): string }).getId()).toBe(res.body.id);
    });

    it('fires inside an explicit getSession(), and not again on later requests', async () => {
      await start((app) => {
        app.post('/create', (req, res) => {
          log.push('before');
          req.getSession();
          log.push('after');
          req.getSession();
          res.json({ id: req.httpSession.getId() });
        });
      });
      const res = await t.http().post('/create').expect(200);
      expect(log).toEqual(['before', 'sessionCreated', 'after']);
      const id = sessionIdFrom(res)!;
      await t.http().post('/create').set('Cookie', cookieFor(id)).expect(200);
      await t.http().post('/set?x=1').set('Cookie', cookieFor(id)).expect(200);
      expect(seen.filter((s) => s.event === 'sessionCreated')).toHaveLength(1);
    });

    it('does not fire for requests that only read', async () => {
      await start(() => undefined);
      await t.http().get('/read').expect(200);
      expect(seen).toEqual([]);
    });
  });

  describe('sessionDestroyed on invalidate()', () => {
    it('fires inside the call with reason invalidated, then attributeRemoved for each attribute', async () => {
      await start((app) => {
        app.post('/logout', (req, res) => {
          log.push('before');
          req.httpSession.invalidate();
          log.push('after');
          res.sendStatus(204);
        });
      });
      const created = t.clock.now();
      const id = await createSession({ a: '1', b: 'two' });
      t.clock.advanceSeconds(10);
      clearLog();
      await t.http().post('/logout').set('Cookie', cookieFor(id)).expect(204);
      expect(log).toEqual(['before', 'sessionDestroyed', 'attributeRemoved a', 'attributeRemoved b', 'after']);
      expect(seen[0].payload).toEqual({
        id,
        app: 'default',
        reason: 'invalidated',
        attributes: { a: '1', b: 'two' },
        creationTime: created,
        lastAccessedTime: created,
      });
      expect(seen[1].payload).toMatchObject({ id, app: 'default', name: 'a', value: '1' });
      expect(seen[2].payload).toMatchObject({ id, app: 'default', name: 'b', value: 'two' });
    });

    it('does not fire for a pending session that was never created', async () => {
      await start((app) => {
        app.post('/logout', (req, res) => {
          req.httpSession.invalidate();
          res.sendStatus(204);
        });
      });
      await t.http().post('/logout').expect(204);
      expect(seen).toEqual([]);
    });
  });

  describe('sessionDestroyed on expiry found by a request', () => {
    it('fires once with reason expired and the last state, then attributeRemoved for each attribute', async () => {
      await start(() => undefined, { manager: { invalidationTimeout: 60 } });
      const created = t.clock.now();
      const id = await createSession({ a: '1', b: 'two' });
      t.clock.advanceSeconds(30);
      const lastAccess = t.clock.now();
      await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      t.clock.advanceSeconds(61);
      clearLog();

      const res = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      expect(res.body.valid).toBe(false);
      expect(log).toEqual(['sessionDestroyed', 'attributeRemoved a', 'attributeRemoved b']);
      expect(seen[0].payload).toEqual({
        id,
        app: 'default',
        reason: 'expired',
        attributes: { a: '1', b: 'two' },
        creationTime: created,
        lastAccessedTime: lastAccess,
      });
      expect(seen[1].payload).toEqual({ id, app: 'default', name: 'a', value: '1' });
      expect(seen[2].payload).toEqual({ id, app: 'default', name: 'b', value: 'two' });

      // Two more requests with the same expired cookie: nothing more.
      await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      await t.http().post('/set?c=3').set('Cookie', cookieFor(id)).expect(200);
      expect(seen.filter((s) => s.event === 'sessionDestroyed')).toHaveLength(1);
      expect(t.manager.stats().sessions.expired).toBe(1);
    });
  });

  describe('attributeAdded, attributeReplaced, attributeRemoved', () => {
    it('fire inside setAttribute and removeAttribute with the old value on replacement', async () => {
      await start((app) => {
        app.post('/change', (req, res) => {
          const s = req.httpSession;
          log.push('set 1');
          s.setAttribute('color', 'red');
          log.push('set 2');
          s.setAttribute('color', 'blue');
          log.push('remove');
          s.removeAttribute('color');
          log.push('remove absent');
          s.removeAttribute('color');
          log.push('set null');
          s.setAttribute('size', 1);
          s.setAttribute('size', null);
          log.push('end');
          res.json({ id: s.getId() });
        });
      });
      const res = await t.http().post('/change').expect(200);
      expect(log).toEqual([
        'set 1',
        'sessionCreated',
        'attributeAdded color',
        'set 2',
        'attributeReplaced color',
        'remove',
        'attributeRemoved color',
        'remove absent',
        'set null',
        'attributeAdded size',
        'attributeRemoved size',
        'end',
      ]);
      const [, added, replaced, removed] = seen.map((s) => s.payload);
      const id = res.body.id as string;
      expect(added).toMatchObject({ id, app: 'default', name: 'color', value: 'red' });
      expect(replaced).toMatchObject({ id, app: 'default', name: 'color', value: 'red', newValue: 'blue' });
      expect(removed).toMatchObject({ id, app: 'default', name: 'color', value: 'blue' });
      expect((added.session as { getId(): string }).getId()).toBe(id);
    });

    it('replace across requests reports the stored value as the old one', async () => {
      await start(() => undefined);
      const id = await createSession({ n: 'first' });
      clearLog();
      await t.http().post('/set?n=second').set('Cookie', cookieFor(id)).expect(200);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ event: 'attributeReplaced', payload: { name: 'n', value: 'first', newValue: 'second' } });
    });
  });

  describe('sessionIdChanged', () => {
    it('fires inside changeSessionId() with the old id and the new one as id', async () => {
      await start((app) => {
        app.post('/login', (req, res) => {
          log.push('before');
          const id = req.changeSessionId();
          log.push('after');
          res.json({ id });
        });
      });
      const oldId = await createSession({ a: '1' });
      clearLog();
      const res = await t.http().post('/login').set('Cookie', cookieFor(oldId)).expect(200);
      expect(log).toEqual(['before', 'sessionIdChanged', 'after']);
      expect(seen[0].payload).toMatchObject({ id: res.body.id, oldId, app: 'default' });
      expect(res.body.id).not.toBe(oldId);
      expect((seen[0].payload.session as { getId(): string }).getId()).toBe(res.body.id);
    });
  });

  describe('valueBound and valueUnbound', () => {
    it('are called on set, on replace and remove, and on invalidate', async () => {
      await start((app) => {
        app.post('/bind', (req, res) => {
          const s = req.httpSession;
          log.push('set v1');
          s.setAttribute('x', bindingListener('v1', log));
          log.push('replace by v2');
          s.setAttribute('x', bindingListener('v2', log));
          log.push('remove');
          s.removeAttribute('x');
          log.push('set v3');
          s.setAttribute('y', bindingListener('v3', log));
          log.push('invalidate');
          s.invalidate();
          res.sendStatus(204);
        });
      });
      await t.http().post('/bind').expect(204);
      const binding = log.filter((line) => !/^(session|attribute)/.test(line));
      expect(binding).toEqual([
        'set v1',
        'bound v1 as x',
        'replace by v2',
        'bound v2 as x',
        'unbound v1 from x',
        'remove',
        'unbound v2 from x',
        'set v3',
        'bound v3 as y',
        'invalidate',
        'unbound v3 from y',
      ]);
      // Unbinding on invalidate comes after sessionDestroyed.
      expect(log.indexOf('unbound v3 from y')).toBeGreaterThan(log.indexOf('sessionDestroyed'));
    });

    it('are not stored: the next request gets the JSON data only', async () => {
      await start((app) => {
        app.post('/bind', (req, res) => {
          req.httpSession.setAttribute('x', bindingListener('v1', log));
          res.json({ id: req.httpSession.getId() });
        });
      });
      const id = (await t.http().post('/bind').expect(200)).body.id as string;
      const res = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      expect(res.body.attributes).toEqual({ x: { label: 'v1' } });
    });
  });

  describe('listenerError', () => {
    it('reports a throwing and a rejecting listener; the request succeeds and its change is stored', async () => {
      const errors: { event: string; message: string; id: string }[] = [];
      await start(() => undefined);
      const boom = new Error('sync boom');
      t.manager.on('sessionCreated', () => {
        throw boom;
      });
      t.manager.on('attributeAdded', async () => {
        await Promise.resolve();
        throw new Error('async boom');
      });
      let laterListenerRan = false;
      t.manager.on('sessionCreated', () => {
        laterListenerRan = true;
      });
      t.manager.on('listenerError', (e) => {
        errors.push({ event: e.event, message: (e.error as Error).message, id: e.id });
      });

      const res = await t.http().post('/set?cart=full').expect(200);
      const id = sessionIdFrom(res)!;
      expect(id).toBe(res.body.id);
      expect(laterListenerRan).toBe(true);
      expect(errors).toEqual([
        { event: 'sessionCreated', message: 'sync boom', id },
        { event: 'attributeAdded', message: 'async boom', id },
      ]);
      const record = await t.store.get(id);
      expect(record).toBeTruthy();
      const next = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      expect(next.body.attributes).toEqual({ cart: 'full' });
    });

    it('reports a throwing valueBound as a listenerError of valueBound', async () => {
      const errors: string[] = [];
      await start((app) => {
        app.post('/bind', (req, res) => {
          req.httpSession.setAttribute('x', {
            valueBound: () => {
              throw new Error('bound boom');
            },
          });
          res.sendStatus(204);
        });
      });
      t.manager.on('listenerError', (e) => {
        errors.push(`${e.event}: ${(e.error as Error).message}`);
      });
      await t.http().post('/bind').expect(204);
      expect(errors).toEqual(['valueBound: bound boom']);
    });
  });

  describe('HttpSession.setAttribute()', () => {
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    const unstorable: [string, () => unknown][] = [
      ['a function', () => () => 1],
      ['a symbol', () => Symbol('s')],
      ['a BigInt', () => BigInt(1)],
      ['a cycle', () => cycle],
      ['a Map', () => new Map([['k', 1]])],
      ['a Set', () => new Set([1])],
      ['an object holding a function', () => ({ nested: { f: () => 1 } })],
    ];

    it.each(unstorable)('throws TypeError for %s and stores nothing', async (_what, make) => {
      await start((app) => {
        app.post('/bad', (req, res) => {
          res.json({ thrown: thrownName(() => req.httpSession.setAttribute('bad', make())) });
        });
      });
      const res = await t.http().post('/bad').expect(200);
      expect(res.body.thrown).toBe('TypeError');
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(await t.store.length!()).toBe(0);
      expect(seen).toEqual([]);
    });

    it('leaves an existing session unchanged when the value is refused', async () => {
      await start((app) => {
        app.post('/bad', (req, res) => {
          res.json({ thrown: thrownName(() => req.httpSession.setAttribute('a', () => 1)) });
        });
      });
      const id = await createSession({ a: 'kept' });
      clearLog();
      const res = await t.http().post('/bad').set('Cookie', cookieFor(id)).expect(200);
      expect(res.body.thrown).toBe('TypeError');
      const next = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
      expect(next.body.attributes).toEqual({ a: 'kept' });
      expect(seen).toEqual([]);
    });

    it.each(['__proto__', 'constructor', 'prototype'])('throws TypeError for the name %s', async (name) => {
      await start((app) => {
        app.post('/bad-name', (req, res) => {
          res.json({ thrown: thrownName(() => req.httpSession.setAttribute(name, 1)) });
        });
      });
      const res = await t.http().post('/bad-name').expect(200);
      expect(res.body.thrown).toBe('TypeError');
      expect(await t.store.length!()).toBe(0);
    });

    it('stores a Date as JSON: the next request gets its ISO string', async () => {
      const when = new Date('2024-05-06T07:08:09.010Z');
      await start((app) => {
        app.post('/date', (req, res) => {
          req.httpSession.setAttribute('when', when);
          res.json({ id: req.httpSession.getId(), sameRequest: req.httpSession.getAttribute('when') === when });
        });
      });
      const created = await t.http().post('/date').expect(200);
      expect(created.body.sameRequest).toBe(true);
      const next = await t.http().get('/read').set('Cookie', cookieFor(created.body.id)).expect(200);
      expect(next.body.attributes).toEqual({ when: '2024-05-06T07:08:09.010Z' });
    });
  });
});
