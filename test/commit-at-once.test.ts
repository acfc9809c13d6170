/**
 * The in-process request path answered at once (docs/architecture.md, "The
 * request path"): with our MemoryStore and coordinator, a read, a write and
 * a new session are loaded and committed without waiting, so `res.end`
 * ends the response when it is called; with a store that answers later,
 * or a commit of the same session in flight, the response waits for the
 * commit as before. Either way the store holds what the request did.
 */
import session from 'express-session';
import type { Express } from 'express';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { countCalls } from './support/instrumented-store';
import { cookieFor, createTestApp, gate, sessionIdFrom, type Gate, type TestApp, type TestAppOptions } from './support/test-app';

/** Whether the last response's `res.end()` had ended it by the time it returned. */
interface EndSeen {
  endedAtOnce: boolean | undefined;
}

function routes(app: Express, seen: EndSeen, reached: Gate, release: Gate): void {
  const end = (res: import('express').Response, body: string): void => {
    res.end(body);
    seen.endedAtOnce = res.writableEnded;
  };
  app.post('/new', (req, res) => {
    req.getSession()!.setAttribute('cart', ['apple']);
    end(res, 'new');
  });
  app.get('/read', (req, res) => {
    const cart = req.httpSession.getAttribute<string[]>('cart');
    const later = req.httpSession.getAttribute<string>('later');
    end(res, JSON.stringify(later === undefined ? (cart ?? null) : { cart, later }));
  });
  app.post('/add', (req, res) => {
    const cart = req.httpSession.getAttribute<string[]>('cart') ?? [];
    cart.push(String(req.query.item)); // in place: noticed at commit
    end(res, 'added');
  });
  app.post('/add-later', async (req, res) => {
    reached.open();
    await release.promise;
    req.httpSession.setAttribute('later', String(req.query.item));
    end(res, 'added later');
  });
  app.post('/invalidate', (req, res) => {
    req.httpSession.invalidate();
    end(res, 'gone');
  });
}

async function start(flavour: () => Express, options: TestAppOptions, seen: EndSeen, reached = gate(), release = gate()): Promise<TestApp> {
  return createTestApp(flavour, options, (app) => routes(app, seen, reached, release));
}

describe.each(EXPRESS_FLAVOURS)('the in-process request path on %s', (_name, flavour) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  test('a new session, a read and an in-place change end the response at once, and are stored', async () => {
    const seen: EndSeen = { endedAtOnce: undefined };
    t = await start(flavour, {}, seen);
    const created = await t.http().post('/new').expect(200);
    expect(seen.endedAtOnce).toBe(true);
    const id = sessionIdFrom(created)!;
    expect(await t.store.get(id)).toBeDefined();

    await t.http().post('/add?item=pear').set('Cookie', cookieFor(id)).expect(200);
    expect(seen.endedAtOnce).toBe(true);
    const read = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
    expect(seen.endedAtOnce).toBe(true);
    expect(JSON.parse(read.text)).toEqual(['apple', 'pear']);
    // The leave happened: nobody uses the session, and its deadline is set.
    const entry = await t.peek(id);
    expect(entry?.active).toBe(0);
    expect(entry?.deadline).toBe(t.clock.now() + 30 * 60 * 1000);
  });

  test('with a store that answers later, the response waits for the commit, which is stored', async () => {
    const seen: EndSeen = { endedAtOnce: undefined };
    const store = new session.MemoryStore(); // express-session's: called through its callbacks
    t = await start(flavour, { manager: { store } }, seen);
    const id = sessionIdFrom(await t.http().post('/new').expect(200))!;
    expect(seen.endedAtOnce).toBe(false);
    await t.http().post('/add?item=fig').set('Cookie', cookieFor(id)).expect(200);
    expect(seen.endedAtOnce).toBe(false);
    expect(JSON.parse((await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200)).text)).toEqual(['apple', 'fig']);
  });

  test('our MemoryStore with replaced methods is called as any store is', async () => {
    const seen: EndSeen = { endedAtOnce: undefined };
    t = await start(flavour, {}, seen);
    const calls = countCalls(t.manager.store);
    const id = sessionIdFrom(await t.http().post('/new').expect(200))!;
    expect(seen.endedAtOnce).toBe(false);
    expect(calls.set).toBe(1);
    await t.http().post('/add?item=plum').set('Cookie', cookieFor(id)).expect(200);
    expect(calls.set).toBe(2);
  });

  test('writes of one session by requests that overlap are both kept', async () => {
    const seen: EndSeen = { endedAtOnce: undefined };
    const reached = gate();
    const release = gate();
    t = await start(flavour, {}, seen, reached, release);
    const id = sessionIdFrom(await t.http().post('/new').expect(200))!;
    const later = t.http().post('/add-later?item=kiwi').set('Cookie', cookieFor(id)).then((r) => r);
    await reached.promise;
    await t.http().post('/add?item=lime').set('Cookie', cookieFor(id)).expect(200);
    release.open();
    await later;
    const read = await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200);
    expect(JSON.parse(read.text)).toEqual({ cart: ['apple', 'lime'], later: 'kiwi' });
  });

  test('a write on a session another request invalidated meanwhile does not bring it back', async () => {
    const seen: EndSeen = { endedAtOnce: undefined };
    const reached = gate();
    const release = gate();
    const destroyed: string[] = [];
    t = await start(flavour, {}, seen, reached, release);
    t.manager.on('sessionDestroyed', (event) => destroyed.push(event.id));
    const id = sessionIdFrom(await t.http().post('/new').expect(200))!;
    const later = t.http().post('/add-later?item=kiwi').set('Cookie', cookieFor(id)).then((r) => r);
    await reached.promise;
    await t.http().post('/invalidate').set('Cookie', cookieFor(id)).expect(200);
    release.open();
    expect((await later).status).toBe(200);
    expect(seen.endedAtOnce).toBe(true);
    expect(await t.store.get(id)).toBeUndefined();
    expect(JSON.parse((await t.http().get('/read').set('Cookie', cookieFor(id)).expect(200)).text)).toBeNull();
    expect(destroyed).toEqual([id]);
  });
});
