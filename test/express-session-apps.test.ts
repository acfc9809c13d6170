/**
 * Apps written for express-session, run unchanged on `req.session`
 * (docs/architecture.md, "express-session compatibility"): passport 0.7 with
 * passport-local, connect-flash, csrf-sync with its defaults, and the
 * examples of express-session's README — on Express 4 and 5, with the real
 * packages.
 */
import flash from 'connect-flash';
import { csrfSync } from 'csrf-sync';
import express5, { type Express, type NextFunction, type Request, type Response } from 'express';
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import request from 'supertest';
import { EXPRESS_FLAVOURS } from './support/express-flavours';
import { setCookieLine } from './support/cookies';
import { createTestApp, sessionIdFrom, type TestApp } from './support/test-app';

declare module 'express-session' {
  interface SessionData {
    cart: string[];
    views: number;
    visitor: string;
  }
}

/** The users passport-local knows: name → password. */
const USERS: Record<string, string> = { alice: 'wonderland', bob: 'builder' };

/** A passport of its own (not the process-wide singleton), with passport-local over {@link USERS}. */
function makePassport(): InstanceType<typeof Passport> {
  const auth = new Passport();
  auth.use(
    new LocalStrategy((username, password, done) => {
      done(null, USERS[username] === password ? { name: username } : false);
    }),
  );
  auth.serializeUser((user, done) => done(null, (user as { name: string }).name));
  auth.deserializeUser((name: string, done) => done(null, { name }));
  return auth;
}

/** Answers errors with their status (csrf-sync's 403) and message as JSON. */
function jsonErrors(app: Express): void {
  app.use((err: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.status ?? 500).json({ error: err.message });
  });
}

/** The session ids the store holds (default app: the key is the id). */
async function storedIds(t: TestApp): Promise<string[]> {
  return Object.keys(await t.store.all!());
}

describe.each(EXPRESS_FLAVOURS)('express-session apps on %s', (_name, flavour) => {
  let t: TestApp;

  afterEach(async () => {
    await t?.close();
  });

  describe('passport 0.7 + passport-local', () => {
    beforeEach(async () => {
      t = await createTestApp(flavour, {}, (app) => {
        const auth = makePassport();
        app.use(express5.urlencoded({ extended: false }));
        app.use(auth.session());
        app.post('/login', auth.authenticate('local'), (req, res) => res.json({ user: req.user, id: req.sessionID }));
        app.post('/login-keep', auth.authenticate('local', { keepSessionInfo: true }), (req, res) =>
          res.json({ user: req.user, id: req.sessionID }),
        );
        app.get('/me', (req, res) => res.json({ user: req.user ?? null, authenticated: req.isAuthenticated() }));
        app.post('/cart', (req, res) => {
          req.session.cart = ['book'];
          res.json({ id: req.sessionID });
        });
        app.get('/cart', (req, res) => res.json({ cart: req.session.cart ?? null }));
        app.post('/logout', (req, res, next) => {
          req.logout((err) => (err ? next(err) : res.json({ loggedOut: true })));
        });
        jsonErrors(app);
      });
    });

    it('logs in with the form, changes the id, and a later request is authenticated', async () => {
      const agent = request.agent(t.server);
      const anonymous = await agent.get('/me').expect(200);
      expect(anonymous.body).toEqual({ user: null, authenticated: false });
      expect(sessionIdFrom(anonymous)).toBeUndefined(); // passport.session() reading creates nothing

      const before = await agent.post('/cart').expect(200);
      const firstId = sessionIdFrom(before)!;
      const login = await agent.post('/login').type('form').send({ username: 'alice', password: 'wonderland' }).expect(200);
      expect(login.body.user).toEqual({ name: 'alice' });
      const loggedInId = sessionIdFrom(login)!;
      expect(loggedInId).toBeDefined();
      expect(loggedInId).not.toBe(firstId);
      expect(login.body.id).toBe(loggedInId);

      const me = await agent.get('/me').expect(200);
      expect(me.body).toEqual({ user: { name: 'alice' }, authenticated: true });
      // Without keepSessionInfo the data of the anonymous session stays behind, and its id names nothing.
      expect((await agent.get('/cart').expect(200)).body.cart).toBeNull();
      expect(await storedIds(t)).toEqual([loggedInId]);
      const old = await request(t.server).get('/me').set('Cookie', `JSESSIONID=${firstId}`).expect(200);
      expect(old.body.authenticated).toBe(false);
    });

    it('keeps the data set before login with keepSessionInfo: true', async () => {
      const agent = request.agent(t.server);
      const firstId = sessionIdFrom(await agent.post('/cart').expect(200))!;
      const login = await agent.post('/login-keep').type('form').send({ username: 'bob', password: 'builder' }).expect(200);
      expect(sessionIdFrom(login)).not.toBe(firstId);
      expect((await agent.get('/cart').expect(200)).body.cart).toEqual(['book']);
      expect((await agent.get('/me').expect(200)).body.user).toEqual({ name: 'bob' });
    });

    it('refuses a wrong password with 401 and creates no session', async () => {
      const res = await request(t.server).post('/login').type('form').send({ username: 'alice', password: 'nope' }).expect(401);
      expect(sessionIdFrom(res)).toBeUndefined();
      expect(await storedIds(t)).toEqual([]);
    });

    it('req.logout(cb) ends the session and clears the cookie', async () => {
      const agent = request.agent(t.server);
      const login = await agent.post('/login').type('form').send({ username: 'alice', password: 'wonderland' }).expect(200);
      const id = sessionIdFrom(login)!;
      const logout = await agent.post('/logout').expect(200);
      expect(logout.body).toEqual({ loggedOut: true });
      expect(setCookieLine(logout)).toMatch(/^JSESSIONID=;.*Expires=Thu, 01 Jan 1970/);
      expect(await storedIds(t)).toEqual([]);
      const after = await request(t.server).get('/me').set('Cookie', `JSESSIONID=${id}`).expect(200);
      expect(after.body.authenticated).toBe(false);
    });
  });

  describe('connect-flash', () => {
    beforeEach(async () => {
      t = await createTestApp(flavour, {}, (app) => {
        app.use(flash());
        app.post('/saved', (req, res) => {
          req.flash('info', 'Saved.');
          res.json({});
        });
        app.get('/page', (req, res) => res.json({ info: req.flash('info') }));
      });
    });

    it('shows a message once', async () => {
      const agent = request.agent(t.server);
      await agent.post('/saved').expect(200);
      expect((await agent.get('/page').expect(200)).body.info).toEqual(['Saved.']);
      expect((await agent.get('/page').expect(200)).body.info).toEqual([]);
    });
  });

  describe('csrf-sync with its defaults', () => {
    beforeEach(async () => {
      t = await createTestApp(flavour, {}, (app) => {
        const { csrfSynchronisedProtection, generateToken } = csrfSync();
        app.get('/form', (req, res) => res.json({ token: generateToken(req) }));
        app.post('/transfer', csrfSynchronisedProtection, (_req, res) => res.json({ done: true }));
        jsonErrors(app);
      });
    });

    it('answers 403 to a POST without the token, session or not', async () => {
      await request(t.server).post('/transfer').expect(403);
      const agent = request.agent(t.server);
      await agent.get('/form').expect(200);
      await agent.post('/transfer').expect(403);
      await agent.post('/transfer').set('x-csrf-token', 'forged').expect(403);
    });

    it('answers 200 with the token of the session', async () => {
      const agent = request.agent(t.server);
      const { token } = (await agent.get('/form').expect(200)).body as { token: string };
      expect((await agent.post('/transfer').set('x-csrf-token', token).expect(200)).body).toEqual({ done: true });
    });
  });

  describe("express-session's README examples", () => {
    beforeEach(async () => {
      t = await createTestApp(flavour, {}, (app) => {
        app.get('/views', (req, res) => {
          if (req.session.views) {
            req.session.views++;
          } else {
            req.session.views = 1;
          }
          res.json({ views: req.session.views, maxAge: req.session.cookie.maxAge });
        });
        app.post('/login', (req, res, next) => {
          req.session.regenerate((err) => {
            if (err) return next(err);
            req.session.visitor = 'alice';
            req.session.save((err2) => {
              if (err2) return next(err2);
              req.session.visitor = 'changed, then reloaded';
              req.session.reload((err3) => {
                if (err3) return next(err3);
                res.json({ user: req.session.visitor, id: req.sessionID });
              });
            });
          });
        });
        app.get('/user', (req, res) => res.json({ user: req.session.visitor ?? null }));
        app.post('/remember', (req, res) => {
          req.session.visitor = 'alice';
          req.session.cookie.maxAge = 30 * 24 * 3600 * 1000;
          res.json({ timeout: req.httpSession.getMaxInactiveInterval(), maxAge: req.session.cookie.maxAge });
        });
        app.post('/logout', (req, res, next) => {
          req.session.destroy((err) => {
            if (err) return next(err);
            res.json({ session: req.session === undefined ? 'undefined' : 'still there' });
          });
        });
        jsonErrors(app);
      });
    });

    it('counts views', async () => {
      const agent = request.agent(t.server);
      expect((await agent.get('/views').expect(200)).body).toEqual({ views: 1, maxAge: null });
      expect((await agent.get('/views').expect(200)).body.views).toBe(2);
      expect((await agent.get('/views').expect(200)).body.views).toBe(3);
    });

    it('regenerate, save and reload call back, and what save wrote is what reload reads', async () => {
      const agent = request.agent(t.server);
      const login = await agent.post('/login').expect(200);
      expect(login.body.user).toBe('alice');
      expect(sessionIdFrom(login)).toBe(login.body.id);
      expect((await agent.get('/user').expect(200)).body.user).toBe('alice');
    });

    it('destroy calls back, and req.session is undefined afterwards', async () => {
      const agent = request.agent(t.server);
      await agent.post('/login').expect(200);
      const res = await agent.post('/logout').expect(200);
      expect(res.body.session).toBe('undefined');
      expect(setCookieLine(res)).toMatch(/Expires=Thu, 01 Jan 1970/);
      expect((await agent.get('/user').expect(200)).body.user).toBeNull();
      expect(await storedIds(t)).toEqual([]);
    });

    it('remembers me: cookie.maxAge gives a persistent cookie and raises the idle timeout', async () => {
      const res = await request(t.server).post('/remember').expect(200);
      expect(setCookieLine(res)).toMatch(/; Max-Age=2592000;/);
      expect(res.body.timeout).toBe(2592000);
      expect(res.body.maxAge).toBe(30 * 24 * 3600 * 1000);
      const id = sessionIdFrom(res)!;
      // Remembered across requests: the record keeps the session's own lifetime.
      const later = await request(t.server).get('/views').set('Cookie', `JSESSIONID=${id}`).expect(200);
      expect(later.body.maxAge).toBe(30 * 24 * 3600 * 1000);
    });
  });
});
